"""Builds the two lab topologies out of network namespaces.

routed (Calico-like)
    Each pod's eth0 is a veth to its node. The node side has no IPv4 address
    and answers ARP for the pod's gateway 169.254.1.1 by proxy_arp; for IPv6
    the node side carries fe80::1 as the pod's gateway. The node routes each
    local pod as a /32 and /128 host route, forwards, and reaches the other
    node's pod range over a veth link between the two nodes.

bridged (Weave-like)
    Each node has a bridge br0 with the pods' veths enslaved; the two bridges
    are joined by a veth pair, so all pods share one L2 subnet. br_netfilter
    is switched on in the node namespaces, so bridged IP packets traverse the
    inet forward hook, where the netpol table lives.

Neither topology has a link to the host namespace. Everything is created in
namespaces registered with the NetnsRegistry, which removes them again.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field

from . import model
from .netns import NetnsRegistry, run

TOPOLOGIES = ("routed", "bridged")

_COMMON_SYSCTLS = [
    # No duplicate address detection: addresses are usable at once, and the
    # lab owns every address so there is nothing to detect.
    "net.ipv6.conf.all.accept_dad=0",
    "net.ipv6.conf.default.accept_dad=0",
    "net.ipv6.conf.default.accept_ra=0",
    "net.ipv4.conf.all.rp_filter=0",
    "net.ipv4.conf.default.rp_filter=0",
]
_ROUTED_NODE_SYSCTLS = [
    "net.ipv4.ip_forward=1",
    "net.ipv6.conf.all.forwarding=1",
    # Inherited by every veth created afterwards: the node answers ARP for
    # anything it routes elsewhere, which is how unnumbered pod links work.
    "net.ipv4.conf.default.proxy_arp=1",
]
_BRIDGED_NODE_SYSCTLS = [
    "net.bridge.bridge-nf-call-iptables=1",
    "net.bridge.bridge-nf-call-ip6tables=1",
]

ROUTED_GW_V4 = "169.254.1.1"
ROUTED_GW_V6 = "fe80::1"


def _veth_name(pod: str) -> str:
    ns, name = pod.split("/")
    return f"v-{ns}-{name}"


def _run_parallel(cmds: list[tuple[list[str], str | None]]) -> None:
    """Runs commands concurrently; raises with every failure's output."""
    procs = [
        (cmd, subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True), text)
        for cmd, text in cmds
    ]
    errors = []
    for cmd, proc, text in procs:
        out, _ = proc.communicate(text)
        if proc.returncode != 0:
            errors.append(f"{' '.join(cmd)} ({proc.returncode}):\n{text or ''}\n{out}")
    if errors:
        raise RuntimeError("lab setup failed:\n" + "\n".join(errors))


def _batch(ns: str, lines: list[str]) -> tuple[list[str], str]:
    return (["ip", "-n", ns, "-b", "-"], "\n".join(lines) + "\n")


@dataclass
class Topology:
    """The namespaces of one built lab and what lives where."""

    kind: str
    registry: NetnsRegistry
    node_ns: dict[str, str] = field(default_factory=dict)
    pod_ns: dict[str, str] = field(default_factory=dict)

    def all_ns(self) -> list[str]:
        return list(self.node_ns.values()) + list(self.pod_ns.values())

    def node_addr(self, node: str, family: int) -> str:
        """An address the node itself owns (source of node-to-pod traffic)."""
        k = int(node[-1])
        if self.kind == "routed":
            return f"10.250.0.{k}" if family == 4 else f"fd00:250::{k}"
        return f"10.244.255.{k}" if family == 4 else f"fd00:10:244:ff::{k}"

    def destroy(self) -> None:
        self.registry.remove(self.all_ns())


