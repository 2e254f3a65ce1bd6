"""The upstream Kubernetes NetworkPolicy e2e cases, restated for this lab.

Source: test/e2e/network/netpol/network_policy.go in kubernetes/kubernetes.
Each entry below is one upstream case: the policies it creates (in our own
builder terms) and the reachability it expects, written out over the full
3x3 pod model (upstream uses a subset of pods per case; the rules it states
extend to the other pods unchanged). Every case probes both IPv4 and IPv6;
ipBlock cases carry one block per family so the expectation is the same for
both. Cases that change policies or labels mid-test have one phase per step.
Some cases probe an extra port/protocol the upstream case leaves out, where
the policy clearly decides it too.

Not here (see docs/lab.md): the three SCTP-traffic cases (no SCTP sockets
in this kernel) and the API-validation cases of network_policy_api.go.
"""

from __future__ import annotations

import ipaddress

from .model import ip_block, match, match_expr, netpol, peer, pod_ip, port, rule
from .reach import Check, allow_all
from .runner import Case, Phase

NSNAME = "kubernetes.io/metadata.name"


def tcp(p: int, expect) -> Check:
    return Check("TCP", p, expect)


def udp(p: int, expect) -> Check:
    return Check("UDP", p, expect)


def _host_blocks(pod: str) -> list[dict]:
    """ipBlocks matching exactly one pod, one per family."""
    return [ip_block(f"{pod_ip(pod, 4)}/32"), ip_block(f"{pod_ip(pod, 6)}/128")]


def _wide_blocks_except(pod: str) -> list[dict]:
    """The /4 around the pod's address, minus the pod itself, per family."""
    out = []
    for fam, host in ((4, 32), (6, 128)):
        ip = pod_ip(pod, fam)
        wide = ipaddress.ip_network(f"{ip}/4", strict=False)
        out.append(ip_block(str(wide), f"{ip}/{host}"))
    return out


def deny_ingress(ns: str = "x", name: str = "deny-ingress") -> dict:
    return netpol(name, ns, match(), ingress=[])


