"""A plain-Python reading of NetworkPolicy and ClusterNetworkPolicy semantics,
to cross-check the tables.

The case tables state expectations by hand ("deny * -> x/a, allow x/b -> x/a").
This module computes the same thing from the policies themselves, slowly and
literally, so a typo in a table is caught without a kernel or a compiler.
It is an aid for the tables only: it never judges policyc's output, and the
real tests always compare real traffic against the hand-written tables.

ClusterNetworkPolicies follow design.md's verdict order, per direction: the
Admin tier (policies by priority, then name; rules in order; the first
matching rule decides: Accept allows without asking NetworkPolicy, Deny
drops, Pass leaves the tier), then NetworkPolicy (if it isolates the pod, it
decides), then the Baseline tier the same way (Pass leaves it: allowed);
nothing decided: allowed.
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
        self.policies = [p for p in policies if p["kind"] == "NetworkPolicy"]
        self.cnps = sorted((p for p in policies if p["kind"] == "ClusterNetworkPolicy"),
                           key=lambda p: (p["spec"]["priority"], p["metadata"]["name"]))

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

    # --- ClusterNetworkPolicy ------------------------------------------------------

    def _cnp_selects(self, subject: dict, pod: str) -> bool:
        ns = pod.split("/")[0]
        if "namespaces" in subject:
            return _selector_matches(subject["namespaces"], self.ns_labels[ns])
        pods = subject["pods"]
        return (_selector_matches(pods.get("namespaceSelector") or {}, self.ns_labels[ns])
                and _selector_matches(pods.get("podSelector") or {}, self.pods[pod][0]))

    def _cnp_peer_matches(self, peer: dict, other: str, family: int) -> bool:
        if "networks" in peer:
            ip = [i for i in self.pods[other][2] if i.version == family][0]
            return any(ip.version == n.version and ip in n
                       for n in (ipaddress.ip_network(c, strict=False) for c in peer["networks"]))
        if "nodes" in peer:
            return False  # the lab's peers are pods, never nodes
        return self._cnp_selects(peer, other)

    def _cnp_port_matches(self, protocols: list[dict] | None, dst: str, proto: str, number: int) -> bool:
        if not protocols:
            return True
        for entry in protocols:
            if "destinationNamedPort" in entry:
                if any(cp.get("name") == entry["destinationNamedPort"]
                       and cp.get("protocol", "TCP") == proto and cp["containerPort"] == number
                       for cp in self.pods[dst][1]):
                    return True
                continue
            for key, body in entry.items():
                if key.upper() != proto:
                    continue
                dest = body["destinationPort"]
                lo, hi = ((dest["number"], dest["number"]) if "number" in dest
                          else (dest["range"]["start"], dest["range"]["end"]))
                if lo <= number <= hi:
                    return True
        return False

    def _tier(self, tier: str, pod: str, other: str, dst: str, direction: str, proto: str,
              port: int, family: int) -> bool | None:
        """True (Accept), False (Deny) or None (Pass, or no rule matched)."""
        key, field = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
        for pol in self.cnps:
            spec = pol["spec"]
            if spec["tier"] != tier or not self._cnp_selects(spec["subject"], pod):
                continue
            for r in spec.get(key) or []:
                if not any(self._cnp_peer_matches(pr, other, family) for pr in r[field]):
                    continue
                if not self._cnp_port_matches(r.get("protocols"), dst, proto, port):
                    continue
                if r["action"] == "Pass":
                    return None  # skips every further rule of the tier
                return r["action"] == "Accept"
        return None

    def _allowed(self, pod: str, other: str, dst: str, direction: str, proto: str, port: int,
                 family: int) -> bool:
        admin = self._tier("Admin", pod, other, dst, direction, proto, port, family)
        if admin is not None:
            return admin
        pols = self._selecting(pod, direction)
        if not pols:
            baseline = self._tier("Baseline", pod, other, dst, direction, proto, port, family)
            return True if baseline is None else baseline
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
