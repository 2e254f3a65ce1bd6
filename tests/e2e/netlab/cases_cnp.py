"""ClusterNetworkPolicy cases: the upstream conformance intents, restated for this lab.

Source: conformance/tests/ of kubernetes-sigs/network-policy-api (v1alpha2,
the Admin and Baseline tiers). Upstream's houses map onto our namespaces:
gryffindor (the subject) is x, ravenclaw is y, slytherin and hufflepuff are
z; upstream's ports 80/8080 (TCP) and 53/5353 (UDP) are our 80 and 81. Each
upstream test applies one manifest and then mutates it (rules swapped, an
action changed, the priority raised); here each mutation is a Phase, and
several upstream tests are folded into one case where they share a manifest,
so the suite stays short. Every phase probes every pod pair over IPv4 and
IPv6, so a case also shows what the policies leave alone.

Not here (see docs/lab.md): SCTP traffic (no SCTP sockets in this kernel:
the cases that carry SCTP rules check the generated rules instead, and that
TCP/UDP on the same ports is unaffected). `nodes` peers are probed from pods
to the other node's own address (Phase.to_node_checks; each node serves TCP
and UDP 80): a pod's traffic to its own node is not forwarded, and netpol
judges forwarded traffic only.

The recipes in policies/cnp/ each have a case at the end (like
cases_recipes.py for policies/*.yaml), with the one-line description that
policies/README.md and the demo show.
"""

from __future__ import annotations

import copy
import glob
import os

from .model import (NODES, cnp, cnp_named_port, cnp_namespaces, cnp_networks, cnp_nodes, cnp_pods,
                    cnp_port, cnp_rule, match, match_expr, netpol, peer, pod_ip, pods_on, rule)
from .reach import Check, allow_all
from .runner import Case, NodeCheck, Phase, ToNodeCheck

NSNAME = "kubernetes.io/metadata.name"
POLICIES = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "policies", "cnp"))


def tcp(p: int, expect) -> Check:
    return Check("TCP", p, expect)


def udp(p: int, expect) -> Check:
    return Check("UDP", p, expect)


def ns(name: str) -> dict:
    """Namespace `name`, by its immutable name label (as upstream selects houses)."""
    return match(**{NSNAME: name})


def swap(policy: dict, direction: str, i: int, j: int) -> dict:
    """A copy of the policy with rules i and j of `direction` swapped (upstream's reorders)."""
    out = copy.deepcopy(policy)
    rules = out["spec"][direction]
    rules[i], rules[j] = rules[j], rules[i]
    return out


def changed(policy: dict, **spec) -> dict:
    out = copy.deepcopy(policy)
    out["spec"].update(copy.deepcopy(spec))
    return out


def with_action(policy: dict, direction: str, i: int, action: str) -> dict:
    out = copy.deepcopy(policy)
    out["spec"][direction][i]["action"] = action
    return out


PORT_80 = [cnp_port("TCP", 80), cnp_port("UDP", 80)]


def _rule_order(direction: str) -> tuple[dict, dict]:
    """The Admin manifest of upstream's *-tcp-rules / *-udp-rules tests, one for both
    protocols, and a Baseline policy that makes Pass visible (it denies y on TCP 81)."""
    rules = [
        cnp_rule("accept-y", "Accept", [cnp_namespaces(ns("y"))]),
        cnp_rule("deny-y", "Deny", [cnp_namespaces(ns("y"))]),
        cnp_rule("pass-y", "Pass", [cnp_namespaces(ns("y"))]),
        cnp_rule("deny-z-80", "Deny", [cnp_namespaces(ns("z"))], PORT_80),
        cnp_rule("pass-z-80", "Pass", [cnp_namespaces(ns("z"))], PORT_80),
    ]
    base = [cnp_rule("deny-y-tcp-81", "Deny", [cnp_namespaces(ns("y"))], [cnp_port("TCP", 81)])]
    kw, bkw = ({"ingress": rules}, {"ingress": base}) if direction == "ingress" else \
        ({"egress": rules}, {"egress": base})
    admin = cnp(f"{direction}-order", "Admin", 3, cnp_namespaces(ns("x")), **kw)
    baseline = cnp(f"{direction}-baseline", "Baseline", 10, cnp_namespaces(ns("x")), **bkw)
    return admin, baseline