def cases() -> list[Case]:
    c: list[Case] = []

    def add(name: str, upstream: str, *phases: Phase) -> None:
        c.append(Case(name, list(phases), upstream=upstream))

    # --- "NetworkPolicy between server and client" (TCP) -------------------------

    # upstream: should support a 'default-deny-ingress' policy
    add("default-deny-ingress", "should support a 'default-deny-ingress' policy",
        Phase([tcp(80, allow_all().deny("*", "x/*"))], [deny_ingress()]))

    # upstream: should support a 'default-deny-all' policy
    add("default-deny-all", "should support a 'default-deny-all' policy",
        Phase([tcp(80, allow_all().deny("*", "x/*").deny("x/*", "*"))],
              [netpol("deny-all", "x", match(), ingress=[], egress=[])]))

    # upstream: should enforce policy to allow traffic from pods within server namespace based on PodSelector
    add("ingress-from-pod-in-same-namespace",
        "should enforce policy to allow traffic from pods within server namespace based on PodSelector",
        Phase([tcp(80, allow_all().deny("*", "x/a").allow("x/b", "x/a"))],
              [netpol("x-a-allows-x-b", "x", match(pod="a"), ingress=[rule([peer(pods=match(pod="b"))])])]))

    # upstream: should enforce policy to allow ingress traffic for a target
    add("ingress-allowed-for-one-target", "should enforce policy to allow ingress traffic for a target",
        Phase([tcp(80, allow_all().deny("*", "x/*").allow("*", "x/a"))],
              [netpol("deny-all", "x", match(), ingress=[]),
               netpol("allow-all-to-a", "x", match(pod="a"),
                      ingress=[rule([peer(pods=match(), namespaces=match())])])]))

    # upstream: should enforce policy to allow ingress traffic from pods in all namespaces
    add("ingress-from-all-namespaces",
        "should enforce policy to allow ingress traffic from pods in all namespaces",
        Phase([tcp(80, allow_all())],
              [netpol("allow-from-another-ns", "x", match(pod="a"),
                      ingress=[rule([peer(namespaces=match())])])]))

    # upstream: should enforce policy to allow traffic only from a different namespace, based on NamespaceSelector
    add("ingress-from-other-namespace-by-label",
        "should enforce policy to allow traffic only from a different namespace, based on NamespaceSelector",
        Phase([tcp(80, allow_all().deny(["x/*", "z/*"], "x/a"))],
              [netpol("allow-client-a-via-ns-selector", "x", match(pod="a"),
                      ingress=[rule([peer(namespaces=match(**{NSNAME: "y"}))])])]))

    # upstream: should enforce policy based on PodSelector with MatchExpressions
    add("pod-selector-match-expressions", "should enforce policy based on PodSelector with MatchExpressions",
        Phase([tcp(80, allow_all().deny("*", "x/a").allow("x/b", "x/a"))],
              [netpol("x-a-allows-x-b", "x", match(pod="a"),
                      ingress=[rule([peer(pods=match_expr("pod", "In", "b"))])])]))

    # upstream: should enforce policy based on NamespaceSelector with MatchExpressions
    add("namespace-selector-match-expressions",
        "should enforce policy based on NamespaceSelector with MatchExpressions",
        Phase([tcp(80, allow_all().deny(["x/*", "z/*"], "x/a"))],
              [netpol("allow-ns-y-match-selector", "x", match(pod="a"),
                      ingress=[rule([peer(namespaces=match_expr(NSNAME, "In", "y"))])])]))

    # upstream: should enforce policy based on PodSelector or NamespaceSelector
    add("pod-selector-or-namespace-selector", "should enforce policy based on PodSelector or NamespaceSelector",
        Phase([tcp(80, allow_all().deny("x/*", "x/a").allow("x/b", "x/a"))],
              [netpol("allow-ns-y-match-selector", "x", match(pod="a"),
                      ingress=[rule([peer(namespaces=match_expr(NSNAME, "NotIn", "x")),
                                     peer(pods=match(pod="b"))])])]))

    # upstream: should enforce policy based on PodSelector and NamespaceSelector
    add("pod-selector-and-namespace-selector", "should enforce policy based on PodSelector and NamespaceSelector",
        Phase([tcp(80, allow_all().deny("*", "x/a").allow(["y/b", "z/b"], "x/a"))],
              [netpol("allow-ns-y-podselector-and-nsselector", "x", match(pod="a"),
                      ingress=[rule([peer(pods=match(pod="b"),
                                          namespaces=match_expr(NSNAME, "NotIn", "x"))])])]))

    # upstream: should enforce policy based on Multiple PodSelectors and NamespaceSelectors
    add("multiple-pod-and-namespace-selectors",
        "should enforce policy based on Multiple PodSelectors and NamespaceSelectors",
        Phase([tcp(80, allow_all().deny("*", "x/a").allow(["y/b", "y/c", "z/b", "z/c"], "x/a"))],
              [netpol("allow-ns-y-z-pod-b-c", "x", match(pod="a"),
                      ingress=[rule([peer(pods=match_expr("pod", "In", "b", "c"),
                                          namespaces=match_expr(NSNAME, "NotIn", "x"))])])]))

    # upstream: should enforce policy based on any PodSelectors
    add("any-of-several-pod-selectors", "should enforce policy based on any PodSelectors",
        Phase([tcp(80, allow_all().deny("*", "x/a").allow(["x/b", "x/c"], "x/a"))],
              [netpol("allow-ns-x-pod-b-c", "x", match(pod="a"),
                      ingress=[rule([peer(pods=match(pod="b")), peer(pods=match(pod="c"))])])]))

    # upstream: should enforce policy to allow traffic only from a pod in a different namespace based on PodSelector and NamespaceSelector
    add("ingress-from-one-pod-in-other-namespace",
        "should enforce policy to allow traffic only from a pod in a different namespace based on "
        "PodSelector and NamespaceSelector",
        Phase([tcp(80, allow_all().deny("*", "x/a").allow("y/a", "x/a"))],
              [netpol("allow-ns-y-pod-a-via-namespace-pod-selector", "x", match(pod="a"),
                      ingress=[rule([peer(pods=match(pod="a"), namespaces=match(**{NSNAME: "y"}))])])]))

    # upstream: should enforce policy based on Ports
    only_y_to_xa = allow_all().deny(["x/*", "z/*"], "x/a")
    allow81_from_y = netpol("allow-client-a-via-ns-selector", "x", match(pod="a"),
                            ingress=[rule([peer(namespaces=match(**{NSNAME: "y"}))], [port(81, "TCP")])])
    add("ingress-on-one-port", "should enforce policy based on Ports",
        Phase([tcp(81, only_y_to_xa), tcp(80, allow_all().deny("*", "x/a"))], [allow81_from_y]))

    # upstream: should enforce multiple, stacked policies with overlapping podSelectors
    allow80_from_y = netpol("allow-client-a-via-ns-selector-80", "x", match(pod="a"),
                            ingress=[rule([peer(namespaces=match(**{NSNAME: "y"}))], [port(80, "TCP")])])
    add("stacked-policies-overlapping-selectors",
        "should enforce multiple, stacked policies with overlapping podSelectors",
        Phase([tcp(81, only_y_to_xa), tcp(80, allow_all().deny("*", "x/a"))], [allow81_from_y],
              title="port 81 open to y, port 80 closed"),
        Phase([tcp(81, only_y_to_xa), tcp(80, only_y_to_xa)], [allow81_from_y, allow80_from_y],
              title="a second policy opens port 80 to y"))

    # upstream: should support allow-all policy
    add("allow-all", "should support allow-all policy",
        Phase([tcp(80, allow_all()), tcp(81, allow_all())],
              [netpol("allow-all", "x", match(), ingress=[{}])]))

    # upstream: should allow ingress access on one named port
    add("ingress-on-named-port", "should allow ingress access on one named port",
        Phase([tcp(81, allow_all()), tcp(80, allow_all().deny("*", "x/*"))],
              [netpol("allow-all", "x", match(), ingress=[rule(ports=[port("serve-81-tcp")])])]))

    # upstream: should allow ingress access from namespace on one named port
    add("ingress-from-namespace-on-named-port", "should allow ingress access from namespace on one named port",
        Phase([tcp(80, allow_all().deny(["x/*", "z/*"], "x/a")), tcp(81, allow_all().deny("*", "x/a"))],
              [netpol("allow-client-a-via-ns-selector-80", "x", match(pod="a"),
                      ingress=[rule([peer(namespaces=match(**{NSNAME: "y"}))],
                                    [port("serve-80-tcp", "TCP")])])]))

    # upstream: should allow egress access on one named port
    add("egress-on-named-port", "should allow egress access on one named port",
        Phase([tcp(80, allow_all()), tcp(81, allow_all().deny("x/*", "*"))],
              [netpol("allow-egress", "x", match(), egress=[rule(ports=[port("serve-80-tcp")])])]))

    # upstream: should enforce updated policy
    add("updated-policy", "should enforce updated policy",
        Phase([tcp(81, allow_all())],
              [netpol("allow-all-mutate-to-deny-all", "x", match(), ingress=[{}])], title="allow all"),
        Phase([tcp(81, allow_all().deny("*", "x/*"))],
              [netpol("allow-all-mutate-to-deny-all", "x", match(), ingress=[])],
              title="same policy updated to deny all"))

    # upstream: should allow ingress access from updated namespace
    from_ns2 = netpol("allow-client-a-via-ns-selector", "x", match(pod="a"),
                      ingress=[rule([peer(namespaces=match(ns2="updated"))])])
    add("ingress-from-updated-namespace", "should allow ingress access from updated namespace",
        Phase([tcp(80, allow_all().deny("*", "x/a"))], [from_ns2], title="no namespace has ns2=updated"),
        Phase([tcp(80, allow_all().deny("*", "x/a").allow("y/*", "x/a"))], [from_ns2],
              ns_labels={"y": {"ns2": "updated"}}, title="namespace y labelled ns2=updated"))

    # upstream: should allow ingress access from updated pod
    from_pod2 = netpol("allow-client-a-via-pod-selector", "x", match(pod="a"),
                       ingress=[rule([peer(pods=match(pod="b", pod2="updated"))])])
    add("ingress-from-updated-pod", "should allow ingress access from updated pod",
        Phase([tcp(80, allow_all().deny("*", "x/a"))], [from_pod2], title="no pod has pod2=updated"),
        Phase([tcp(80, allow_all().deny("*", "x/a").allow("x/b", "x/a"))], [from_pod2],
              pod_labels={"x/b": {"pod2": "updated"}}, title="x/b labelled pod2=updated"))

    # upstream: should deny ingress from pods on other namespaces
    add("deny-ingress-from-other-namespaces", "should deny ingress from pods on other namespaces",
        Phase([tcp(80, allow_all().deny(["y/*", "z/*"], "x/*"))],
              [netpol("deny-empty-policy", "x", match(), ingress=[rule([peer(pods=match())])])]))

    # upstream: should deny ingress access to updated pod
    isolate = netpol("deny-ingress-via-label-selector", "x", match(target="isolated"), ingress=[])
    add("deny-ingress-to-updated-pod", "should deny ingress access to updated pod",
        Phase([tcp(80, allow_all())], [isolate], title="no pod has target=isolated"),
        Phase([tcp(80, allow_all().deny("*", "x/a"))], [isolate],
              pod_labels={"x/a": {"target": "isolated"}}, title="x/a labelled target=isolated"))

    # upstream: should deny egress from pods based on PodSelector
    add("deny-egress-of-one-pod", "should deny egress from pods based on PodSelector",
        Phase([tcp(80, allow_all().deny("x/a", "*"))],
              [netpol("deny-egress-pod-a", "x", match(pod="a"), egress=[])]))

    # upstream: should deny egress from all pods in a namespace
    add("deny-egress-of-namespace", "should deny egress from all pods in a namespace",
        Phase([tcp(80, allow_all().deny("x/*", "*"))],
              [netpol("deny-egress-ns-x", "x", match(), egress=[])]))

    # upstream: should work with Ingress, Egress specified together
    add("ingress-and-egress-together", "should work with Ingress, Egress specified together",
        Phase([tcp(80, allow_all().deny("*", "x/a").allow("x/b", "x/a")),
               tcp(81, allow_all().deny("*", "x/a").deny("x/a", "*").allow("x/b", "x/a"))],
              [netpol("allow-client-a-via-pod-selector", "x", match(pod="a"),
                      ingress=[rule([peer(pods=match(pod="b"))])],
                      egress=[rule(ports=[port(80)])], types=["Egress", "Ingress"])]))

    # upstream: should support denying of egress traffic on the client side (even if the server explicitly allows this traffic)
    from_xa = [rule([peer(pods=match(pod="a"), namespaces=match(**{NSNAME: "x"}))])]
    add("egress-denied-at-client-though-server-allows",
        "should support denying of egress traffic on the client side (even if the server explicitly "
        "allows this traffic)",
        Phase([tcp(80, allow_all().deny("x/a", "*").deny("*", ["y/a", "y/b"]).allow("x/a", "y/a"))],
              [netpol("allow-to-ns-y-pod-a", "x", match(pod="a"),
                      egress=[rule([peer(pods=match(pod="a"), namespaces=match(**{NSNAME: "y"}))])]),
               netpol("allow-from-xa-on-ya-match-selector", "y", match(pod="a"), ingress=from_xa),
               netpol("allow-from-xa-on-yb-match-selector", "y", match(pod="b"), ingress=from_xa)]))

    # upstream: should enforce egress policy allowing traffic to a server in a different namespace based on PodSelector and NamespaceSelector
    add("egress-to-one-pod-in-other-namespace",
        "should enforce egress policy allowing traffic to a server in a different namespace based on "
        "PodSelector and NamespaceSelector",
        Phase([tcp(80, allow_all().deny("x/a", "*").allow("x/a", "y/a"))],
              [netpol("allow-to-ns-y-pod-a", "x", match(pod="a"),
                      egress=[rule([peer(pods=match(pod="a"), namespaces=match(**{NSNAME: "y"}))])])]))

    # upstream: should enforce ingress policy allowing any port traffic to a server on a specific protocol
    add("ingress-any-port-of-one-protocol",
        "should enforce ingress policy allowing any port traffic to a server on a specific protocol",
        Phase([tcp(80, allow_all()), udp(80, allow_all().deny("*", "x/a"))],
              [netpol("allow-ingress-by-proto", "x", match(pod="a"), ingress=[rule(ports=[port(protocol="TCP")])])]))

    # upstream: should enforce multiple ingress policies with ingress allow-all policy taking precedence
    only80_in = netpol("allow-ingress-port-80", "x", match(), ingress=[rule(ports=[port(80)])])
    add("ingress-allow-all-takes-precedence",
        "should enforce multiple ingress policies with ingress allow-all policy taking precedence",
        Phase([tcp(81, allow_all().deny("*", "x/*")), tcp(80, allow_all())], [only80_in],
              title="only port 80 admitted"),
        Phase([tcp(81, allow_all())], [only80_in, netpol("allow-ingress", "x", match(), ingress=[{}])],
              title="plus an allow-all ingress policy"))

    # upstream: should enforce multiple egress policies with egress allow-all policy taking precedence
    only80_out = netpol("allow-egress-port-80", "x", match(), egress=[rule(ports=[port(80)])])
    add("egress-allow-all-takes-precedence",
        "should enforce multiple egress policies with egress allow-all policy taking precedence",
        Phase([tcp(81, allow_all().deny("x/*", "*")), tcp(80, allow_all())], [only80_out],
              title="only port 80 may leave"),
        Phase([tcp(81, allow_all())], [only80_out, netpol("allow-egress", "x", match(), egress=[{}])],
              title="plus an allow-all egress policy"))

    # upstream: should stop enforcing policies after they are deleted
    add("policy-deleted", "should stop enforcing policies after they are deleted",
        Phase([tcp(80, allow_all().deny("x/*", "*").deny("*", "x/*"))],
              [netpol("deny-all", "x", match(), ingress=[], egress=[])], title="deny all in x"),
        Phase([tcp(80, allow_all())], [], title="policy deleted"))

    # upstream: should allow egress access to server in CIDR block
    add("egress-to-cidr", "should allow egress access to server in CIDR block",
        Phase([tcp(80, allow_all().deny("x/a", "*").allow("x/a", "y/b"))],
              [netpol("allow-client-a-via-cidr-egress-rule", "x", match(pod="a"),
                      egress=[rule(_host_blocks("y/b"))])]))

    # upstream: should enforce except clause while egress access to server in CIDR block
    wide = netpol("allow-client-a-via-cidr-egress-rule", "x", match(pod="a"),
                  egress=[rule(_wide_blocks_except("x/b"))])
    add("egress-to-cidr-except", "should enforce except clause while egress access to server in CIDR block",
        Phase([tcp(80, allow_all().deny("x/a", "x/b"))], [wide]))

    # upstream: should ensure an IP overlapping both IPBlock.CIDR and IPBlock.Except is allowed
    add("cidr-and-except-overlap", "should ensure an IP overlapping both IPBlock.CIDR and IPBlock.Except is allowed",
        Phase([tcp(80, allow_all().deny("x/a", "x/b"))], [wide], title="/4 except x/b"),
        Phase([tcp(80, allow_all().deny("x/a", "*").allow("x/a", "x/b"))],
              [netpol("allow-client-a-via-cidr-egress-rule", "x", match(pod="a"),
                      egress=[rule(_host_blocks("x/b"))])],
              title="same policy updated to x/b's own address"))

    # upstream: should enforce policies to check ingress and egress policies can be controlled independently based on PodSelector
    egress_all = netpol("allow-egress-for-target", "x", match(pod="a"), egress=[{}])
    add("ingress-and-egress-independent",
        "should enforce policies to check ingress and egress policies can be controlled independently "
        "based on PodSelector",
        Phase([tcp(80, allow_all())], [egress_all], title="x/a: all egress allowed"),
        Phase([tcp(80, allow_all().deny("*", "x/a"))],
              [egress_all, netpol("deny-ingress-via-label-selector", "x", match(pod="a"), ingress=[])],
              title="plus x/a: all ingress denied"))

    # upstream: should not mistakenly treat 'protocol: SCTP' as 'protocol: TCP', even if the plugin doesn't support SCTP
    add("sctp-rule-is-not-tcp",
        "should not mistakenly treat 'protocol: SCTP' as 'protocol: TCP', even if the plugin doesn't support SCTP",
        Phase([tcp(81, allow_all().deny("*", "x/*"))],
              [deny_ingress(),
               netpol("allow-only-sctp-ingress-on-port-81", "x", match(pod="a"),
                      ingress=[rule(ports=[port(81, "SCTP")])])]))

    # upstream: should properly isolate pods that are selected by a policy allowing SCTP, even if the plugin doesn't support SCTP
    add("sctp-policy-still-isolates",
        "should properly isolate pods that are selected by a policy allowing SCTP, even if the plugin "
        "doesn't support SCTP",
        Phase([tcp(81, allow_all().deny("*", "x/a")), tcp(80, allow_all().deny("*", "x/a"))],
              [netpol("allow-only-sctp-ingress-on-port-80", "x", match(pod="a"),
                      ingress=[rule(ports=[port(80, "SCTP")])])]))

    # upstream: should not allow access by TCP when a policy specifies only UDP
    add("udp-rule-is-not-tcp", "should not allow access by TCP when a policy specifies only UDP",
        Phase([tcp(81, allow_all().deny("*", "x/a")), udp(81, allow_all())],
              [netpol("allow-only-udp-ingress-on-port-81", "x", match(pod="a"),
                      ingress=[rule(ports=[port(81, "UDP")])])]))

    # upstream: should enforce policy to allow traffic based on NamespaceSelector with MatchLabels using default ns label
    add("default-namespace-label-match-labels",
        "should enforce policy to allow traffic based on NamespaceSelector with MatchLabels using default ns label",
        Phase([tcp(80, allow_all().deny(["x/*", "z/*"], "x/a"))],
              [netpol("allow-client-a-via-ns-selector-for-immutable-ns-label", "x", match(pod="a"),
                      ingress=[rule([peer(namespaces=match(**{NSNAME: "y"}))])])]))

    # upstream: should enforce policy based on NamespaceSelector with MatchExpressions using default ns label
    add("default-namespace-label-match-expressions",
        "should enforce policy based on NamespaceSelector with MatchExpressions using default ns label",
        Phase([tcp(80, allow_all().deny("x/a", "y/*"))],
              [netpol("allow-ns-y-match-selector-for-immutable-ns-label", "x", match(pod="a"),
                      egress=[rule([peer(namespaces=match_expr(NSNAME, "NotIn", "y"))])])]))

    # --- "NetworkPolicy between server and client using UDP" ---------------------

    # upstream (UDP): should support a 'default-deny-ingress' policy
    add("udp-default-deny-ingress", "UDP: should support a 'default-deny-ingress' policy",
        Phase([udp(80, allow_all().deny("*", "x/*"))], [deny_ingress(name="deny-all")]))

    # upstream (UDP): should enforce policy based on Ports
    add("udp-ingress-on-one-port", "UDP: should enforce policy based on Ports",
        Phase([udp(81, allow_all().deny(["x/*", "z/*"], "x/a"))],
              [netpol("allow-ingress-on-port-81-ns-x", "x", match(pod="a"),
                      ingress=[rule([peer(namespaces=match(**{NSNAME: "y"}))], [port(81, "UDP")])])]))

    # upstream (UDP): should enforce policy to allow traffic only from a pod in a different namespace based on PodSelector and NamespaceSelector
    add("udp-ingress-from-one-pod-in-other-namespace",
        "UDP: should enforce policy to allow traffic only from a pod in a different namespace based on "
        "PodSelector and NamespaceSelector",
        Phase([udp(80, allow_all().deny("*", "x/a").allow("y/a", "x/a"))],
              [netpol("allow-ns-y-pod-a-via-namespace-pod-selector", "x", match(pod="a"),
                      ingress=[rule([peer(pods=match(pod="a"), namespaces=match(**{NSNAME: "y"}))])])]))

    return c
