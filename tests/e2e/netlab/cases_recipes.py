"""The recipes in policies/, each with the reachability it must produce.

Every policies/*.yaml file has exactly one case here (checked when the suite
is built), run against the lab's model (namespaces x/y/z, pods a/b/c). The
one-line descriptions double as the demo's captions; policies/README.md
carries the same lines.
"""

from __future__ import annotations

import glob
import os

from .model import NODES, pods_on
from .reach import Check, allow_all
from .runner import Case, NodeCheck, Phase

POLICIES = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "policies"))


def tcp(p: int, expect) -> Check:
    return Check("TCP", p, expect)


def udp(p: int, expect) -> Check:
    return Check("UDP", p, expect)


def _kubelet(ns: str) -> list[NodeCheck]:
    """Each node reaches its own pods of namespace ns on TCP 80."""
    return [NodeCheck(node, pod, "TCP", 80, True)
            for node in NODES for pod in pods_on(node) if pod.startswith(ns + "/")]


# file -> (description, checks, node checks)
RECIPES = {
    "deny-all-ingress.yaml": (
        "default deny ingress for namespace x; nodes still reach their own pods",
        [tcp(80, allow_all().deny("*", "x/*")), udp(81, allow_all().deny("*", "x/*"))],
        _kubelet("x")),
    "deny-all-egress.yaml": (
        "default deny egress for namespace x; x still accepts connections",
        [tcp(80, allow_all().deny("x/*", "*")), udp(80, allow_all().deny("x/*", "*"))], []),
    "deny-all.yaml": (
        "default deny both directions for namespace z",
        [tcp(80, allow_all().deny("z/*", "*").deny("*", "z/*"))], _kubelet("z")),
    "allow-all-ingress.yaml": (
        "default allow: an allow-all ingress policy beside a deny-all one opens namespace x again",
        [tcp(80, allow_all()), udp(81, allow_all())], []),
    "allow-same-namespace.yaml": (
        "namespace y accepts connections from its own pods only",
        [tcp(80, allow_all().deny(["x/*", "z/*"], "y/*"))], []),
    "allow-from-labelled-namespace.yaml": (
        "namespace x accepts connections only from namespaces labelled ns=y",
        [tcp(80, allow_all().deny(["x/*", "z/*"], "x/*"))], []),
    "allow-only-some-pods.yaml": (
        "x/a accepts connections only from pods labelled pod=b in any namespace",
        [tcp(80, allow_all().deny("*", "x/a").allow("*/b", "x/a"))], []),
    "allow-pod-in-namespace.yaml": (
        "z/a accepts only y/b (podSelector AND namespaceSelector in one peer)",
        [tcp(80, allow_all().deny("*", "z/a").allow("y/b", "z/a"))], []),
    "allow-port-range.yaml": (
        "namespace y accepts TCP ports 53-80 only (endPort): 53 and 80 open, 81 and UDP closed",
        [tcp(53, allow_all()), tcp(80, allow_all()),
         tcp(81, allow_all().deny("*", "y/*")), udp(80, allow_all().deny("*", "y/*"))], []),
    "ipblock-except.yaml": (
        "x/a accepts the pod network minus node2's pod range (ipBlock with except, IPv4 and IPv6)",
        [tcp(80, allow_all().deny("*", "x/a").allow(["x/c", "y/b", "z/a", "z/c"], "x/a"))], []),
    "egress-dns-only.yaml": (
        "namespace z may only send DNS (UDP and TCP 53) to anyone",
        [udp(53, allow_all()), tcp(53, allow_all()),
         tcp(80, allow_all().deny("z/*", "*")), udp(80, allow_all().deny("z/*", "*"))], []),
    "named-port-ingress.yaml": (
        "namespace y accepts only its named port serve-81-udp",
        [udp(81, allow_all()), tcp(81, allow_all().deny("*", "y/*")),
         udp(80, allow_all().deny("*", "y/*"))], []),
    "named-port-egress.yaml": (
        "x/c may connect only to destinations' port named serve-80-tcp",
        [tcp(80, allow_all()), tcp(81, allow_all().deny("x/c", "*"))], []),
    "egress-to-namespace.yaml": (
        "y/a may connect only to pods in namespace z; others still reach y/a",
        [tcp(80, allow_all().deny("y/a", "*").allow("y/a", "z/*"))], []),
    "match-expressions.yaml": (
        "z/c accepts every namespace but x (namespace name label, NotIn)",
        [tcp(80, allow_all().deny("x/*", "z/c"))], []),
}


def cases() -> list[Case]:
    on_disk = sorted(os.path.basename(p) for p in glob.glob(os.path.join(POLICIES, "*.yaml")))
    missing = sorted(set(on_disk) - set(RECIPES))
    stale = sorted(set(RECIPES) - set(on_disk))
    if missing or stale:
        # A recipe without an expectation would go untested; say so loudly.
        raise SystemExit(f"recipes: policies/ and the case table differ: no case for {missing}, "
                         f"no file for {stale}")
    out = []
    for name in RECIPES:  # teaching order: denies first, then the allows
        about, checks, node_checks = RECIPES[name]
        out.append(Case(name.removesuffix(".yaml"),
                        [Phase(checks, files=[os.path.join(POLICIES, name)], node_checks=node_checks)],
                        about=about))
    return out
