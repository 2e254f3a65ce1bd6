"""The lab driven live: a fake API server, one netpol-agent per node, kubectl.

LiveLab is the lab (same topologies, pods, servers, probes and case tables)
with the rules arriving the way they do in a cluster: a "control plane"
namespace runs build/bin/fake-apiserver and is linked by a veth to each node
namespace; each node runs

    ip netns exec <node> netpol-agent --kubeconfig <node kubeconfig> \\
        --node-name nodeN --metrics-addr <node's control-plane address>:9809

so the agent reaches the API server over the node's own network, like a
DaemonSet pod with hostNetwork. A phase is applied with kubectl from the
control-plane namespace (create, label --overwrite, replace, delete), and the
lab then waits until every agent's /metrics reports
netpol_synced_resource_version at or past the API server's resourceVersion
after the writes: the agents' own statement that the new state is in the
kernel. Then conntrack is reset and the matrix probed as usual.

Agents get PR_SET_PDEATHSIG, so they die with the lab process; everything
else (namespaces) is removed by the registry as in the policyc lab.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

from . import model, topology
from .runner import Lab, LabError, Phase, _exec

API_PORT = 6443
METRICS_PORT = 9809
_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent() -> None:
    # Runs in the child between fork and exec; the signal survives exec.
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def cp_addr(node: str) -> str:
    """Control-plane side of the link to `node` (the API server's address for it)."""
    return f"172.31.{int(node[-1])}.1"


def node_cp_addr(node: str) -> str:
    """Node side of its control-plane link: where its agent serves /metrics."""
    return f"172.31.{int(node[-1])}.2"


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text -> {'name{labels}': value} (labels as printed)."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        try:
            out[key] = float(value)
        except ValueError:
            continue
    return out


@dataclass
class AgentProc:
    node: str
    proc: subprocess.Popen
    log_path: str
    starts: int = 1


@dataclass
class Applied:
    """What the lab has written to the API server so far."""

    ns_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    pod_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    policies: dict[str, dict] = field(default_factory=dict)  # "ns/name" or "cnp/NAME" -> object
    files: list[str] = field(default_factory=list)


class LiveLab(Lab):
    """The lab with a fake API server and one netpol-agent per node."""

    def __init__(self, kind, registry, factory, agent: str, apiserver: str, timeout: float = 0.5,
                 verbose: bool = False, kubectl: str = "kubectl", agent_args: list[str] | None = None):
        super().__init__(kind, registry, factory, None, timeout, verbose)
        self.agent_bin = agent
        # netpol-cni, built next to the agent unless $NETPOL_CNI says otherwise.
        self.cni_bin = os.environ.get("NETPOL_CNI") or os.path.join(os.path.dirname(agent), "netpol-cni")
        self.apiserver_bin = apiserver
        self.kubectl_bin = kubectl
        self.agent_args = agent_args or []
        self.cp_ns = ""
        self.work = ""
        self.api: subprocess.Popen | None = None
        self.agents: dict[str, AgentProc] = {}
        self.applied = Applied()
        self.had_cnps = False  # the API server may hold ClusterNetworkPolicies
        self.last_wait_s = 0.0
        self.last_enforced = ""
        self.show_latency = False
        self.keep = False  # keep the work dir (logs, kubeconfigs) after down()

    # --- bring-up -------------------------------------------------------------------

    async def up(self) -> None:
        t0 = time.monotonic()
        self.topo = await asyncio.to_thread(topology.build, self.kind, self.registry)
        for attempt in range(50):
            try:
                await self.servers.start(self.topo.pod_ns, self.node_addrs())
                break
            except OSError as e:
                # On a loaded machine a fresh IPv6 address can take a moment
                # to become bindable; anything else is a real failure.
                await self.servers.stop()
                if e.errno != errno.EADDRNOTAVAIL or attempt == 49:
                    raise
                await asyncio.sleep(0.1)
        print(f"lab: {self.kind} topology up in {time.monotonic() - t0:.1f}s "
              f"({len(self.topo.all_ns())} namespaces, prefix {self.registry.prefix})", flush=True)
        t0 = time.monotonic()
        self.work = tempfile.mkdtemp(prefix=f"netlab-live-{self.kind}-")
        self.cp_ns = self.registry.add(f"{self.kind[0]}-cp")
        lines = ["link set lo up"]
        for node in model.NODES:
            n = node[-1]
            lines.append(f"link add n{n} type veth peer name cp0 netns {self.topo.node_ns[node]}")
            lines += [f"addr add {cp_addr(node)}/24 dev n{n}", f"link set n{n} up"]
        await self._ip_batch(self.cp_ns, lines)
        for node in model.NODES:
            await self._ip_batch(self.topo.node_ns[node],
                                 [f"addr add {node_cp_addr(node)}/24 dev cp0", "link set cp0 up"])
        port_file = os.path.join(self.work, "api.port")
        await self._make_credentials()
        self.api = subprocess.Popen(
            ["ip", "netns", "exec", self.cp_ns, self.apiserver_bin, "--listen", f"0.0.0.0:{API_PORT}",
             "--tls-cert", self._file("server.crt"), "--tls-key", self._file("server.key"),
             "--token-file", self._file("token"),
             "--keep-pod-status", "--bookmark-interval-ms", "100", "--port-file", port_file],
            stdout=open(os.path.join(self.work, "apiserver.log"), "w"), stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent)
        for _ in range(200):
            if os.path.exists(port_file):
                break
            if self.api.poll() is not None:
                raise LabError(f"fake-apiserver exited ({self.api.returncode}); see {self.work}/apiserver.log")
            await asyncio.sleep(0.02)
        self._write_kubeconfigs()
        cluster = os.path.join(self.work, "cluster.yaml")
        with open(cluster, "w") as f:
            f.write(model.as_yaml(model.cluster_objects() + self.node_objects()))
        await self.kubectl("create", "-f", cluster)
        self.applied = Applied(ns_labels={ns: {} for ns in model.NAMESPACES},
                               pod_labels={p: {} for p in model.PODS})
        for node in model.NODES:
            self.start_agent(node)
        await self.wait_synced(timeout=30)
        print(f"live: API server in {self.cp_ns}, agents on {', '.join(model.NODES)} ready in "
              f"{time.monotonic() - t0:.1f}s (logs in {self.work})", flush=True)

    async def down(self) -> None:
        for a in self.agents.values():
            if a.proc.poll() is None:
                a.proc.send_signal(signal.SIGTERM)
        for a in self.agents.values():
            try:
                await asyncio.to_thread(a.proc.wait, 10)
            except subprocess.TimeoutExpired:
                a.proc.kill()
        self.agents.clear()
        if self.api and self.api.poll() is None:
            self.api.terminate()
            try:
                await asyncio.to_thread(self.api.wait, 10)
            except subprocess.TimeoutExpired:
                self.api.kill()
        self.audit_counts = self.audit_connection_lines()
        if self.work and not self.keep:
            shutil.rmtree(self.work, ignore_errors=True)
        elif self.work:
            print(f"live: logs kept in {self.work}", flush=True)
        if self.cp_ns:
            self.factory.forget(self.cp_ns)
            await asyncio.to_thread(self.registry.remove, [self.cp_ns])
            self.cp_ns = ""
        await super().down()

    async def _ip_batch(self, ns: str, lines: list[str]) -> None:
        rc, out, err = await _exec(["ip", "-n", ns, "-b", "-"], "\n".join(lines) + "\n")
        if rc != 0:
            raise LabError(f"ip -n {ns} -b failed: {err}{out}")

    def _file(self, name: str) -> str:
        return os.path.join(self.work, name)

    async def _make_credentials(self) -> None:
        """A throwaway CA, a server certificate for every control-plane address
        and a bearer token: the agents talk HTTPS with a token, as a DaemonSet's
        service account does."""
        san = ",".join(["IP:127.0.0.1"] + [f"IP:{cp_addr(n)}" for n in model.NODES])
        with open(self._file("server.ext"), "w") as f:
            f.write(f"subjectAltName={san}\n")
        with open(self._file("token"), "w") as f:
            f.write(os.urandom(16).hex() + "\n")
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        steps = [
            ["openssl", "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
             "-subj", "/CN=netlab-ca"],
            ["openssl", "req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=fake-apiserver"],
            ["openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "server.ext"],
        ]
        for cmd in steps:
            proc = await asyncio.create_subprocess_exec(*cmd, cwd=self.work, stdout=asyncio.subprocess.PIPE,
                                                        stderr=asyncio.subprocess.STDOUT)
            out, _ = await proc.communicate()
            if proc.returncode != 0:
                raise LabError(f"{' '.join(cmd)} failed: {out.decode(errors='replace')}")

    def _kubeconfig(self, server: str) -> str:
        # JSON is YAML; kubectl and the agent both read it.
        return json.dumps({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "lab", "cluster": {"server": server,
                                                      "certificate-authority": self._file("ca.crt")}}],
            "users": [{"name": "lab", "user": {"tokenFile": self._file("token")}}],
            "contexts": [{"name": "lab", "context": {"cluster": "lab", "user": "lab"}}],
            "current-context": "lab"}, indent=1)

    def _write_kubeconfigs(self) -> None:
        with open(os.path.join(self.work, "cp.kubeconfig"), "w") as f:
            f.write(self._kubeconfig(f"https://127.0.0.1:{API_PORT}"))
        for node in model.NODES:
            with open(os.path.join(self.work, f"{node}.kubeconfig"), "w") as f:
                f.write(self._kubeconfig(f"https://{cp_addr(node)}:{API_PORT}"))

    def start_agent(self, node: str) -> AgentProc:
        log_path = os.path.join(self.work, f"agent-{node}.log")
        prev = self.agents.get(node)
        cmd = ["ip", "netns", "exec", self.topo.node_ns[node], self.agent_bin,
               "--kubeconfig", os.path.join(self.work, f"{node}.kubeconfig"),
               "--node-name", node, "--metrics-addr", f"{node_cp_addr(node)}:{METRICS_PORT}",
               "--audit-log", os.path.join(self.work, f"audit-{node}.log"),
               # Every node but the first logs through a non-default NFLOG group:
               # the rules and the listener must both follow the flag, or that
               # node's audit log stays empty and the run fails (audit-log check).
               *(["--audit-nflog-group", "101"] if node != model.NODES[0] else []),
               # One netpol-cni socket per node (the namespaces share the
               # filesystem); its bindings file lives next to it.
               "--cni-socket", self.cni_socket(node),
               *self.agent_args]
        proc = subprocess.Popen(cmd, stdout=open(log_path, "a"), stderr=subprocess.STDOUT,
                                preexec_fn=_die_with_parent)
        a = AgentProc(node, proc, log_path, (prev.starts + 1) if prev else 1)
        self.agents[node] = a
        return a

    def cni_socket(self, node: str) -> str:
        return os.path.join(self.work, f"cni-{node}.sock")

    def audit_connection_lines(self) -> dict[str, dict[str, int]]:
        """Per node, the agent's audit log "connection" lines by verdict (the
        agents run with --audit-log in the work directory)."""
        counts: dict[str, dict[str, int]] = {}
        for node in model.NODES:
            c = {"deny": 0, "allow": 0}
            try:
                with open(os.path.join(self.work, f"audit-{node}.log")) as f:
                    for line in f:
                        try:
                            rec = json.loads(line)
                        except ValueError:
                            continue
                        if rec.get("event") == "connection" and rec.get("verdict") in c:
                            c[rec["verdict"]] += 1
            except OSError:
                pass
            counts[node] = c
        return counts

    def kill_agent(self, node: str, sig: int = signal.SIGKILL) -> None:
        a = self.agents[node]
        a.proc.send_signal(sig)
        a.proc.wait(10)

    # --- the API server and the agents ----------------------------------------------

    async def kubectl(self, *args: str, input_text: str | None = None) -> str:
        if args and args[0] == "delete":
            # The fake deletes at once; kubectl's wait would poll per object.
            args = ("delete", "--wait=false", *args[1:])
        cmd = ["ip", "netns", "exec", self.cp_ns, self.kubectl_bin,
               "--kubeconfig", os.path.join(self.work, "cp.kubeconfig"), *args]
        rc, out, err = await _exec(cmd, input_text)
        if rc != 0:
            raise LabError(f"kubectl {' '.join(args)} failed ({rc}): {err}{out}")
        return out

    async def resource_version(self) -> int:
        """The API server's current resourceVersion (a list's is the latest write's)."""
        out = await self.kubectl("get", "--raw", "/api/v1/namespaces?limit=1")
        return int(json.loads(out)["metadata"]["resourceVersion"])

    async def http_get(self, node: str, path: str, timeout: float = 2.0) -> tuple[int, str]:
        """GET from the agent on `node`, over the control-plane link."""
        import socket as _socket
        [s] = await self.factory.sockets(self.cp_ns, [(_socket.AF_INET, _socket.SOCK_STREAM)])
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(loop.sock_connect(s, (node_cp_addr(node), METRICS_PORT)), timeout)
            await loop.sock_sendall(s, f"GET {path} HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n".encode())
            chunks = []
            while True:
                data = await asyncio.wait_for(loop.sock_recv(s, 65536), timeout)
                if not data:
                    break
                chunks.append(data)
        finally:
            s.close()
        raw = b"".join(chunks).decode(errors="replace")
        head, _, body = raw.partition("\r\n\r\n")
        m = re.match(r"HTTP/1\.[01] (\d+)", head)
        if not m:
            raise LabError(f"agent on {node}: no HTTP answer to {path}")
        if "transfer-encoding: chunked" in head.lower():
            body = _dechunk(body)
        return int(m.group(1)), body

    async def metrics(self, node: str) -> dict[str, float]:
        code, body = await self.http_get(node, "/metrics")
        if code != 200:
            raise LabError(f"agent on {node}: /metrics answered {code}")
        return parse_metrics(body)

    async def wait_synced(self, rv: int | None = None, timeout: float = 20.0) -> float:
        """Waits until every agent enforces everything up to `rv` (default: now)."""
        if rv is None:
            rv = await self.resource_version()
        t0 = time.monotonic()
        pending = set(model.NODES)
        last: dict[str, str] = {}
        while pending:
            for node in list(pending):
                a = self.agents[node]
                if a.proc.poll() is not None:
                    raise LabError(f"agent on {node} exited ({a.proc.returncode}); see {a.log_path}")
                try:
                    m = await self.metrics(node)
                except (OSError, asyncio.TimeoutError, LabError) as e:
                    last[node] = str(e) or type(e).__name__
                    continue
                got = m.get("netpol_synced_resource_version", 0)
                last[node] = f"synced_resource_version={got:.0f}, want {rv}"
                if got >= rv:
                    pending.discard(node)
            if not pending:
                break
            if time.monotonic() - t0 > timeout:
                raise LabError("agents did not report the new state applied within "
                               f"{timeout:.0f}s: " + "; ".join(f"{n}: {last.get(n)}" for n in sorted(pending)))
            await asyncio.sleep(0.02)
        self.last_wait_s = time.monotonic() - t0
        return self.last_wait_s

    # --- phases through the API -----------------------------------------------------

    async def apply_phase(self, phase: Phase) -> None:
        """Writes the phase's cluster state through kubectl (only what differs)."""
        cur = self.applied
        # Labels are compared whole (base labels plus the phase's extras), so
        # an extra that overrode a base label is restored, not removed.
        for ns in model.NAMESPACES:
            want = phase.ns_labels.get(ns, {})
            args = _label_args(model.namespace_object(ns, cur.ns_labels.get(ns))["metadata"]["labels"],
                               model.namespace_object(ns, want)["metadata"]["labels"])
            if args:
                await self.kubectl("label", "namespace", ns, "--overwrite", *args)
                cur.ns_labels[ns] = dict(want)
        for pod in model.PODS:
            want = phase.pod_labels.get(pod, {})
            args = _label_args(model.pod_object(pod, cur.pod_labels.get(pod))["metadata"]["labels"],
                               model.pod_object(pod, want)["metadata"]["labels"])
            if args:
                ns, name = pod.split("/")
                await self.kubectl("label", "pod", "-n", ns, name, "--overwrite", *args)
                cur.pod_labels[pod] = dict(want)
        # NetworkPolicies by namespace/name, ClusterNetworkPolicies by cnp/NAME.
        want_pols = {model.policy_key(p): p for p in phase.policies}
        gone: dict[str, list[str]] = {}
        for key in sorted(set(cur.policies) - set(want_pols)):
            ns, name = key.split("/")
            gone.setdefault(ns, []).append(name)
        for ns, names in gone.items():
            if ns == "cnp":
                await self.kubectl("delete", "clusternetworkpolicy", *names)
            else:
                await self.kubectl("delete", "networkpolicy", "-n", ns, *names)
        for f in [f for f in cur.files if f not in phase.files]:
            await self.kubectl("delete", "-f", f)
            cur.files.remove(f)
        new = [p for k, p in want_pols.items() if k not in cur.policies]
        changed = [p for k, p in want_pols.items() if k in cur.policies and cur.policies[k] != p]
        if new:
            await self.kubectl("create", "-f", "-", input_text=model.as_yaml(_no_uid(new)))
        if changed:
            await self.kubectl("replace", "-f", "-", input_text=model.as_yaml(_no_uid(changed)))
        cur.policies = dict(want_pols)
        for f in [f for f in phase.files if f not in cur.files]:
            await self.kubectl("create", "-f", f)
            cur.files.append(f)
        await self.check_cnps(phase)

    async def check_cnps(self, phase: Phase) -> None:
        """The API server holds exactly the phase's ClusterNetworkPolicies (tables'
        and recipe files'), as `kubectl get cnp` lists them."""
        want = sorted({p["metadata"]["name"] for p in phase.policies if p["kind"] == "ClusterNetworkPolicy"}
                      | {n for f in phase.files for n in _cnp_names(f)})
        if not want and not self.had_cnps:
            return
        self.had_cnps = bool(want)
        out = await self.kubectl("get", "cnp", "-o", "name")
        got = sorted(line.rpartition("/")[2] for line in out.split())
        if got != want:
            raise LabError(f"kubectl get cnp lists {got}, the phase has {want}")
        if self.verbose and want:
            print("    kubectl get cnp:\n" + "\n".join("      " + line for line in
                                                     (await self.kubectl("get", "cnp")).splitlines()))

    async def latency_snapshot(self) -> dict[str, dict[str, float]]:
        return {node: await self.metrics(node) for node in model.NODES}

    async def load(self, phase: Phase) -> dict[str, str]:
        if phase.nft is not None:
            raise LabError("live lab: hand-written nft phases belong to the self-test")
        before = await self.latency_snapshot()
        t0 = time.monotonic()
        await self.apply_phase(phase)
        await self.wait_synced()
        wall = time.monotonic() - t0
        after = await self.latency_snapshot()
        self.last_enforced = describe_latency(before, after, wall)
        if self.show_latency:
            print(f"    {self.last_enforced}", flush=True)
        tables = {}
        for node in model.NODES:
            rc, out, err = await _exec(["ip", "netns", "exec", self.topo.node_ns[node],
                                        "nft", "list", "table", "inet", "netpol"])
            if rc != 0:
                raise LabError(f"nft list table in {node} failed: {err}")
            tables[node] = out
        self.last_scripts = tables
        return tables