def build(kind: str, registry: NetnsRegistry) -> Topology:
    if kind not in TOPOLOGIES:
        raise ValueError(f"unknown topology {kind!r} (want one of {', '.join(TOPOLOGIES)})")
    tag = kind[0]  # r/b: the two topologies of one process never share names
    topo = Topology(kind, registry)
    for node in model.NODES:
        topo.node_ns[node] = registry.add(f"{tag}-{node}")
    for pod in model.PODS:
        topo.pod_ns[pod] = registry.add(f"{tag}-{pod.replace('/', '-')}")

    node_sysctls = _ROUTED_NODE_SYSCTLS if kind == "routed" else _BRIDGED_NODE_SYSCTLS
    _run_parallel(
        [(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", *_COMMON_SYSCTLS, *node_sysctls], None)
         for ns in topo.node_ns.values()]
        + [(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", *_COMMON_SYSCTLS], None)
           for ns in topo.pod_ns.values()]
    )
    if kind == "routed":
        _build_routed(topo)
    else:
        _build_bridged(topo)
    return topo


def _create_links(topo: Topology, node_link: str, extra: dict[str, list[str]]) -> None:
    """Creates every veth from the node side, peers directly inside the pods."""
    batches = []
    for node, ns in topo.node_ns.items():
        lines = ["link set lo up", *extra.get(node, [])]
        for pod in model.pods_on(node):
            lines.append(f"link add {_veth_name(pod)} type veth peer name eth0 netns {topo.pod_ns[pod]}")
        batches.append(_batch(ns, lines))
    _run_parallel(batches)
    # The node-to-node link is made from node1 with its peer in node2.
    run(["ip", "-n", topo.node_ns["node1"], "link", "add", node_link, "type", "veth",
         "peer", "name", node_link, "netns", topo.node_ns["node2"]])


def _pod_up(pod: str, prefix4: int, prefix6: int) -> list[str]:
    """ip -batch lines: the pod's lo and eth0 up, eth0 with both its addresses."""
    return [
        "link set lo up",
        "link set eth0 up",
        f"addr add {model.pod_ip(pod, 4)}/{prefix4} dev eth0",
        f"addr add {model.pod_ip(pod, 6)}/{prefix6} dev eth0",
    ]


def _build_routed(topo: Topology) -> None:
    _create_links(topo, "nn0", {})

    pod_batches = []
    for pod, ns in topo.pod_ns.items():
        pod_batches.append(_batch(ns, _pod_up(pod, 32, 128) + [
            f"route add {ROUTED_GW_V4}/32 dev eth0 scope link",
            f"route add default via {ROUTED_GW_V4} dev eth0",
            f"route add default via {ROUTED_GW_V6} dev eth0",
        ]))
    _run_parallel(pod_batches)

    node_batches = []
    for node, ns in topo.node_ns.items():
        other = "node2" if node == "node1" else "node1"
        lines = [
            "link set nn0 up",
            # proxy_arp answers only for addresses routed out of another
            # device; this route makes the pods' gateway such an address.
            f"route add {ROUTED_GW_V4}/32 dev nn0",
            f"addr add {topo.node_addr(node, 4)}/24 dev nn0",
            f"addr add {topo.node_addr(node, 6)}/64 dev nn0",
            f"route add {model.node_pod_cidr(other, 4)} via {topo.node_addr(other, 4)}",
            f"route add {model.node_pod_cidr(other, 6)} via {topo.node_addr(other, 6)}",
        ]
        for pod in model.pods_on(node):
            dev = _veth_name(pod)
            lines += [
                f"link set {dev} up",
                f"addr add {ROUTED_GW_V6}/64 dev {dev}",
                f"route add {model.pod_ip(pod, 4)}/32 dev {dev}",
                f"route add {model.pod_ip(pod, 6)}/128 dev {dev}",
            ]
        node_batches.append(_batch(ns, lines))
    _run_parallel(node_batches)


def _build_bridged(topo: Topology) -> None:
    # No multicast snooping: neighbour solicitations are flooded like ARP,
    # independent of which MLD reports the bridge happened to see.
    br = ["link add br0 type bridge mcast_snooping 0"]
    _create_links(topo, "wv0", {n: br for n in model.NODES})

    pod_batches = []
    for pod, ns in topo.pod_ns.items():
        pod_batches.append(_batch(ns, _pod_up(pod, 16, 48)))
    _run_parallel(pod_batches)

    node_batches = []
    for node, ns in topo.node_ns.items():
        lines = [
            "link set br0 up",
            f"addr add {topo.node_addr(node, 4)}/16 dev br0",
            f"addr add {topo.node_addr(node, 6)}/48 dev br0",
            "link set wv0 master br0",
            "link set wv0 up",
        ]
        for pod in model.pods_on(node):
            lines += [f"link set {_veth_name(pod)} master br0", f"link set {_veth_name(pod)} up"]
        node_batches.append(_batch(ns, lines))
    _run_parallel(node_batches)
