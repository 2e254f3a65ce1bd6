#!/usr/bin/env python3
"""The audit log against real traffic in the lab (issue 6).

  audit_lab.py test  [--harness PATH] [--policyc PATH] [--topology routed|bridged]
  audit_lab.py bench [--harness PATH] [--seconds N]       cost of logging on allowed connections

Builds the lab's routed topology (tests/e2e/netlab), programs each node's
table through netlink and runs the audit listener there with
netpol-audit-harness (the Auditor wired as docs/audit-log.md says), one log
file per node. Checks, with real packets:
  - a denied connection is in the log within a second, both pod names, the
    right direction (ingress and egress);
  - an allowed connection is logged only where a policy or its namespace opts in;
  - a flood of 10,000 denied attempts gives at most the rate limit's worth of
    lines, and the rest as suppressed counts (lines + suppressed = 10,000);
  - after logrotate + SIGHUP lines go to the new file;
  - `policyc audit --summary` over the (rotated) log names the top flow;
  - an Admin and a Baseline ClusterNetworkPolicy Deny are logged naming
    their tier, CNP and rule, and `policyc audit --tier --cnp` selects them.

Binaries from --harness/--policyc, $NETPOL_AUDIT_HARNESS/$NETPOL_POLICYC, or
build/bin. Needs root; every namespace is nplab<pid>-... and removed on exit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from netlab import model, netns, topology  # noqa: E402
from netlab.probe import Probe, run_probes  # noqa: E402
from netlab.runner import Lab  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RATE, BURST = 10, 20  # nft::AuditOptions defaults

failures: list[str] = []


def check(cond: bool, what: str) -> None:
    print(f"{'ok  ' if cond else 'FAIL'} {what}", flush=True)
    if not cond:
        failures.append(what)


def _bin(arg: str | None, env: str, name: str) -> str:
    path = arg or os.environ.get(env) or os.path.join(REPO, "build", "bin", name)
    return os.path.abspath(path)


def cluster(ns_annotations: dict[str, dict[str, str]]) -> list[dict]:
    objs = model.cluster_objects()
    for o in objs:
        if o["kind"] == "Namespace" and o["metadata"]["name"] in ns_annotations:
            o["metadata"]["annotations"] = dict(ns_annotations[o["metadata"]["name"]])
    return objs


def annotate(policy: dict, value: str) -> dict:
    policy["metadata"]["annotations"] = {"netpol.io/audit": value}
    return policy


def scenario_policies() -> list[dict]:
    m = model
    return [
        # x/b (node2) takes no ingress: denied ingress lines on node2.
        m.netpol("deny-b", "x", m.match(pod="b"), ingress=[]),
        # y/a (node2) may send nothing: denied egress lines on node2.
        m.netpol("deny-egress-a", "y", m.match(pod="a"), egress=[]),
        # x/c (node1) from x/a on 80, logged (policy opts in).
        annotate(m.netpol("allow-c-logged", "x", m.match(pod="c"),
                          ingress=[m.rule([m.peer(pods=m.match(pod="a"))], [m.port(80)])]), "all"),
        # z/c (node1) from any a on 80; namespace z says "all", the policy says "deny".
        annotate(m.netpol("allow-c-quiet", "z", m.match(pod="c"),
                          ingress=[m.rule([m.peer(pods=m.match(pod="a"), namespaces=m.match())],
                                          [m.port(80)])]), "deny"),
    ]


def scenario_cnps() -> list[dict]:
    """An Admin Deny in front of z/b (node2) and a Baseline Deny for y/c (node2,
    which no NetworkPolicy isolates): their lines name tier, CNP and rule."""
    def cnp(name: str, tier: str, pod: str, rule: dict) -> dict:
        ns, name_ = pod.split("/")
        return {"apiVersion": "policy.networking.k8s.io/v1alpha2", "kind": "ClusterNetworkPolicy",
                "metadata": {"name": name},
                "spec": {"tier": tier, "priority": 5,
                         "subject": {"pods": {"namespaceSelector": model.match(**{"kubernetes.io/metadata.name": ns}),
                                              "podSelector": model.match(pod=name_)}},
                         "ingress": [rule]}}
    from_x_a = {"pods": {"namespaceSelector": model.match(**{"kubernetes.io/metadata.name": "x"}),
                         "podSelector": model.match(pod="a")}}
    return [
        cnp("audit-guard", "Admin", "z/b", {"name": "deny-x-a-81", "action": "Deny", "from": [from_x_a],
                                            "protocols": [{"tcp": {"destinationPort": {"number": 81}}}]}),
        cnp("audit-baseline", "Baseline", "y/c", {"name": "deny-x", "action": "Deny", "from": [
            {"namespaces": model.match(**{"kubernetes.io/metadata.name": "x"})}]}),
    ]


class Harness:
    """netpol-audit-harness in one node namespace."""

    def __init__(self, exe: str, node: str, node_ns: str, inputs: str, log: str) -> None:
        self.log = log
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", node_ns, exe, "--node", node, "-f", inputs, "--log", log],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            err = self.proc.stderr.read() if self.proc.poll() is not None else ""
            raise RuntimeError(f"harness on {node} did not start: {line!r} {err}")

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            _, err = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return err.strip()


def read_log(path: str) -> list[dict]:
    out = []
    try:
        with open(path) as f:
            for line in f:
                out.append(json.loads(line))
    except FileNotFoundError:
        pass
    return out


def is_conn(j: dict, verdict: str, direction: str, src: str, dst: str, port: int, proto: str) -> bool:
    def name(e):
        return f"{e.get('namespace')}/{e.get('pod')}"
    return (j.get("event") == "connection" and j["verdict"] == verdict and j["direction"] == direction
            and name(j["src"]) == src and name(j["dst"]) == dst and j["dst"]["port"] == port
            and j["protocol"] == proto)


async def wait_for(path: str, pred, timeout: float) -> tuple[dict | None, float]:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        for j in read_log(path):
            if pred(j):
                return j, time.monotonic() - t0
        await asyncio.sleep(0.02)
    return None, time.monotonic() - t0


async def probe(lab, src: str, dst: str, proto: str = "TCP", port: int = 80, timeout: float = 1.0,
                family: int = 4) -> bool:
    p = Probe(src, lab.topo.pod_ns[src], dst, family, proto, port)
    got = await run_probes(lab.factory, [p], timeout)
    return got[p].allowed


FLOOD = r"""
import socket, sys, time
dst, n = sys.argv[1], int(sys.argv[2])
t0 = time.monotonic()
for i in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    # Its own source port each time: a new attempt (a port the kernel picked
    # twice would make two logged attempts one, by the listener's dedupe).
    s.bind(("0.0.0.0", 20000 + i))
    s.sendto(b"x", (dst, 80))
    s.close()