_LAT = "netpol_event_to_kernel_seconds"


def describe_latency(before: dict[str, dict[str, float]], after: dict[str, dict[str, float]],
                     wall: float) -> str:
    """One line: kubectl-to-enforced wall time and each agent's event->kernel latency."""
    parts = []
    for node in model.NODES:
        b, a = before[node], after[node]
        n = a.get(f"{_LAT}_count", 0) - b.get(f"{_LAT}_count", 0)
        if n <= 0:
            parts.append(f"{node}: no rule change")
            continue
        avg = (a.get(f"{_LAT}_sum", 0) - b.get(f"{_LAT}_sum", 0)) / n * 1e3
        bound = None
        for key, v in sorted(((k, v) for k, v in a.items() if k.startswith(f"{_LAT}_bucket")),
                             key=lambda kv: _le(kv[0])):
            if v - b.get(key, 0) >= n:
                bound = _le(key)
                break
        worst = f", all <= {bound * 1e3:g} ms" if bound is not None and bound != float("inf") else ""
        parts.append(f"{node}: {int(n)} event{'s' if n != 1 else ''} -> kernel in {avg:.2f} ms avg{worst}")
    return (f"enforced: {'; '.join(parts)} (both agents confirmed {wall * 1e3:.0f} ms after kubectl "
            "started)")


