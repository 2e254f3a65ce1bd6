"""The lab's cluster model and the Kubernetes objects that describe it.

The model follows the upstream NetworkPolicy e2e suite: namespaces x, y, z
(labelled ns=<name>), pods a, b, c in each (labelled pod=<name>), every pod
serving TCP and UDP on ports 80 and 81 (plus 53 for the DNS recipe), with
container ports named serve-<port>-<proto>. Pods alternate between node1 and
node2. Addresses are the same in both topologies, so recipes with ipBlocks
work on either.

This module only describes; it never touches the kernel.
"""

from __future__ import annotations

import copy
import json
import re

NAMESPACES = ("x", "y", "z")
POD_NAMES = ("a", "b", "c")
PODS = tuple(f"{ns}/{p}" for ns in NAMESPACES for p in POD_NAMES)
NODES = ("node1", "node2")
FAMILIES = (4, 6)
# (port, protocol) every pod serves.
SERVED = ((80, "TCP"), (80, "UDP"), (81, "TCP"), (81, "UDP"), (53, "TCP"), (53, "UDP"))

# Pod ranges per node; both topologies use exactly these pod addresses.
POD_CIDR_V4 = "10.244.0.0/16"
POD_CIDR_V6 = "fd00:10:244::/48"


def node_index(pod: str) -> int:
    """1 or 2: pods alternate over the nodes in PODS order."""
    return 1 + PODS.index(pod) % 2


def node_of(pod: str) -> str:
    return f"node{node_index(pod)}"


def pods_on(node: str) -> list[str]:
    return [p for p in PODS if node_of(p) == node]


def host_id(pod: str) -> int:
    ns, name = pod.split("/")
    return 10 * (NAMESPACES.index(ns) + 1) + POD_NAMES.index(name) + 1


def pod_ip(pod: str, family: int) -> str:
    n, h = node_index(pod), host_id(pod)
    return f"10.244.{n}.{h}" if family == 4 else f"fd00:10:244:{n}::{h}"


def node_pod_cidr(node: str, family: int) -> str:
    n = int(node[-1])
    return f"10.244.{n}.0/24" if family == 4 else f"fd00:10:244:{n}::/64"


def port_name(port: int, proto: str) -> str:
    return f"serve-{port}-{proto.lower()}"


def namespace_object(ns: str, extra_labels: dict[str, str] | None = None) -> dict:
    labels = {"ns": ns, "kubernetes.io/metadata.name": ns}
    labels.update(extra_labels or {})
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": ns, "uid": f"lab-ns-{ns}", "labels": labels},
    }


def pod_object(pod: str, extra_labels: dict[str, str] | None = None) -> dict:
    ns, name = pod.split("/")
    labels = {"pod": name}
    labels.update(extra_labels or {})
    # One container per served port, like upstream's agnhost pods.
    containers = [
        {
            "name": f"cont-{port}-{proto.lower()}",
            "image": "lab/python-echo",
            "ports": [{"name": port_name(port, proto), "containerPort": port, "protocol": proto}],
        }
        for port, proto in SERVED
    ]
    ips = [pod_ip(pod, f) for f in FAMILIES]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "namespace": ns,
            "name": name,
            "uid": f"lab-pod-{ns}-{name}",
            "labels": labels,
        },
        "spec": {"nodeName": node_of(pod), "containers": containers},
        "status": {"phase": "Running", "podIP": ips[0], "podIPs": [{"ip": ip} for ip in ips]},
    }


def cluster_objects(
    ns_labels: dict[str, dict[str, str]] | None = None,
    pod_labels: dict[str, dict[str, str]] | None = None,
) -> list[dict]:
    """Namespaces and pods, with optional extra labels (mid-test label updates)."""
    ns_labels = ns_labels or {}
    pod_labels = pod_labels or {}
    objs = [namespace_object(ns, ns_labels.get(ns)) for ns in NAMESPACES]
    objs += [pod_object(p, pod_labels.get(p)) for p in PODS]
    return objs


