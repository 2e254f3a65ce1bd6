"""Runs cases on a lab: load rules, reset state, probe, compare, print.

A Case is one or more Phases; each phase states the whole cluster (extra
labels, policies, recipe files) and the checks to probe afterwards, so cases
that update policies or labels mid-test are a sequence of phases. Rules come
from policyc (compiled per node, loaded with `nft -f -` in the node) or, for
the self-test, from hand-written nft text.

The runner never changes anything outside the lab's namespaces.
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
import time
from dataclasses import dataclass, field

from . import model, topology
from .netns import NetnsRegistry, SocketFactory
from .probe import Probe, Servers, run_probes
from .reach import LEGEND, Check, CheckResult, Outcome


@dataclass
class NodeCheck:
    """Traffic from a node's own address to a pod (kubelet probes)."""

    node: str
    pod: str
    proto: str
    port: int
    allowed: bool


@dataclass
class ToNodeCheck:
    """Traffic from a pod to a node's own address (`nodes` peers of CNPs)."""

    pod: str
    node: str
    proto: str
    port: int
    allowed: bool


@dataclass
class Phase:
    checks: list[Check]
    policies: list[dict] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # extra policyc inputs, e.g. policies/*.yaml
    ns_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    pod_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    node_checks: list[NodeCheck] = field(default_factory=list)
    to_node_checks: list[ToNodeCheck] = field(default_factory=list)
    # Self-test only: node -> nft script loaded instead of policyc output.
    nft: dict[str, str] | None = None
    # Regular expressions every node's rules must match (what no probe can
    # show, e.g. SCTP matches: this kernel has no SCTP sockets). Checked on
    # policyc's script and, live, on `nft list table inet netpol`.
    rules_contain: list[str] = field(default_factory=list)
    title: str = ""


@dataclass
class Case:
    name: str
    phases: list[Phase]
    upstream: str = ""  # the upstream e2e test this case translates
    about: str = ""


def _path(check: NodeCheck | ToNodeCheck) -> str:
    if isinstance(check, ToNodeCheck):
        return f"{check.pod} -> {check.node}"
    return f"{check.node} -> {check.pod}"


class LabError(Exception):
    """Setup or load failure (policyc or nft refused, namespace trouble)."""