def _le(key: str) -> float:
    m = re.search(r'le="([^"]+)"', key)
    return float(m.group(1).replace("+Inf", "inf")) if m else float("inf")


def _label_args(have: dict[str, str], want: dict[str, str]) -> list[str]:
    args = [f"{k}={v}" for k, v in sorted(want.items()) if have.get(k) != v]
    args += [f"{k}-" for k in sorted(have) if k not in want]
    return args


def _cnp_names(path: str) -> list[str]:
    """Names of the ClusterNetworkPolicies in a recipe file (no YAML parser)."""
    with open(path) as f:
        docs = f.read().split("\n---")
    return [m.group(1) for d in docs if re.search(r"^kind: *ClusterNetworkPolicy\b", d, re.M)
            for m in [re.search(r"^  name: *(\S+)", d, re.M)] if m]


def _no_uid(objs: list[dict]) -> list[dict]:
    """The case tables carry uids for policyc; an API server assigns its own."""
    out = []
    for o in objs:
        o = json.loads(json.dumps(o))
        o["metadata"].pop("uid", None)
        out.append(o)
    return out


def _dechunk(body: str) -> str:
    out, rest = [], body
    while rest:
        size_line, _, rest = rest.partition("\r\n")
        try:
            size = int(size_line.strip() or "0", 16)
        except ValueError:
            break
        if size == 0:
            break
        out.append(rest[:size])
        rest = rest[size + 2:]
    return "".join(out)