def node_object(node: str, addresses: list[str]) -> dict:
    """A Node (v1) with its InternalIP addresses (`nodes` peers of CNPs select
    Nodes by label and match their addresses); labelled node=<name> and
    kubernetes.io/hostname=<name>. The addresses depend on the topology
    (topology.Topology.node_addr), so the runner adds them, not cluster_objects()."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": node, "uid": f"lab-node-{node}",
                     "labels": {"node": node, "kubernetes.io/hostname": node}},
        "status": {"addresses": [{"type": "InternalIP", "address": a} for a in addresses]},
    }


_PLAIN_KEY = re.compile(r"[A-Za-z][A-Za-z0-9._/-]*")


def _yaml(value, indent: int) -> list[str]:
    """Block-style YAML lines for plain dicts/lists/str/int/bool.

    Scalars are JSON-quoted, which is valid YAML (double-quoted style), so no
    value can turn into something else (a "no" stays a string, an "80" too).
    """
    pad = "  " * indent
    if isinstance(value, dict):
        if not value:
            return [pad + "{}"]
        out = []
        for k, v in value.items():
            key = k if _PLAIN_KEY.fullmatch(k) else json.dumps(str(k))
            if isinstance(v, (dict, list)) and v:
                out.append(f"{pad}{key}:")
                out += _yaml(v, indent + 1)
            else:
                out.append(f"{pad}{key}: {_yaml(v, 0)[0]}")
        return out
    if isinstance(value, list):
        if not value:
            return [pad + "[]"]
        out = []
        for item in value:
            lines = _yaml(item, indent + 1)
            # The first line of the item goes after the dash.
            out.append(f"{pad}- {lines[0].strip()}")
            out += lines[1:]
        return out
    if isinstance(value, bool):
        return [pad + ("true" if value else "false")]
    if isinstance(value, int):
        return [pad + str(value)]
    return [pad + json.dumps(str(value))]


def as_list(objs: list[dict]) -> str:
    """The objects as one JSON `kind: List` (tests/unit/netlink exports lab inputs with it)."""
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": objs}, indent=1, sort_keys=True)


def as_yaml(objs: list[dict]) -> str:
    """Multi-document YAML, one object a document: what a user would kubectl apply."""
    return "".join("---\n" + "\n".join(_yaml(o, 0)) + "\n" for o in objs)


# --- NetworkPolicy builders used by the case tables ---------------------------------


def match(**labels: str) -> dict:
    """A label selector with matchLabels (match() is the empty selector)."""
    return {"matchLabels": dict(labels)} if labels else {}


def match_expr(key: str, op: str, *values: str) -> dict:
    req: dict = {"key": key, "operator": op}
    if values:
        req["values"] = list(values)
    return {"matchExpressions": [req]}


def peer(pods: dict | None = None, namespaces: dict | None = None) -> dict:
    out = {}
    if pods is not None:
        out["podSelector"] = copy.deepcopy(pods)
    if namespaces is not None:
        out["namespaceSelector"] = copy.deepcopy(namespaces)
    return out


def ip_block(cidr: str, *excepts: str) -> dict:
    block: dict = {"cidr": cidr}
    if excepts:
        block["except"] = list(excepts)
    return {"ipBlock": block}


def port(number: int | str | None = None, protocol: str | None = None, end: int | None = None) -> dict:
    out: dict = {}
    if protocol is not None:
        out["protocol"] = protocol
    if number is not None:
        out["port"] = number
    if end is not None:
        out["endPort"] = end
    return out


def rule(peers: list[dict] | None = None, ports: list[dict] | None = None, direction: str = "from") -> dict:
    out: dict = {}
    if peers is not None:
        out[direction] = peers
    if ports is not None:
        out["ports"] = ports
    return out


def netpol(
    name: str,
    ns: str,
    selector: dict | None = None,
    ingress: list[dict] | None = None,
    egress: list[dict] | None = None,
    types: list[str] | None = None,
) -> dict:
    """A NetworkPolicy. ingress/egress None leaves the field out; types None
    derives policyTypes the way upstream's helpers do (a type for each list given)."""
    spec: dict = {"podSelector": copy.deepcopy(selector) if selector is not None else {}}
    if types is None:
        types = []
        if ingress is not None:
            types.append("Ingress")
        if egress is not None:
            types.append("Egress")
    if types:
        spec["policyTypes"] = list(types)
    if ingress is not None:
        spec["ingress"] = copy.deepcopy(ingress)
    if egress is not None:
        spec["egress"] = [
            {("to" if k == "from" else k): v for k, v in r.items()} for r in copy.deepcopy(egress)
        ]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"namespace": ns, "name": name, "uid": f"lab-np-{ns}-{name}"},
        "spec": spec,
    }