def _order_checks(direction: str, y: tuple[bool, bool, bool], z80: bool) -> list[Check]:
    """tcp/80, tcp/81, udp/80 between x and y (verdicts y) and x and z (z80 on port 80;
    81 always open), in the direction the rules govern."""
    checks = []
    for (proto, port), y_ok in zip((("TCP", 80), ("TCP", 81), ("UDP", 80)), y):
        reach = allow_all()
        z_ok = z80 if port == 80 else True
        for other, ok in (("y/*", y_ok), ("z/*", z_ok)):
            if not ok:
                if direction == "ingress":
                    reach.deny(other, "x/*")
                else:
                    reach.deny("x/*", other)
        checks.append(Check(proto, port, reach))
    return checks


def _sctp_gress() -> dict:
    """Upstream's *-gress-rules manifest: one policy, both directions, TCP+UDP+SCTP per rule."""
    def rules(direction):
        return [
            cnp_rule("accept-y", "Accept", [cnp_namespaces(ns("y"))], direction=direction),
            cnp_rule("deny-y", "Deny", [cnp_namespaces(ns("y"))], direction=direction),
            cnp_rule("deny-z-80", "Deny", [cnp_namespaces(ns("z"))],
                     [cnp_port("TCP", 80), cnp_port("UDP", 53), cnp_port("SCTP", 9003)], direction),
            cnp_rule("accept-z-81", "Accept", [cnp_namespaces(ns("z"))],
                     [cnp_port("TCP", 81), cnp_port("UDP", 81), cnp_port("SCTP", 9003)], direction),
            cnp_rule("deny-z", "Deny", [cnp_namespaces(ns("z"))], direction=direction),
        ]
    return cnp("default", "Baseline", 10, cnp_namespaces(ns("x")), ingress=rules("from"), egress=rules("from"))


def _both_ways(reach, a: str, b: str):
    return reach.deny(a, b).deny(b, a)


