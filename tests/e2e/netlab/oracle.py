"""A plain-Python reading of NetworkPolicy semantics, to cross-check the tables.

The case tables state expectations by hand ("deny * -> x/a, allow x/b -> x/a").
This module computes the same thing from the policies themselves, slowly and
literally, so a typo in a table is caught without a kernel or a compiler.
It is an aid for the tables only: it never judges policyc's output, and the
real tests always compare real traffic against the hand-written tables.
"""

from __future__ import annotations

import ipaddress

from . import model


def _selector_matches(sel: dict | None, labels: dict[str, str]) -> bool:
    if sel is None:
        return True
    for k, v in (sel.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for req in sel.get("matchExpressions") or []:
        key, op, values = req["key"], req["operator"], req.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


class Cluster:
    def __init__(self, objects: list[dict], policies: list[dict]) -> None:
        self.ns_labels = {o["metadata"]["name"]: o["metadata"].get("labels", {})
                          for o in objects if o["kind"] == "Namespace"}
        self.pods = {}
        for o in objects:
            if o["kind"] != "Pod":
                continue
            key = f"{o['metadata']['namespace']}/{o['metadata']['name']}"
            ports = [p for c in o["spec"]["containers"] for p in c.get("ports", [])]
            ips = [ipaddress.ip_address(i["ip"]) for i in o["status"]["podIPs"]]
            self.pods[key] = (o["metadata"].get("labels", {}), ports, ips)
        self.policies = policies

    def _types(self, pol: dict) -> set[str]:
        spec = pol["spec"]
        if "policyTypes" in spec:
            return set(spec["policyTypes"])
        return {"Ingress"} | ({"Egress"} if "egress" in spec else set())

    def _selecting(self, pod: str, direction: str) -> list[dict]:
        ns = pod.split("/")[0]
        labels = self.pods[pod][0]
        return [p for p in self.policies
                if p["metadata"]["namespace"] == ns and direction in self._types(p)
                and _selector_matches(p["spec"].get("podSelector") or {}, labels)]

    def _peer_matches(self, peer: dict, pol_ns: str, other: str, family: int) -> bool:
        if "ipBlock" in peer:
            ip = [i for i in self.pods[other][2] if i.version == family][0]
            block = ipaddress.ip_network(peer["ipBlock"]["cidr"], strict=False)
            if ip.version != block.version or ip not in block:
                return False
            return not any(ip in ipaddress.ip_network(e, strict=False)
                           for e in peer["ipBlock"].get("except", []))
        ons = other.split("/")[0]
        if "namespaceSelector" in peer:
            if not _selector_matches(peer["namespaceSelector"], self.ns_labels[ons]):
                return False
        elif ons != pol_ns:
            return False
        return _selector_matches(peer.get("podSelector"), self.pods[other][0])

    def _port_matches(self, ports: list[dict] | None, dst: str, proto: str, number: int) -> bool:
        if not ports:
            return True
        for p in ports:
            pproto = p.get("protocol", "TCP")
            if pproto != proto:
                continue
            want = p.get("port")
            if want is None:
                return True
            if isinstance(want, str):
                if any(cp.get("name") == want and cp.get("protocol", "TCP") == proto
                       and cp["containerPort"] == number for cp in self.pods[dst][1]):
                    return True
                continue
            if want <= number <= p.get("endPort", want):
                return True
        return False

    def _allowed(self, pod: str, other: str, dst: str, direction: str, proto: str, port: int,
                 family: int) -> bool:
        pols = self._selecting(pod, direction)
        if not pols:
            return True
        key, field = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
        for pol in pols:
            for r in pol["spec"].get(key) or []:
                peers = r.get(field)
                if peers and not any(self._peer_matches(pr, pol["metadata"]["namespace"], other, family)
                                     for pr in peers):
                    continue
                if self._port_matches(r.get("ports"), dst, proto, port):
                    return True
        return False

    def reachable(self, src: str, dst: str, proto: str, port: int, family: int) -> bool:
        return (self._allowed(src, dst, dst, "Egress", proto, port, family)
                and self._allowed(dst, src, dst, "Ingress", proto, port, family))


def check_case(case, load_file=None) -> list[str]:
    """Differences between a case's hand-written tables and this oracle."""
    problems = []
    for i, phase in enumerate(case.phases, 1):
        if phase.nft is not None:
            continue
        policies = list(phase.policies)
        for f in phase.files:
            policies += load_file(f)
        cluster = Cluster(model.cluster_objects(phase.ns_labels, phase.pod_labels), policies)
        for check in phase.checks:
            for (s, d), want in sorted(check.expect.cells.items()):
                for fam in model.FAMILIES:
                    got = cluster.reachable(s, d, check.proto, check.port, fam)
                    if got != want:
                        problems.append(f"{case.name} phase {i} {check.label} {s} -> {d} IPv{fam}: "
                                        f"table says {'allowed' if want else 'denied'}, "
                                        f"semantics say {'allowed' if got else 'denied'}")
    return problems
