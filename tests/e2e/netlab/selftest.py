"""Self-test of the lab itself, with hand-written nft rules (no policyc).

It proves the lab can tell allowed from denied before any compiler output is
trusted: with no rules everything is reachable; a single drop rule in a node
blocks exactly the traffic it names (on the bridged topology this shows that
br_netfilter hands bridged packets to the inet forward hook); and a table
shaped like netpol's (verdict maps to per-pod chains, conntrack first) admits
replies of allowed connections while denying everything else.
"""

from __future__ import annotations

from . import model
from .reach import Check, allow_all
from .runner import Case, NodeCheck, Phase

HEADER = "table inet netpol {}\ndelete table inet netpol\n"


def _ip(pod: str, fam: int) -> str:
    return model.pod_ip(pod, fam)


def _drop_script() -> dict[str, str]:
    xa, ya = "x/a", "y/a"
    node_xa, node_ya = model.node_of(xa), model.node_of(ya)
    rules: dict[str, list[str]] = {node_xa: [], node_ya: []}
    rules[node_xa] += [f"ip daddr {_ip(xa, 4)} tcp dport 80 drop",
                       f"ip6 daddr {_ip(xa, 6)} tcp dport 80 drop"]
    rules[node_ya] += [f"ip saddr {_ip(ya, 4)} udp dport 81 drop",
                       f"ip6 saddr {_ip(ya, 6)} udp dport 81 drop"]
    out = {}
    for node, lines in rules.items():
        body = "\n".join(f"    {r}" for r in lines)
        out[node] = (HEADER + "table inet netpol {\n  chain filter-forward {\n"
                     "    type filter hook forward priority filter; policy accept;\n"
                     f"{body}\n  }}\n}}\n")
    return out


def _footprint_script() -> dict[str, str]:
    """x/a admits TCP 80/81 only from x/b; x/c may only talk to y/a."""
    chains = {
        "x/a": ("ingress", [f"ip saddr {_ip('x/b', 4)} tcp dport {{ 80, 81 }} return",
                            f"ip6 saddr {_ip('x/b', 6)} tcp dport {{ 80, 81 }} return"]),
        "x/c": ("egress", [f"ip daddr {_ip('y/a', 4)} return",
                           f"ip6 daddr {_ip('y/a', 6)} return"]),
    }
    out = {}
    for node in model.NODES:
        maps = {("ingress", 4): [], ("ingress", 6): [], ("egress", 4): [], ("egress", 6): []}
        chain_text = []
        for pod, (direction, rules) in chains.items():
            if model.node_of(pod) != node:
                continue
            name = f"{direction}-{pod.replace('/', '-')}"
            for fam in model.FAMILIES:
                maps[(direction, fam)].append(f"{_ip(pod, fam)} : jump {name}")
            body = "\n".join(f"    {r}" for r in rules)
            chain_text.append(f"  chain {name} {{\n{body}\n    drop\n  }}\n")
        map_text = []
        for (direction, fam), elems in maps.items():
            typ = "ipv4_addr" if fam == 4 else "ipv6_addr"
            el = f" elements = {{ {', '.join(elems)} }};" if elems else ""
            map_text.append(f"  map {direction}-v{fam} {{ type {typ} : verdict;{el} }}\n")
        out[node] = (
            HEADER + "table inet netpol {\n" + "".join(map_text) + "".join(chain_text)
            + "  chain filter-forward {\n"
            "    type filter hook forward priority filter; policy accept;\n"
            "    ct state established,related accept\n"
            "    ct state invalid drop\n"
            "    fib saddr type local accept\n"
            # Bridged pods resolve each other's IPv6 addresses across the
            # forward hook; neighbour discovery must not be judged as traffic.
            "    icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept\n"
            "    ip saddr vmap @egress-v4\n"
            "    ip6 saddr vmap @egress-v6\n"
            "    ip daddr vmap @ingress-v4\n"
            "    ip6 daddr vmap @ingress-v6\n"
            "  }\n}\n")
    return out


def _local_node_checks(allowed: bool = True) -> list[NodeCheck]:
    return [NodeCheck(model.node_of(p), p, "TCP", 80, allowed) for p in ("x/a", "x/b")]


def cases() -> list[Case]:
    everything = allow_all()
    drop_expect_tcp80 = allow_all().deny("*", "x/a")
    drop_expect_udp81 = allow_all().deny("y/a", "*")
    fp_tcp = allow_all().deny("*", "x/a").allow("x/b", "x/a").deny("x/c", "*").allow("x/c", "y/a")
    fp_udp = allow_all().deny("*", "x/a").deny("x/c", "*").allow("x/c", "y/a")
    return [
        Case("no-rules", [Phase(
            [Check("TCP", 80, everything), Check("UDP", 80, everything),
             Check("TCP", 81, everything), Check("UDP", 81, everything)],
            nft={}, node_checks=_local_node_checks(), title="no table: everything reachable")],
            about="without any table every pod reaches every pod on every served port"),
        Case("hand-drop", [Phase(
            [Check("TCP", 80, drop_expect_tcp80), Check("UDP", 81, drop_expect_udp81),
             Check("TCP", 81, everything), Check("UDP", 80, everything)],
            nft=_drop_script(), title="drop tcp/80 to x/a in its node, udp/81 from y/a in its node")],
            about="a drop rule in a node's forward hook blocks pod-to-pod traffic (routed and bridged)"),
        Case("hand-footprint", [Phase(
            [Check("TCP", 80, fp_tcp), Check("UDP", 80, fp_udp)],
            nft=_footprint_script(), node_checks=_local_node_checks(),
            title="vmap-dispatched per-pod chains; replies pass by conntrack")],
            about="a netpol-shaped table isolates x/a (ingress) and x/c (egress), replies still pass"),
    ]