def _upstream() -> list[Case]:
    c: list[Case] = []

    def add(name: str, upstream: str, *phases: Phase) -> None:
        c.append(Case(name, list(phases), upstream=upstream))

    # Admin tier, ingress then egress, TCP and UDP together: rule order decides
    # (Accept, Deny, Pass first in turn), and rules limited to port 80.
    for d in ("ingress", "egress"):
        admin, baseline = _rule_order(d)
        passed = swap(admin, d, 0, 2)
        add(f"admin-{d}-rule-order",
            f"CNPAdminTier{d.capitalize()}TCP / UDP: rule ordering and ports for Accept, Deny and Pass",
            Phase(_order_checks(d, (True, True, True), False), [admin, baseline],
                  title="Accept before Deny and Pass for y; Deny before Pass on port 80 for z"),
            Phase(_order_checks(d, (False, False, False), False), [swap(admin, d, 0, 1), baseline],
                  title="rules 0 and 1 swapped: Deny first for y"),
            Phase(_order_checks(d, (True, False, True), False), [passed, baseline],
                  title="rules 0 and 2 swapped: Pass first for y; the Baseline tier denies TCP 81"),
            Phase(_order_checks(d, (True, False, True), True), [swap(passed, d, 3, 4), baseline],
                  title="rules 3 and 4 swapped too: z's port 80 is passed, nothing else decides"))

    # Baseline tier, ingress: Accept/Deny order, Accept at one port then deny
    # the rest; then a NetworkPolicy selects x and the Baseline tier is out.
    base_in = cnp("ingress-baseline", "Baseline", 10, cnp_namespaces(ns("x")), ingress=[
        cnp_rule("accept-y", "Accept", [cnp_namespaces(ns("y"))]),
        cnp_rule("deny-y", "Deny", [cnp_namespaces(ns("y"))]),
        cnp_rule("accept-z-81", "Accept", [cnp_namespaces(ns("z"))], [cnp_port("TCP", 81)]),
        cnp_rule("deny-z", "Deny", [cnp_namespaces(ns("z"))]),
    ])
    only_z = netpol("allow-from-z", "x", match(), ingress=[rule([peer(namespaces=ns("z"))])])
    add("baseline-ingress-rule-order",
        "CNPBaselineTierIngressTCP / UDP; integration: a NetworkPolicy takes precedence over the Baseline tier",
        Phase([tcp(80, allow_all().deny("z/*", "x/*")), tcp(81, allow_all()),
               udp(80, allow_all().deny("z/*", "x/*"))], [base_in],
              title="y accepted; z only on TCP 81"),
        Phase([tcp(80, allow_all().deny(["y/*", "z/*"], "x/*")), tcp(81, allow_all().deny("y/*", "x/*"))],
              [swap(base_in, "ingress", 0, 1)], title="rules 0 and 1 swapped: y denied"),
        Phase([tcp(80, allow_all().deny(["x/*", "y/*"], "x/*")), udp(80, allow_all().deny(["x/*", "y/*"], "x/*"))],
              [swap(base_in, "ingress", 0, 1), only_z],
              title="x's NetworkPolicy admits only z: it decides, the Baseline tier is not asked"))

    # Baseline tier, both directions in one policy, TCP+UDP+SCTP per rule
    # (SCTP: the rules carry it; TCP/UDP on other ports are unaffected).
    gress = _sctp_gress()
    # SCTP cannot be probed: the rules must carry its match, in each direction
    # (Deny of rule 2, Accept, i.e. return to the next tier's end, of rule 3).
    # policyc writes "meta l4proto sctp th dport", `nft list` shows "sctp dport";
    # logging Deny rules carry counter/limit/log statements before the verdict.
    sctp_rules = [rf"sctp (th )?dport 9003 (.* )?{verdict} comment .*Baseline {d}\[{i}\]"
                  for d in ("ingress", "egress") for verdict, i in (("drop", 2), ("return", 3))]
    add("baseline-gress-both-directions",
        "CNPBaselineTierGressRules: ingress and egress of one policy, across protocols, rule order",
        Phase([tcp(80, _both_ways(allow_all(), "z/*", "x/*")),
               tcp(81, allow_all()),
               udp(53, _both_ways(allow_all(), "z/*", "x/*")),
               udp(80, _both_ways(allow_all(), "z/*", "x/*"))],
              [gress], rules_contain=sctp_rules,
              title="y accepted both ways; z only on TCP/UDP 81"),
        Phase([tcp(80, _both_ways(allow_all(), ["y/*", "z/*"], "x/*")),
               tcp(81, _both_ways(allow_all(), "y/*", "x/*"))],
              [swap(swap(gress, "ingress", 0, 1), "egress", 0, 1)], rules_contain=sctp_rules,
              title="rules 0 and 1 swapped in both directions: y denied both ways"))

    # Admin tier with Pass into NetworkPolicy, both directions, then into the
    # Baseline tier (upstream's ANP-NP-BANP integration), then deletions.
    admin = cnp("pass-example", "Admin", 10, cnp_namespaces(ns("x")),
                ingress=[cnp_rule("deny-from-z", "Deny", [cnp_namespaces(ns("z"))])],
                egress=[cnp_rule("deny-to-z", "Deny", [cnp_namespaces(ns("z"))])])
    np_z = netpol("allow-gress-z", "x", match(), ingress=[rule([peer(namespaces=ns("z"))])],
                  egress=[rule([peer(namespaces=ns("z"))])])
    baseline = cnp("default", "Baseline", 10, cnp_namespaces(ns("x")),
                   ingress=[cnp_rule("deny-from-z", "Deny", [cnp_namespaces(ns("z"))])],
                   egress=[cnp_rule("deny-to-z", "Deny", [cnp_namespaces(ns("z"))])])
    # x's NetworkPolicy isolates x both ways: only z, in and out.
    np_only_z = _both_ways(allow_all(), ["x/*", "y/*"], "x/*")
    pass_in = with_action(admin, "ingress", 0, "Pass")
    pass_both = with_action(pass_in, "egress", 0, "Pass")
    add("admin-pass-to-networkpolicy-and-baseline",
        "CNPAdminTierIntegration: Deny, then Pass in each direction to NetworkPolicy, then to the Baseline tier",
        Phase([tcp(80, _both_ways(np_only_z.copy(), "z/*", "x/*")),
               udp(81, _both_ways(np_only_z.copy(), "z/*", "x/*"))],
              [admin, np_z, baseline], title="Admin Deny beats x's NetworkPolicy both ways"),
        Phase([tcp(80, np_only_z.copy().deny("x/*", "z/*"))], [pass_in, np_z, baseline],
              title="ingress rule Pass: x's NetworkPolicy admits z"),
        Phase([tcp(80, np_only_z.copy()), udp(81, np_only_z.copy())], [pass_both, np_z, baseline],
              title="egress rule Pass too: x reaches z"),
        Phase([tcp(80, _both_ways(allow_all(), "z/*", "x/*"))], [pass_both, baseline],
              title="NetworkPolicy deleted: Pass reaches the Baseline tier, which denies z both ways"),
        Phase([tcp(80, allow_all())], [pass_both],
              title="Baseline policy deleted: nothing denies"))

    # Priority, tier change, relabelled subject, deleted policy (upstream's
    # priority test, continued). Subjects are pods labelled role=guarded in x;
    # peers are z/a and z/b.
    guarded = {"x/a": {"role": "guarded"}, "x/b": {"role": "guarded"}}
    subject = cnp_pods(ns("x"), match(role="guarded"))
    zab = [cnp_pods(ns("z"), match_expr("pod", "In", "a", "b"))]
    deny50 = cnp("priority-50", "Admin", 50, subject, ingress=[cnp_rule("deny-from-z", "Deny", zab)],
                 egress=[cnp_rule("deny-to-z", "Deny", zab, direction="to")])
    pass60 = cnp("priority-60", "Admin", 60, subject, ingress=[cnp_rule("pass-from-z", "Pass", zab)],
                 egress=[cnp_rule("pass-to-z", "Pass", zab)])
    accept = cnp("default", "Baseline", 10, subject, ingress=[cnp_rule("accept-from-z", "Accept", zab)],
                 egress=[cnp_rule("accept-to-z", "Accept", zab)])
    xab_zab = _both_ways(allow_all(), ["z/a", "z/b"], ["x/a", "x/b"])
    add("admin-priority-tier-subject",
        "CNPAdminTierPriorityField; multi-step: priority changed, tier changed, subject relabelled, policy deleted",
        Phase([tcp(80, xab_zab.copy()), udp(80, xab_zab.copy())], [deny50, pass60, accept],
              pod_labels=guarded, title="priority 50 Deny before priority 60 Pass"),
        Phase([tcp(80, allow_all()), udp(80, allow_all())],
              [deny50, changed(pass60, priority=40), accept], pod_labels=guarded,
              title="Pass moved to priority 40: it is first, the Baseline tier accepts"),
        Phase([tcp(80, xab_zab.copy())],
              [changed(deny50, tier="Baseline", priority=5), changed(pass60, priority=40), accept],
              pod_labels=guarded, title="the Deny policy moved to the Baseline tier at 5: before the Accept at 10"),
        Phase([tcp(80, _both_ways(allow_all(), ["z/a", "z/b"], "x/b"))],
              [changed(deny50, tier="Baseline", priority=5), changed(pass60, priority=40), accept],
              pod_labels={"x/b": {"role": "guarded"}}, title="x/a loses role=guarded: no longer a subject"),
        Phase([tcp(80, allow_all())], [changed(pass60, priority=40), accept],
              pod_labels={"x/b": {"role": "guarded"}}, title="the Deny policy deleted"))

    # networks peers (egress), in the Admin tier, then the Baseline tier under
    # a NetworkPolicy.
    y_a = [pod_ip("y/a", 4) + "/32", pod_ip("y/a", 6) + "/128"]
    cidr = cnp("inline-cidr", "Admin", 85, cnp_namespaces(ns("x")), egress=[
        cnp_rule("accept-z", "Accept", [cnp_pods(ns("z"))]),
        cnp_rule("deny-everything", "Deny", [cnp_networks("0.0.0.0/0", "::/0")]),
    ])
    with_hosts = copy.deepcopy(cidr)
    with_hosts["spec"]["egress"].insert(0, cnp_rule("accept-y-a-and-node2", "Accept", [
        cnp_networks(*y_a, "10.244.2.0/24", "fd00:10:244:2::/64")], direction="to"))
    out_of_x = allow_all().deny("x/*", ["x/*", "y/*"])
    add("networks-peers",
        "CNPAdminTierEgressInlineCIDR / CNPBaselineTierEgressInlineCIDR: networks peers, IPv4 and IPv6",
        Phase([tcp(80, out_of_x.copy()), udp(81, out_of_x.copy())], [cidr],
              title="x may reach z only; 0.0.0.0/0 and ::/0 denied"),
        Phase([tcp(80, out_of_x.copy().allow("x/*", pods_on("node2")))], [with_hosts],
              title="y/a's addresses and node2's pod range accepted first"),
        Phase([tcp(80, allow_all())],
              [changed(with_hosts, tier="Baseline"), netpol("egress-all", "x", match(), egress=[rule()])],
              title="moved to the Baseline tier: x's allow-all egress NetworkPolicy decides"))

    # nodes peers (egress to the Nodes' own addresses, status.addresses):
    # Deny, Pass into a Baseline Deny, Accept. A pod's traffic to its own
    # node is not forwarded (it enters the node's input hook), and netpol
    # judges forwarded traffic only, so it stays open whatever the rules say
    # (as for NetworkPolicy, where node traffic is outside the model).
    def to_nodes(x_a_node2: bool, x_b_node1: bool) -> list[ToNodeCheck]:
        return [ToNodeCheck("x/a", "node2", "TCP", 80, x_a_node2),
                ToNodeCheck("x/a", "node2", "UDP", 80, x_a_node2),
                ToNodeCheck("x/b", "node1", "TCP", 80, x_b_node1),
                ToNodeCheck("x/a", "node1", "TCP", 80, True),   # its own node: not forwarded
                ToNodeCheck("z/a", "node2", "TCP", 80, True)]   # z is no subject
    nodes_admin = cnp("egress-node2", "Admin", 10, cnp_namespaces(ns("x")),
                      egress=[cnp_rule("deny-node2", "Deny", [cnp_nodes(match(node="node2"))])])
    nodes_baseline = cnp("default", "Baseline", 10, cnp_namespaces(ns("x")),
                         egress=[cnp_rule("deny-nodes", "Deny", [cnp_nodes(match())])])
    pods_open = [tcp(80, allow_all())]
    add("nodes-peers",
        "CNPAdminTierEgressNodePeer / CNPBaselineTierEgressNodePeer: Deny, Pass and Accept to Nodes",
        Phase(pods_open, [nodes_admin], to_node_checks=to_nodes(False, True),
              title="Admin Deny to node2 (label node=node2): x's pods on node1 cannot reach it"),
        Phase(pods_open, [with_action(nodes_admin, "egress", 0, "Pass"), nodes_baseline],
              to_node_checks=to_nodes(False, False),
              title="the rule is Pass: a Baseline Deny to every node decides"),
        Phase(pods_open, [with_action(nodes_admin, "egress", 0, "Accept"), nodes_baseline],
              to_node_checks=to_nodes(True, False),
              title="the rule is Accept: node2 open, node1 still denied by the Baseline tier"))

    # Named ports, ingress (Admin) and egress (Baseline): resolved on the
    # destination pod's container ports.
    named = [
        cnp("named-ingress", "Admin", 20, cnp_namespaces(ns("x")), ingress=[
            cnp_rule("accept-y-serve-80-tcp", "Accept", [cnp_namespaces(ns("y"))],
                     [cnp_named_port("serve-80-tcp")]),
            cnp_rule("deny-y", "Deny", [cnp_namespaces(ns("y"))])]),
        cnp("named-egress", "Baseline", 20, cnp_namespaces(ns("z")), egress=[
            cnp_rule("accept-x-serve-81-udp", "Accept", [cnp_namespaces(ns("x"))],
                     [cnp_named_port("serve-81-udp")], direction="to"),
            cnp_rule("deny-x", "Deny", [cnp_namespaces(ns("x"))], direction="to")]),
    ]
    add("named-ports",
        "CNPAdminTierIngressNamedPort / CNPBaselineTierEgressNamedPort: destinationNamedPort",
        Phase([tcp(80, allow_all().deny("z/*", "x/*")),
               tcp(81, allow_all().deny(["y/*", "z/*"], "x/*")),
               udp(81, allow_all().deny("y/*", "x/*"))], named,
              title="y reaches x on serve-80-tcp only; z reaches x on serve-81-udp only"))
    return c


