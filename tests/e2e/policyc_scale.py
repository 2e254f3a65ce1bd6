#!/usr/bin/env python3
"""How long `policyc matrix` and `policyc diff` take on a 1,000-pod cluster.

Generates a cluster (20 namespaces x 50 pods on 10 nodes, labels app/tier,
dual-stack) with about 40 NetworkPolicies of every kind (default denies, pod and
namespace selectors, ipBlocks, named ports, egress) and times:
  policyc matrix -o json --port 80/TCP            (1,000,000 cells)
  policyc matrix -o json (every declared port: 3 probes)
  policyc diff -o json --port 80/TCP               (one policy changed)
Prints the times; the target is <= 2 s for each (issue 13). Not a test:
a number to read (docs/performance.md style), e.g.

  python3 tests/e2e/policyc_scale.py build/bin/policyc [PODS]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

NAMESPACES = 20
NODES = 10
APPS = ("web", "api", "db", "cache", "queue")
TIERS = ("front", "back")


def cluster(pods: int) -> tuple[list[dict], list[dict]]:
    per_ns = pods // NAMESPACES
    objs = []
    for n in range(NAMESPACES):
        ns = f"ns{n:02d}"
        objs.append({"apiVersion": "v1", "kind": "Namespace",
                     "metadata": {"name": ns, "labels": {"team": f"t{n % 4}", "env": "prod" if n % 2 else "dev"}}})
        for p in range(per_ns):
            i = n * per_ns + p
            app = APPS[p % len(APPS)]
            objs.append({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"namespace": ns, "name": f"{app}-{p:03d}",
                             "labels": {"app": app, "tier": TIERS[p % 2]}},
                "spec": {"nodeName": f"node{i % NODES}", "containers": [{"name": "c", "ports": [
                    {"name": "http", "containerPort": 80}, {"name": "metrics", "containerPort": 9090},
                    {"name": "dns", "containerPort": 53, "protocol": "UDP"}]}]},
                "status": {"phase": "Running", "podIPs": [
                    {"ip": f"10.{i // 65536 + 1}.{i // 256 % 256}.{i % 256}"},
                    {"ip": f"fd00::{i:x}"}]},
            })
    policies = []
    for n in range(NAMESPACES):
        ns = f"ns{n:02d}"

        def pol(name, spec):
            policies.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                             "metadata": {"namespace": ns, "name": name}, "spec": spec})

        if n % 2 == 0:
            pol("default-deny", {"podSelector": {}, "policyTypes": ["Ingress"]})
        pol("web-from-team", {"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [
            {"from": [{"namespaceSelector": {"matchLabels": {"team": f"t{n % 4}"}}}],
             "ports": [{"port": "http"}]}]})
        if n % 3 == 0:
            pol("db-from-api", {"podSelector": {"matchLabels": {"app": "db"}}, "ingress": [
                {"from": [{"podSelector": {"matchLabels": {"app": "api"}}},
                          {"ipBlock": {"cidr": "10.1.0.0/20", "except": ["10.1.1.0/24"]}}]}],
                "egress": [{"to": [{"podSelector": {"matchExpressions": [
                    {"key": "app", "operator": "In", "values": ["cache", "queue"]}]}}],
                    "ports": [{"port": "http"}, {"port": 9090}]}],
                "policyTypes": ["Ingress", "Egress"]})
    return objs, policies


def timed(cmd: list[str]) -> tuple[float, int, int]:
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True)
    dt = time.monotonic() - t0
    if p.returncode not in (0, 3):
        sys.exit(f"{' '.join(cmd)}: exit {p.returncode}\n{p.stderr.decode()}")
    return dt, p.returncode, len(p.stdout)


def main() -> int:
    policyc = sys.argv[1]
    pods = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    objs, policies = cluster(pods)
    with tempfile.TemporaryDirectory(prefix="policyc-scale-") as tmp:
        before, after = os.path.join(tmp, "before"), os.path.join(tmp, "after")
        os.makedirs(before)
        os.makedirs(after)
        with open(os.path.join(before, "cluster.json"), "w") as f:
            json.dump({"apiVersion": "v1", "kind": "List", "items": objs + policies}, f)
        changed = json.loads(json.dumps(policies))
        changed[1]["spec"]["ingress"][0]["from"][0]["namespaceSelector"] = {"matchLabels": {"env": "prod"}}
        with open(os.path.join(after, "cluster.json"), "w") as f:
            json.dump({"apiVersion": "v1", "kind": "List", "items": objs + changed}, f)
        print(f"policyc_scale: {pods} pods, {len(policies)} NetworkPolicies, {NAMESPACES} namespaces, {NODES} nodes")
        worst = 0.0
        for what, cmd in (
            ("matrix -o json --port 80/TCP", [policyc, "matrix", "-f", before, "--port", "80/TCP", "-o", "json"]),
            ("matrix -o json (3 declared ports)", [policyc, "matrix", "-f", before, "-o", "json"]),
            ("matrix -o table --port 80/TCP", [policyc, "matrix", "-f", before, "--port", "80/TCP"]),
            ("diff -o json --port 80/TCP", [policyc, "diff", "--before", before, "--after", after,
                                            "--port", "80/TCP", "-o", "json"]),
        ):
            runs = [timed(cmd) for _ in range(3)]
            best = min(r[0] for r in runs)
            worst = max(worst, best)
            print(f"  {what:40} {best:6.3f} s  (best of 3; {runs[0][2] / 1e6:.1f} MB out, exit {runs[0][1]})")
        print(f"policyc_scale: slowest {worst:.3f} s (target <= 2 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