print(time.monotonic() - t0)
"""


def make_lab(registry: netns.NetnsRegistry, kind: str = "routed") -> Lab:
    """The lab of runner.py (topology, probe servers), driven here by hand."""
    return Lab(kind, registry, netns.SocketFactory())


def write_inputs(work: str, objs: list[dict]) -> None:
    with open(os.path.join(work, "cluster.yaml"), "w") as f:
        f.write(model.as_yaml(objs))


async def run_test(args) -> int:
    harness_exe = _bin(args.harness, "NETPOL_AUDIT_HARNESS", "netpol-audit-harness")
    policyc = _bin(args.policyc, "NETPOL_POLICYC", "policyc")
    lab = make_lab(args.registry, args.topology)
    work = tempfile.mkdtemp(prefix="netpol-audit-lab-")
    harnesses: dict[str, Harness] = {}
    try:
        await lab.up()
        write_inputs(work, cluster({"z": {"netpol.io/audit": "all"}}) + scenario_policies() + scenario_cnps())
        logs = {n: os.path.join(work, f"{n}.log") for n in model.NODES}
        for n in model.NODES:
            harnesses[n] = Harness(harness_exe, n, lab.topo.node_ns[n], work, logs[n])
        subprocess.run(["ip", "netns", "exec", lab.topo.node_ns["node2"], "conntrack", "-F"],
                       capture_output=True)

        # 1. Denied, ingress: x/a (node1) -> x/b (node2), logged by node2.
        allowed = await probe(lab, "x/a", "x/b")
        line, _ = await wait_for(logs["node2"], lambda j: is_conn(j, "deny", "ingress", "x/a", "x/b", 80, "TCP"), 3)
        check(not allowed, "x/a -> x/b tcp/80 is denied")
        check(line is not None, "denied ingress x/a -> x/b is in node2's log with both pod names")
        if line:
            check(line["isolated_by"] == ["x/deny-b"] and line["policies"] == [] and line["node"] == "node2",
                  "... naming the isolating policy and no allowing one")

        # 1b. Within a second: a fresh attempt and the time until its line is in the file.
        # x/c talks to x/a first so its gateway's address is resolved: a routed
        # pod's first packet waits for a proxy-ARP answer (proxy_delay, up to
        # 0.8 s), which is the lab's latency, not the audit log's.
        await probe(lab, "x/c", "x/a")
        task = asyncio.ensure_future(probe(lab, "x/c", "x/b", timeout=2.0))
        line, took = await wait_for(logs["node2"], lambda j: is_conn(j, "deny", "ingress", "x/c", "x/b", 80, "TCP"), 3)
        await task
        check(line is not None and took <= 1.0, f"a denied attempt is logged {took:.2f}s after it was made (<= 1 s)")

        # 1c. IPv6: the same denial over IPv6 names the same pods.
        v6 = model.pod_ip("x/a", 6)
        await probe(lab, "x/a", "x/b", family=6)
        line, _ = await wait_for(logs["node2"], lambda j: is_conn(j, "deny", "ingress", "x/a", "x/b", 80, "TCP")
                                 and j["src"]["ip"] == v6, 2)
        check(line is not None and line["dst"]["ip"] == model.pod_ip("x/b", 6),
              "a denied IPv6 attempt is logged with both IPv6 addresses and pod names")

        # 2. Denied, egress: y/a (node2) -> z/b (node2), by y/a's egress chain.
        allowed = await probe(lab, "y/a", "z/b")
        line, took = await wait_for(logs["node2"], lambda j: is_conn(j, "deny", "egress", "y/a", "z/b", 80, "TCP"), 2)
        check(not allowed and line is not None, "denied egress y/a -> z/b is logged as direction egress")

        # 3. Allowed: logged only where opted in.
        ok1 = await probe(lab, "x/a", "x/c")
        ok2 = await probe(lab, "x/a", "z/c")
        check(ok1 and ok2, "x/a -> x/c and x/a -> z/c tcp/80 are allowed")
        line, _ = await wait_for(logs["node1"], lambda j: is_conn(j, "allow", "ingress", "x/a", "x/c", 80, "TCP"), 2)
        check(line is not None and line["policies"] == ["x/allow-c-logged"] and line["rule"]["index"] == 0,
              "allowed x/a -> x/c is logged (policy netpol.io/audit: all), naming policy and rule")
        await asyncio.sleep(0.5)
        quiet = [j for j in read_log(logs["node1"]) if j.get("event") == "connection" and j["dst"].get("pod") == "c"
                 and j["dst"].get("namespace") == "z"]
        check(not quiet, "allowed x/a -> z/c is not logged (policy says deny over its namespace's all)")

        # 4. Flood: 10,000 denied attempts x/a -> x/b udp/80.
        out = subprocess.run(["ip", "netns", "exec", lab.topo.pod_ns["x/a"], sys.executable, "-c", FLOOD,
                              model.pod_ip("x/b", 4), "10000"], capture_output=True, text=True, check=True)
        flood_s = float(out.stdout.strip())

        def flood_lines():
            lines = [j for j in read_log(logs["node2"]) if is_conn(j, "deny", "ingress", "x/a", "x/b", 80, "UDP")]
            supp = sum(j["count"] for j in read_log(logs["node2"]) if j.get("event") == "suppressed"
                       and j["pod"] == {"namespace": "x", "pod": "b"} and j["verdict"] == "deny")
            return lines, supp
        deadline = time.monotonic() + 8
        lines, supp = flood_lines()
        while len(lines) + supp < 10000 and time.monotonic() < deadline:
            await asyncio.sleep(0.25)
            lines, supp = flood_lines()
        limit = BURST + RATE * (int(flood_s) + 1)
        print(f"     flood: 10000 attempts in {flood_s:.2f}s -> {len(lines)} lines, {supp} suppressed", flush=True)
        check(len(lines) <= limit, f"flood logged at most the rate limit's worth ({len(lines)} <= {limit})")
        check(len(lines) + supp == 10000, f"lines + suppressed count = every attempt ({len(lines)} + {supp})")

        # 5. logrotate: move the file away, SIGHUP, the next line goes to a new file.
        os.rename(logs["node2"], logs["node2"] + ".1")
        harnesses["node2"].signal(signal.SIGHUP)
        await asyncio.sleep(0.5)
        await probe(lab, "z/a", "x/b")
        line, _ = await wait_for(logs["node2"], lambda j: is_conn(j, "deny", "ingress", "z/a", "x/b", 80, "TCP"), 3)
        check(line is not None, "after rotation and SIGHUP the listener writes to the new file")

        # 6. policyc audit --summary over the log and its rotated predecessor.
        out = subprocess.run([policyc, "audit", "--summary", logs["node2"]], capture_output=True, text=True)
        print("\n".join("     " + l for l in out.stdout.splitlines()[:4]), flush=True)
        flows = [l for l in out.stdout.splitlines() if "->" in l]
        check(out.returncode == 0 and bool(flows) and "x/a -> x/b:80/UDP (deny, ingress)" in flows[0],
              "policyc audit --summary names the flood as the top flow")
        check("suppressed" in out.stdout and "x/b ingress (deny)" in out.stdout,
              "... and reports the suppressed attempts")
        out = subprocess.run([policyc, "audit", "--pod", "x/(a|c)", "--direction", "ingress", "--verdict", "deny",
                              "--protocol", "TCP", "-o", "json", logs["node2"]], capture_output=True, text=True)
        got = [json.loads(l) for l in out.stdout.splitlines()]
        check(bool(got) and all(j["verdict"] == "deny" and j["protocol"] == "TCP" for j in got)
              and {f"{j['src']['namespace']}/{j['src']['pod']}" for j in got} == {"x/a", "x/c"},
              "policyc audit filters (RE2 pod, direction, verdict, protocol) select exactly the TCP denials")

        # 7. ClusterNetworkPolicy verdicts name tier, cnp/NAME and rule.
        allowed = await probe(lab, "x/a", "z/b", port=81)
        line, _ = await wait_for(logs["node2"], lambda j: is_conn(j, "deny", "ingress", "x/a", "z/b", 81, "TCP"), 3)
        check(not allowed and line is not None, "x/a -> z/b tcp/81 is denied by an Admin CNP and logged")
        if line:
            check(line["schema_version"] == 2 and line["tier"] == "Admin"
                  and line["cnp"] == {"name": "audit-guard", "rule": "deny-x-a-81", "index": 0}
                  and line["policies"] == [],
                  f"... as tier Admin, cnp audit-guard, rule deny-x-a-81: {line.get('tier')} {line.get('cnp')}")
        allowed = await probe(lab, "x/a", "y/c")
        line, _ = await wait_for(logs["node2"], lambda j: is_conn(j, "deny", "ingress", "x/a", "y/c", 80, "TCP"), 3)
        check(not allowed and line is not None, "x/a -> y/c tcp/80 is denied by a Baseline CNP and logged")
        if line:
            check(line["tier"] == "Baseline" and line["cnp"] == {"name": "audit-baseline", "rule": "deny-x", "index": 0}
                  and line["isolated_by"] == [],
                  f"... as tier Baseline, cnp audit-baseline, rule deny-x: {line.get('tier')} {line.get('cnp')}")
        out = subprocess.run([policyc, "audit", "--tier", "Admin", "--cnp", "audit-.*", "-o", "json", logs["node2"]],
                             capture_output=True, text=True)
        got = [json.loads(l) for l in out.stdout.splitlines()]
        check(bool(got) and all(j["tier"] == "Admin" and j["cnp"]["name"] == "audit-guard" for j in got),
              "policyc audit --tier Admin --cnp selects exactly the Admin CNP's lines")
    finally:
        for n, h in harnesses.items():
            print(f"     {n}: {h.stop()}", flush=True)
        await lab.down()
        lab.factory.close()
        subprocess.run(["rm", "-rf", work])
    print(f"\naudit lab: {'all checks passed' if not failures else f'{len(failures)} checks failed'}", flush=True)
    return 1 if failures else 0


BENCH_SERVER = r"""
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 8080)); s.listen(4096)
print("up", flush=True)
while True:
    c, _ = s.accept(); c.close()