# --- the recipes in policies/cnp/ ----------------------------------------------------


def _kubelet(namespace: str) -> list[NodeCheck]:
    return [NodeCheck(node, pod, "TCP", 80, True)
            for node in NODES for pod in pods_on(node) if pod.startswith(namespace + "/")]


# file -> (description, phases); each phase: (checks, extra policies, ns labels, node checks, title)
RECIPES = {
    "isolate-restricted.yaml": (
        "Admin Deny: nobody reaches namespace z (isolation=restricted), not even z or a NetworkPolicy allowing all",
        [([tcp(80, allow_all().deny("*", "z/*")), udp(81, allow_all().deny("*", "z/*"))],
          [netpol("allow-all", "z", match(), ingress=[rule()])], {"z": {"isolation": "restricted"}}, [],
          "z labelled isolation=restricted, with an allow-all NetworkPolicy of its own")]),
    "baseline-default-deny.yaml": (
        "Baseline default deny between pods; namespace x opens itself with a NetworkPolicy",
        [([tcp(80, allow_all().deny("*", "*"))], [], {}, _kubelet("x"),
          "no NetworkPolicy: pods deny each other, nodes still reach their pods"),
         ([tcp(80, allow_all().deny("*", "*").allow("*", "x/*"))],
          [netpol("allow-all", "x", match(), ingress=[rule()])], {}, [],
          "x's allow-all NetworkPolicy: the NetworkPolicy decides for x")]),
    "delegate-to-namespaces.yaml": (
        "Admin Pass between tenants x and y, Deny to them from the rest; y's owner narrows it",
        [([tcp(80, allow_all().deny("z/*", ["x/*", "y/*"]))], [],
          {"x": {"tenant": "true"}, "y": {"tenant": "true"}}, [],
          "x and y tenants: z denied into them, tenants passed (no NetworkPolicy: allowed)"),
         ([tcp(80, allow_all().deny("z/*", ["x/*", "y/*"]).deny("x/*", "y/*"))],
          [netpol("own-namespace-only", "y", match(), ingress=[rule([peer(pods=match())])])],
          {"x": {"tenant": "true"}, "y": {"tenant": "true"}}, [],
          "y's NetworkPolicy admits only y: the Pass from x is now denied there")]),
}


def recipes() -> list[Case]:
    on_disk = sorted(os.path.basename(p) for p in glob.glob(os.path.join(POLICIES, "*.yaml")))
    missing = sorted(set(on_disk) - set(RECIPES))
    stale = sorted(set(RECIPES) - set(on_disk))
    if missing or stale:
        raise SystemExit(f"cnp recipes: policies/cnp/ and the case table differ: no case for {missing}, "
                         f"no file for {stale}")
    out = []
    for name, (about, steps) in RECIPES.items():
        phases = [Phase(checks, policies, files=[os.path.join(POLICIES, name)], ns_labels=labels,
                        node_checks=nodes, title=title)
                  for checks, policies, labels, nodes, title in steps]
        out.append(Case("cnp-" + name.removesuffix(".yaml"), phases, about=about))
    return out


def cases() -> list[Case]:
    return _upstream() + recipes()