async def _exec(cmd: list[str], input_text: str | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *cmd,
        stdin=asyncio.subprocess.PIPE if input_text is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate(input_text.encode() if input_text is not None else None)
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


DROP_TABLE = "table inet netpol {}\ndelete table inet netpol\n"


class Lab:
    """One built topology with servers running in every pod."""

    def __init__(self, kind: str, registry: NetnsRegistry, factory: SocketFactory,
                 policyc: str | None = None, timeout: float = 0.5, verbose: bool = False) -> None:
        self.kind = kind
        self.registry = registry
        self.factory = factory
        self.policyc = policyc
        self.timeout = timeout
        self.verbose = verbose
        self.topo: topology.Topology | None = None
        self.servers = Servers(factory)
        self.last_scripts: dict[str, str] = {}
        self.dump_dir: str | None = None
        self.dump_tag: str | None = None  # "<case>/phase<N>" while a case runs
        # With explain on, every probe's outcome is also asked of `policyc
        # explain`, and a disagreement fails the case (explain must say what
        # the kernel does).
        self.explain = False
        self.last_inputs: dict[str, str] = {}

    async def up(self) -> None:
        t0 = time.monotonic()
        self.topo = await asyncio.to_thread(topology.build, self.kind, self.registry)
        await self.servers.start(self.topo.pod_ns, self.node_addrs())
        print(f"lab: {self.kind} topology up in {time.monotonic() - t0:.1f}s "
              f"({len(self.topo.all_ns())} namespaces, prefix {self.registry.prefix})", flush=True)

    async def down(self) -> None:
        await self.servers.stop()
        if self.topo is not None:
            for ns in self.topo.all_ns():
                self.factory.forget(ns)
            await asyncio.to_thread(self.topo.destroy)
            self.topo = None

    def node_addrs(self) -> dict[str, tuple[str, dict[int, str]]]:
        """node -> (its netns, {family: the node's own address})."""
        return {n: (self.topo.node_ns[n], {f: self.topo.node_addr(n, f) for f in model.FAMILIES})
                for n in model.NODES}

    def node_objects(self) -> list[dict]:
        """The Node objects of this topology (their addresses differ per topology)."""
        return [model.node_object(n, list(addrs.values())) for n, (_ns, addrs) in self.node_addrs().items()]

    # --- rules ---------------------------------------------------------------------

    async def _nft(self, node: str, script: str) -> None:
        rc, out, err = await _exec(["ip", "netns", "exec", self.topo.node_ns[node], "nft", "-f", "-"], script)
        if rc != 0:
            raise LabError(f"nft -f in {node} failed ({rc}):\n{err}{out}")

    async def compile(self, phase: Phase, node: str, workdir: str) -> str:
        if not self.policyc:
            raise LabError("no policyc given (--policyc or NETPOL_POLICYC)")
        cmd = [self.policyc, "compile", "--node", node, "-f", workdir]
        for f in phase.files:
            cmd += ["-f", f]
        rc, out, err = await _exec(cmd)
        if rc != 0:
            raise LabError(f"policyc failed ({rc}): {' '.join(cmd)}\n{err}{out}")
        return out

    async def load(self, phase: Phase) -> dict[str, str]:
        """Puts the phase's rules into both nodes; returns the scripts loaded."""
        if phase.nft is not None:
            scripts = {node: phase.nft.get(node) or DROP_TABLE for node in model.NODES}
        else:
            with tempfile.TemporaryDirectory(prefix="netlab-") as work:
                inputs = {"cluster.yaml": model.as_yaml(
                    model.cluster_objects(phase.ns_labels, phase.pod_labels) + self.node_objects())}
                if phase.policies:
                    inputs["policies.yaml"] = model.as_yaml(phase.policies)
                for name, text in inputs.items():
                    with open(os.path.join(work, name), "w") as f:
                        f.write(text)
                compiled = await asyncio.gather(*(self.compile(phase, n, work) for n in model.NODES))
                scripts = dict(zip(model.NODES, compiled))
                self._dump(inputs, scripts)
                self.last_inputs = inputs
        await asyncio.gather(*(self._nft(n, s) for n, s in scripts.items()))
        self.last_scripts = scripts
        return scripts

    def _dump(self, inputs: dict[str, str], scripts: dict[str, str]) -> None:
        """With --dump DIR: keep each phase's policyc inputs and outputs for a look by hand."""
        if not self.dump_dir or not self.dump_tag:
            return
        where = os.path.join(self.dump_dir, self.kind, self.dump_tag)
        os.makedirs(where, exist_ok=True)
        files = dict(inputs)
        files.update({f"{node}.nft": text for node, text in scripts.items()})
        for name, text in files.items():
            with open(os.path.join(where, name), "w") as f:
                f.write(text)

    async def reset(self) -> None:
        """Forgets flows and neighbours so one phase cannot leak into the next."""
        cmds = [["ip", "netns", "exec", ns, "conntrack", "-F"] for ns in self.topo.node_ns.values()]
        cmds += [["ip", "-n", ns, "neigh", "flush", "all"] for ns in self.topo.all_ns()]
        results = await asyncio.gather(*(_exec(c) for c in cmds))
        for c, (rc, out, err) in zip(cmds, results):
            # conntrack -F on a namespace that never tracked anything is fine.
            if rc != 0 and "conntrack" not in c:
                raise LabError(f"{' '.join(c)} failed: {err}{out}")

    # --- probing -------------------------------------------------------------------

    def _pod_probes(self, check: Check) -> list[Probe]:
        return [
            Probe(s, self.topo.pod_ns[s], d, fam, check.proto, check.port)
            for s in model.PODS for d in model.PODS if s != d for fam in model.FAMILIES
        ]

    async def _probe(self, probes: list[Probe], want: dict[Probe, bool]) -> dict[Probe, Outcome]:
        got = await run_probes(self.factory, probes, self.timeout)
        # A machine shared with other builds can be slow to answer; an allowed
        # connection that timed out is retried once, patiently. A denied one
        # that got through is never retried away.
        again = [p for p, o in got.items() if want[p] and not o.allowed]
        if again:
            got.update(await run_probes(self.factory, again, self.timeout * 3))
        return got

    async def probe(self, phase: Phase) -> tuple[list[CheckResult], list[tuple[NodeCheck, dict[int, Outcome]]]]:
        probes: list[Probe] = []
        want: dict[Probe, bool] = {}
        for check in phase.checks:
            for p in self._pod_probes(check):
                probes.append(p)
                want[p] = check.expect[(p.src, p.dst)]
        node_probes = {}
        for nc in phase.node_checks:
            for fam in model.FAMILIES:
                p = Probe(nc.node, self.topo.node_ns[nc.node], nc.pod, fam, nc.proto, nc.port)
                probes.append(p)
                want[p] = nc.allowed
                node_probes[(id(nc), fam)] = p
        for tc in phase.to_node_checks:
            for fam in model.FAMILIES:
                p = Probe(tc.pod, self.topo.pod_ns[tc.pod], tc.node, fam, tc.proto, tc.port,
                          dst_ip=self.topo.node_addr(tc.node, fam))
                probes.append(p)
                want[p] = tc.allowed
                node_probes[(id(tc), fam)] = p
        got = await self._probe(probes, want)
        results = []
        for check in phase.checks:
            r = CheckResult(check)
            for p in self._pod_probes(check):
                r.observed[(p.src, p.dst, p.family)] = got[p]
            results.append(r)
        node_results = [(nc, {fam: got[node_probes[(id(nc), fam)]] for fam in model.FAMILIES})
                        for nc in [*phase.node_checks, *phase.to_node_checks]]
        return results, node_results

    async def explain_diff(self, phase: Phase, results: list[CheckResult]) -> list[str]:
        """Every pod-to-pod probe of the phase asked of `policyc explain --batch`;
        the lines where its verdict differs from what the kernel did."""
        queries = []
        for r in results:
            for (src, dst, fam), outcome in sorted(r.observed.items()):
                queries.append((f"{src} {dst} {r.check.port}/{r.check.proto} {fam}", outcome))
        if not queries or phase.nft is not None:
            return []
        with tempfile.TemporaryDirectory(prefix="netlab-explain-") as work:
            for name, text in self.last_inputs.items():
                with open(os.path.join(work, name), "w") as f:
                    f.write(text)
            cmd = [self.policyc, "explain", "-f", work]
            for f in phase.files:
                cmd += ["-f", f]
            cmd += ["--batch", "-"]
            rc, out, err = await _exec(cmd, "".join(q + "\n" for q, _ in queries))
        if rc != 0:
            return [f"policyc explain failed ({rc}): {err.strip()}"]
        answers = {}
        for line in out.splitlines():
            verdict, _, query = line.partition(" ")
            answers[query] = verdict == "allowed"
        diff = []
        for q, outcome in queries:
            said = answers.get(q)
            if said is None:
                diff.append(f"explain gave no answer for {q}")
            elif said != outcome.allowed:
                diff.append(f"explain says {'allowed' if said else 'denied'} for {q}, the kernel "
                            f"{'allowed' if outcome.allowed else 'denied'} it ({outcome.detail})")
        return diff

    # --- cases ---------------------------------------------------------------------

    async def run_case(self, case: Case, show: bool | None = None) -> bool:
        show = self.verbose if show is None else show
        t0 = time.monotonic()
        ok = True
        report: list[str] = []
        for i, phase in enumerate(case.phases, 1):
            tag = f"phase {i}/{len(case.phases)}" + (f": {phase.title}" if phase.title else "")
            self.dump_tag = f"{case.name}/phase{i}"
            try:
                scripts = await self.load(phase)
                await self.reset()
                results, node_results = await self.probe(phase)
                explain_diff = await self.explain_diff(phase, results) if self.explain else []
            except LabError as e:
                ok = False
                report.append(f"  {tag}: {e}")
                break
            sizes = ", ".join(f"{n} {len(s.encode())} B" for n, s in sorted(scripts.items()))
            phase_ok = all(r.ok() for r in results)
            node_diff = []
            for nc, outs in node_results:
                for fam, o in outs.items():
                    if o.allowed != nc.allowed:
                        node_diff.append(
                            f"{_path(nc)} {nc.proto.lower()}/{nc.port} IPv{fam}: expected "
                            f"{'allowed' if nc.allowed else 'denied'}, observed "
                            f"{'allowed' if o.allowed else 'denied'} ({o.detail})")
            rules_diff = [f"{node}: no line of the rules matches {want!r}"
                          for node, text in sorted(scripts.items()) for want in phase.rules_contain
                          if not re.search(want, text, re.M)]
            phase_ok = phase_ok and not node_diff and not explain_diff and not rules_diff
            ok = ok and phase_ok
            if show or not phase_ok:
                report.append(f"  {tag}  [rules: {sizes}]")
                for r in results:
                    report.append("\n".join("    " + line for line in r.render().splitlines()))
                    for line in r.diff():
                        report.append(f"    ! {line}")
                for nc, outs in node_results:
                    state = "/".join("allowed" if outs[f].allowed else "denied" for f in model.FAMILIES)
                    report.append(f"    {_path(nc)} {nc.proto.lower()}/{nc.port}: {state} (IPv4/IPv6)")
                for line in node_diff:
                    report.append(f"    ! {line}")
                for line in explain_diff + rules_diff:
                    report.append(f"    ! {line}")
        verdict = "ok  " if ok else "FAIL"
        up = f"  [upstream: {case.upstream}]" if case.upstream and (show or not ok) else ""
        print(f"{verdict} {self.kind:7} {case.name} ({time.monotonic() - t0:.1f}s){up}", flush=True)
        if report:
            if not ok:
                print(LEGEND)
            print("\n".join(report), flush=True)
        return ok