"""

BENCH_CLIENT = r"""
import socket, sys, time
dst, seconds = sys.argv[1], float(sys.argv[2])
n = 0
end = time.monotonic() + seconds
while time.monotonic() < end:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.connect((dst, 8080)); s.close(); n += 1
print(n / seconds)
"""


async def run_bench(args) -> int:
    """Allowed connections per second x/a -> x/c (both on node1) with: no table,
    netpol rules without allow-logging, and with netpol.io/audit: all."""
    harness_exe = _bin(args.harness, "NETPOL_AUDIT_HARNESS", "netpol-audit-harness")
    # The compiled client next to the harness, else the Python one.
    connbench = os.path.join(os.path.dirname(harness_exe), "netpol-audit-connbench")
    if os.access(connbench, os.X_OK):
        server_cmd = [connbench, "server", model.pod_ip("x/c", 4), "8080"]
        client_cmd = [connbench, "client", model.pod_ip("x/c", 4), "8080", str(args.seconds)]
    else:
        server_cmd = [sys.executable, "-c", BENCH_SERVER, model.pod_ip("x/c", 4)]
        client_cmd = [sys.executable, "-c", BENCH_CLIENT, model.pod_ip("x/c", 4), str(args.seconds)]
    print(f"client: {client_cmd[0]}", flush=True)
    lab = make_lab(args.registry)
    work = tempfile.mkdtemp(prefix="netpol-audit-bench-")
    results: dict[str, list[float]] = {}
    server = None
    try:
        await lab.up()
        server = subprocess.Popen(["ip", "netns", "exec", lab.topo.pod_ns["x/c"], *server_cmd],
                                  stdout=subprocess.PIPE, text=True)
        server.stdout.readline()
        m = model
        allow = m.netpol("allow-bench", "x", m.match(pod="c"),
                         ingress=[m.rule([m.peer(pods=m.match(pod="a"))], [m.port(8080)])])
        configs = {
            "no netpol table": None,
            "policy, deny logging only": [allow],
            "policy, netpol.io/audit: all": [annotate(json.loads(json.dumps(allow)), "all")],
        }
        # Configurations interleaved run by run, so a machine shared with other
        # work slows them all alike rather than whichever ran during a busy spell.
        for _ in range(args.runs):
            for label, policies in configs.items():
                h = None
                if policies is not None:
                    write_inputs(work, cluster({}) + policies)
                    h = Harness(harness_exe, "node1", lab.topo.node_ns["node1"], work,
                                os.path.join(work, "bench.log"))
                out = subprocess.run(["ip", "netns", "exec", lab.topo.pod_ns["x/a"], *client_cmd],
                                     capture_output=True, text=True, check=True)
                results.setdefault(label, []).append(float(out.stdout.split()[0]))
                if h:
                    print(f"     {label}: {h.stop()}", flush=True)
                subprocess.run(["ip", "netns", "exec", lab.topo.node_ns["node1"], "nft", "delete", "table", "inet",
                                "netpol"], capture_output=True)
    finally:
        if server:
            server.kill()
            server.wait()
        await lab.down()
        lab.factory.close()
        subprocess.run(["rm", "-rf", work])
    base = results["no netpol table"]
    print(f"\nallowed TCP connections/s x/a -> x/c (same node), median of {args.runs} x {args.seconds}s:")
    for label, rates in results.items():
        med = statistics.median(rates)
        # Paired with the baseline of the same round (the rounds interleave).
        paired = statistics.median(r / b for r, b in zip(rates, base))
        print(f"  {label:32} {med:9.0f}/s  (paired median {(paired - 1) * 100:+.1f}% vs no table)  runs: "
              + " ".join(f"{r:.0f}" for r in rates))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("test")
    t.add_argument("--harness")
    t.add_argument("--policyc")
    t.add_argument("--topology", default="routed", choices=topology.TOPOLOGIES)
    b = sub.add_parser("bench")
    b.add_argument("--harness")
    b.add_argument("--seconds", type=float, default=3.0)
    b.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("audit_lab.py: needs root", file=sys.stderr)
        return 2

    async def amain(registry: netns.NetnsRegistry) -> int:
        args.registry = registry
        return await (run_test(args) if args.cmd == "test" else run_bench(args))

    return netns.run_lab("audit_lab.py", amain)


if __name__ == "__main__":
    sys.exit(main())