# --- ClusterNetworkPolicy builders (policy.networking.k8s.io/v1alpha2) --------------

CNP_API = "policy.networking.k8s.io/v1alpha2"


def cnp_namespaces(sel: dict | None = None) -> dict:
    """A `namespaces` subject or peer (every pod of the matching namespaces)."""
    return {"namespaces": copy.deepcopy(sel if sel is not None else {})}


def cnp_pods(namespaces: dict | None = None, pods: dict | None = None) -> dict:
    """A `pods` subject or peer: pods matching `pods` in namespaces matching `namespaces`."""
    return {"pods": {"namespaceSelector": copy.deepcopy(namespaces if namespaces is not None else {}),
                     "podSelector": copy.deepcopy(pods if pods is not None else {})}}


def cnp_nodes(sel: dict | None = None) -> dict:
    """A `nodes` peer (egress only): the addresses of the matching Nodes."""
    return {"nodes": copy.deepcopy(sel if sel is not None else {})}


def cnp_networks(*cidrs: str) -> dict:
    """A `networks` peer (egress only)."""
    return {"networks": list(cidrs)}


def cnp_port(proto: str, number: int, end: int | None = None) -> dict:
    """One `protocols` entry: tcp/udp/sctp with a destination port or range."""
    dest = {"number": number} if end is None else {"range": {"start": number, "end": end}}
    return {proto.lower(): {"destinationPort": dest}}


def cnp_named_port(name: str) -> dict:
    return {"destinationNamedPort": name}


def cnp_rule(name: str, action: str, peers: list[dict], protocols: list[dict] | None = None,
             direction: str = "from") -> dict:
    """An ingress rule (direction "from"); cnp() turns it into "to" for egress."""
    out: dict = {"name": name, "action": action, direction: copy.deepcopy(peers)}
    if protocols:
        out["protocols"] = copy.deepcopy(protocols)
    return out


def cnp(name: str, tier: str, priority: int, subject: dict,
        ingress: list[dict] | None = None, egress: list[dict] | None = None) -> dict:
    """A ClusterNetworkPolicy (cluster-scoped: no namespace)."""
    spec: dict = {"tier": tier, "priority": priority, "subject": copy.deepcopy(subject)}
    if ingress is not None:
        spec["ingress"] = copy.deepcopy(ingress)
    if egress is not None:
        spec["egress"] = [{("to" if k == "from" else k): v for k, v in r.items()}
                          for r in copy.deepcopy(egress)]
    return {
        "apiVersion": CNP_API,
        "kind": "ClusterNetworkPolicy",
        "metadata": {"name": name, "uid": f"lab-cnp-{name}"},
        "spec": spec,
    }


def policy_key(obj: dict) -> str:
    """namespace/name of a NetworkPolicy, cnp/NAME of a ClusterNetworkPolicy."""
    if obj["kind"] == "ClusterNetworkPolicy":
        return f"cnp/{obj['metadata']['name']}"
    return f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"
