"""Live scenarios beyond the case tables, run on a LiveLab.

  pod-churn-ip-reuse   a pod is deleted and a new pod with other labels gets
                       its IP: the old pod's allowances must not apply to it
  namespace-relabel    a namespaceSelector starts and stops matching as a
                       namespace's labels change
  sigkill-restart      the agent is killed with SIGKILL in the middle of a
                       burst of policy changes and restarted; denied pairs are
                       probed continuously and must stay denied throughout
  drift-repair         drift checks skip the read-back while nothing was
                       committed; someone runs `nft flush table inet netpol`;
                       the agent's drift check restores the rules
  stop-cleanup-restart SIGTERM leaves the table enforcing; `netpol-agent
                       --cleanup` removes it; a new agent programs it again
  cni-first-packet     a new pod brought up as a runtime does (Pending in the
                       API, then Debian's ptp/bridge + host-local from a
                       conflist, then netpol-cni ADD with the real
                       prevResult) sends from the first millisecond under a
                       default-deny egress policy: nothing gets out, also
                       across a SIGKILL of the agent before the API reports
                       the IP; the same conflist without netpol-cni lets
                       packets out until the API status arrives

Each returns True when it behaved; problems are printed as "! ..." lines.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time

from . import model
from .live import LiveLab
from .probe import Probe, run_probes
from .runner import LabError, Phase


def _probe(lab: LiveLab, src: str, dst: str, proto: str = "TCP", port: int = 80,
           label: str | None = None) -> list[Probe]:
    return [Probe(label or src, lab.topo.pod_ns[src], dst, fam, proto, port) for fam in model.FAMILIES]


async def _observe(lab: LiveLab, probes: list[Probe], timeout: float | None = None) -> dict[Probe, bool]:
    got = await run_probes(lab.factory, probes, timeout or lab.timeout)
    return {p: o.allowed for p, o in got.items()}


async def _check(lab: LiveLab, problems: list[str], probes: list[Probe], want: bool, when: str) -> None:
    seen = await _observe(lab, probes)
    # As in the case runner: a busy machine can make an allowed probe time
    # out, so one that should pass gets a second, patient try. A denied one
    # that got through is never retried away.
    again = [p for p, allowed in seen.items() if want and not allowed]
    if again:
        seen.update(await _observe(lab, again, lab.timeout * 3))
    _expect(problems, seen, want, when)


def _report(name: str, problems: list[str], t0: float, notes: list[str]) -> bool:
    ok = not problems
    print(f"{'ok  ' if ok else 'FAIL'} live scenario {name} ({time.monotonic() - t0:.1f}s)", flush=True)
    for n in notes:
        print(f"    {n}", flush=True)
    for p in problems:
        print(f"    ! {p}", flush=True)
    return ok


def _expect(problems: list[str], seen: dict[Probe, bool], want: bool, when: str) -> None:
    for p, allowed in sorted(seen.items(), key=lambda kv: (kv[0].src, kv[0].dst, kv[0].family)):
        if allowed != want:
            problems.append(f"{when}: {p.src} -> {p.dst} {p.proto.lower()}/{p.port} IPv{p.family}: "
                            f"expected {'allowed' if want else 'denied'}, observed "
                            f"{'allowed' if allowed else 'denied'}")


def _allow_from_pods(ns: str, name: str, target: str, source: str) -> dict:
    return model.netpol(name, ns, model.match(pod=target),
                        ingress=[model.rule([model.peer(pods=model.match(pod=source))])])


async def pod_churn_ip_reuse(lab: LiveLab) -> bool:
    t0 = time.monotonic()
    problems: list[str] = []
    # x/a accepts only pods labelled pod=b of its namespace; x/b is one (on node2).
    await lab.apply_phase(Phase([], policies=[_allow_from_pods("x", "only-b", "a", "b")]))
    await lab.wait_synced()
    await lab.reset()
    await _check(lab, problems, _probe(lab, "x/b", "x/a"), True, "before churn")
    await _check(lab, problems, _probe(lab, "x/c", "x/a"), False, "before churn")

    # x/b is deleted; a new pod x/d with other labels is given x/b's addresses.
    old = model.pod_object("x/b")
    new = model.pod_object("x/b", {"pod": "d"})
    new["metadata"]["name"] = "d"
    new["metadata"].pop("uid")
    await lab.kubectl("delete", "pod", "-n", "x", "b")
    await lab.kubectl("create", "-f", "-", input_text=model.as_yaml([new]))
    await lab.wait_synced()
    await lab.reset()
    # Packets from x/b's network namespace now carry x/d's identity.
    await _check(lab, problems, _probe(lab, "x/b", "x/a", label="x/d (x/b's IPs)"), False, "after churn")

    # And back: x/d goes, x/b returns with its labels and is allowed again.
    await lab.kubectl("delete", "pod", "-n", "x", "d")
    old["metadata"].pop("uid")
    await lab.kubectl("create", "-f", "-", input_text=model.as_yaml([old]))
    await lab.wait_synced()
    await lab.reset()
    await _check(lab, problems, _probe(lab, "x/b", "x/a"), True, "after x/b returned")
    return _report("pod-churn-ip-reuse", problems, t0, [
        "x/a accepts pod=b only; x/b deleted, x/d (pod=d) created with x/b's IPs: denied; x/b back: allowed"])


async def namespace_relabel(lab: LiveLab) -> bool:
    t0 = time.monotonic()
    problems: list[str] = []
    pol = model.netpol("from-blue", "x", model.match(pod="a"),
                       ingress=[model.rule([model.peer(namespaces=model.match(team="blue"))])])
    await lab.apply_phase(Phase([], policies=[pol]))
    await lab.wait_synced()
    await lab.reset()
    await _check(lab, problems, _probe(lab, "y/a", "x/a"), False, "no namespace is blue")
    await lab.apply_phase(Phase([], policies=[pol], ns_labels={"y": {"team": "blue"}}))
    await lab.wait_synced()
    await lab.reset()
    await _check(lab, problems, _probe(lab, "y/a", "x/a") + _probe(lab, "y/c", "x/a"), True, "y labelled team=blue")
    await _check(lab, problems, _probe(lab, "z/a", "x/a"), False, "y labelled team=blue")
    await lab.apply_phase(Phase([], policies=[pol], ns_labels={"z": {"team": "blue"}}))
    await lab.wait_synced()
    await lab.reset()
    await _check(lab, problems, _probe(lab, "y/a", "x/a"), False, "label moved from y to z")
    await _check(lab, problems, _probe(lab, "z/a", "x/a"), True, "label moved from y to z")
    return _report("namespace-relabel", problems, t0, [
        "x/a accepts namespaces team=blue: none, then y, then z"])


def _burst_policy(i: int) -> dict:
    # Isolates z/c (node1) with a rule naming a selector of its own, so every
    # policy adds a chain rule and a set on node1: real work for the agent.
    return model.netpol(f"burst-{i:03d}", "z", model.match(pod="c"),
                        ingress=[model.rule([model.peer(pods=model.match(burst=str(i)))])])


async def sigkill_restart(lab: LiveLab, chunks: int = 8, per_chunk: int = 25) -> bool:
    t0 = time.monotonic()
    problems: list[str] = []
    notes: list[str] = []
    deny_x = model.netpol("deny-x", "x", model.match(), ingress=[])
    await lab.apply_phase(Phase([], policies=[deny_x]))
    await lab.wait_synced()
    await lab.reset()
    # x/a and x/c live on node1, whose agent is killed; y/b (node1) stays open.
    denied = _probe(lab, "y/a", "x/a") + _probe(lab, "x/b", "x/c") + _probe(lab, "z/b", "x/a", "UDP", 81)
    allowed = _probe(lab, "y/a", "y/b")
    rounds = {"n": 0, "allowed_ok": 0}
    leaks: list[str] = []
    stop = asyncio.Event()

    async def one_round(n: int) -> None:
        seen = await _observe(lab, denied + allowed, timeout=0.3)
        rounds["n"] += 1
        for p in denied:
            if seen[p]:
                leaks.append(f"round {n} at {time.monotonic() - t0:.2f}s: {p.src} -> {p.dst} "
                             f"{p.proto.lower()}/{p.port} IPv{p.family} got through")
        if all(seen[p] for p in allowed):
            rounds["allowed_ok"] += 1

    async def prober() -> None:
        # A new round every 100 ms, overlapping: no window of more than
        # ~0.1 s goes unprobed while the agent is down and restarting.
        tasks = []
        n = 0
        while not stop.is_set():
            n += 1
            tasks.append(asyncio.create_task(one_round(n)))
            await asyncio.sleep(0.1)
        await asyncio.gather(*tasks)

    probing = asyncio.create_task(prober())
    killed_at = restarted_at = None
    behind = (0, 0.0, 0.0)
    try:
        key = 'netpol_events_total{kind="networkpolicy",op="upsert"}'
        for c in range(chunks):
            batch = [_burst_policy(c * per_chunk + i) for i in range(per_chunk)]
            # Fire and do not wait for the agents: this is the burst.
            create = asyncio.create_task(
                lab.kubectl("create", "-f", "-", input_text=model.as_yaml(batch)))
            if c == chunks // 2:
                # Kill node1's agent as soon as it has started receiving this
                # chunk, while kubectl is still writing the rest of it.
                seen0 = (await lab.metrics("node1")).get(key, 0)
                while (await lab.metrics("node1")).get(key, 0) <= seen0 and not create.done():
                    await asyncio.sleep(0.002)
                m = await lab.metrics("node1")
                behind = (await lab.resource_version(), m.get("netpol_synced_resource_version", 0),
                          m.get(key, 0) - seen0)
                lab.kill_agent("node1")
                killed_at = time.monotonic() - t0
                await asyncio.sleep(0.3)  # down for a moment, mid-burst, while probes run
                lab.start_agent("node1")
                restarted_at = time.monotonic() - t0
            await create
        await lab.wait_synced(timeout=30)
        await asyncio.sleep(0.3)  # a few more probe rounds with the final state
    finally:
        stop.set()
        await probing
    m = await lab.metrics("node1")
    notes.append(f"{chunks * per_chunk} policies created in {chunks} kubectl calls; node1's agent "
                 f"SIGKILLed at {killed_at:.2f}s mid-chunk ({behind[2]:.0f} of its {per_chunk} policies received, "
                 f"enforcing up to resourceVersion {behind[1]:.0f} of {behind[0]}), restarted at {restarted_at:.2f}s, caught up at "
                 f"{time.monotonic() - t0:.2f}s; {rounds['n']} probe rounds, the open pair answered "
                 f"in {rounds['allowed_ok']}")
    notes.append(f"restarted agent: ready={m.get('netpol_ready', 0):.0f}, "
                 f"{m.get('netpol_chains', 0):.0f} chains, {m.get('netpol_sets', 0):.0f} sets")
    problems += leaks
    if rounds["allowed_ok"] == 0:
        problems.append("the open pair y/a -> y/b never answered: the probes prove nothing")
    if m.get("netpol_ready", 0) != 1:
        problems.append("restarted agent not ready")
    # Final state: still denied, and the burst is in node1's table.
    await lab.reset()
    await _check(lab, problems, denied, False, "after the restart")
    rc, out, _ = await _table(lab, "node1")
    n_burst = out.count("z/burst-")
    if n_burst < chunks * per_chunk:
        problems.append(f"node1's table names {n_burst} burst policies, want {chunks * per_chunk}")
    # Clean up the burst for whatever runs next.
    t1 = time.monotonic()
    await lab.kubectl("delete", "-f", "-", input_text=model.as_yaml(
        [_burst_policy(i) for i in range(chunks * per_chunk)]))
    t2 = time.monotonic()
    await lab.wait_synced(timeout=30)
    notes.append(f"clean-up: kubectl delete {t2 - t1:.1f}s, agents caught up {time.monotonic() - t2:.1f}s later")
    return _report("sigkill-restart", problems, t0, notes)


async def _table(lab: LiveLab, node: str):
    from .runner import _exec
    return await _exec(["ip", "netns", "exec", lab.topo.node_ns[node], "nft", "list", "table", "inet", "netpol"])


async def drift_repair(lab: LiveLab) -> bool:
    t0 = time.monotonic()
    problems: list[str] = []
    notes: list[str] = []
    await lab.apply_phase(Phase([], policies=[model.netpol("deny-x", "x", model.match(), ingress=[])]))
    await lab.wait_synced()
    await lab.reset()
    denied = _probe(lab, "y/a", "x/a")
    await _check(lab, problems, denied, False, "before the flush")
    # While nobody touches the table (the audit listener's counter resets are
    # dumps, not commits), checks find the ruleset generation unchanged and
    # read nothing back. Drift checks run every second in this lab.
    unchanged_key = 'netpol_drift_checks_total{result="unchanged"}'
    quiet_from = (await lab.metrics("node1")).get(unchanged_key, 0)
    await asyncio.sleep(2.5)
    quiet = (await lab.metrics("node1")).get(unchanged_key, 0) - quiet_from
    if quiet < 1:
        problems.append("no drift check found the generation unchanged in 2.5 s of quiet")
    else:
        notes.append(f"{quiet:.0f} drift checks skipped the read-back while the table was untouched")
    before = (await lab.metrics("node1")).get("netpol_drift_repairs_total", 0)
    from .runner import _exec
    rc, out, err = await _exec(["ip", "netns", "exec", lab.topo.node_ns["node1"], "nft", "flush", "table",
                                "inet", "netpol"])
    if rc != 0:
        raise LabError(f"nft flush table failed: {err}{out}")
    flushed_at = time.monotonic()
    leaked = await _observe(lab, denied)
    notes.append("right after `nft flush table inet netpol`: y/a -> x/a "
                 + ("allowed (the rules are gone)" if any(leaked.values()) else "still denied"))
    repaired = None
    while time.monotonic() - flushed_at < 10:
        if (await lab.metrics("node1")).get("netpol_drift_repairs_total", 0) > before:
            repaired = time.monotonic() - flushed_at
            break
        await asyncio.sleep(0.05)
    if repaired is None:
        problems.append("no drift repair within 10 s")
    else:
        notes.append(f"repaired by the drift check {repaired:.2f}s after the flush")
    await lab.reset()
    await _check(lab, problems, denied, False, "after the repair")
    return _report("drift-repair", problems, t0, notes)


async def stop_cleanup_restart(lab: LiveLab) -> bool:
    t0 = time.monotonic()
    problems: list[str] = []
    await lab.apply_phase(Phase([], policies=[model.netpol("deny-x", "x", model.match(), ingress=[])]))
    await lab.wait_synced()
    await lab.reset()
    denied = _probe(lab, "y/a", "x/a")
    lab.kill_agent("node1", signal.SIGTERM)
    code = lab.agents["node1"].proc.returncode
    if code != 0:
        problems.append(f"SIGTERM: agent exited {code}, want 0")
    await lab.reset()
    await _check(lab, problems, denied, False, "agent stopped (the table stays)")
    from .runner import _exec
    rc, out, err = await _exec(["ip", "netns", "exec", lab.topo.node_ns["node1"], lab.agent_bin, "--cleanup"])
    if rc != 0:
        problems.append(f"--cleanup exited {rc}: {err.strip()}")
    rc, _, _ = await _table(lab, "node1")
    if rc == 0:
        problems.append("table inet netpol still there after --cleanup")
    await lab.reset()
    await _check(lab, problems, denied, True, "after --cleanup (no enforcement on node1)")
    lab.start_agent("node1")
    await lab.wait_synced()
    await lab.reset()
    await _check(lab, problems, denied, False, "agent started again")
    return _report("stop-cleanup-restart", problems, t0, [
        "SIGTERM keeps x/a denied; --cleanup deletes the table (x/a open); a new agent closes it again"])


CNI_DIR = "/usr/lib/cni"


async def _cni_chain(lab: LiveLab, command: str, plugins: list[dict], env: dict, node: str,
                     cached: dict | None = None) -> dict | None:
    """Runs a conflist's plugins as libcni does: in order for ADD, each with
    the previous result as prevResult; in reverse for DEL with the cached one."""
    from .runner import _exec
    order = list(reversed(plugins)) if command == "DEL" else plugins
    prev = cached
    for p in order:
        conf = {"cniVersion": "1.0.0", "name": "netlab", **p}
        if prev is not None:
            conf["prevResult"] = prev
        binary = lab.cni_bin if p["type"] == "netpol-cni" else os.path.join(CNI_DIR, p["type"])
        cmd = ["ip", "netns", "exec", lab.topo.node_ns[node], "env", f"CNI_COMMAND={command}",
               *[f"{k}={v}" for k, v in env.items()], binary]
        rc, out, err = await _exec(cmd, json.dumps(conf))
        if rc != 0:
            raise LabError(f"{p['type']} {command} failed ({rc}): {out}{err}")
        if command == "ADD":
            prev = json.loads(out)
    return prev


async def _cni_first_packet_run(lab: LiveLab, protect: bool, kill: bool, problems: list[str],
                                notes: list[str]) -> None:
    from .runner import _exec
    name = "new-cni" if protect else "new-open"
    node = "node1"
    pod_ns = lab.registry.add(f"{lab.kind[0]}-{name}")
    obj = model.pod_object("x/a", {"pod": name})
    obj["metadata"]["name"] = name
    obj["metadata"].pop("uid")
    obj["spec"]["nodeName"] = node
    obj["status"] = {"phase": "Pending"}
    await lab.kubectl("create", "-f", "-", input_text=model.as_yaml([obj]))
    uid = (await lab.kubectl("get", "pod", "-n", "x", name, "-o", "jsonpath={.metadata.uid}")).strip()
    await lab.wait_synced()
    ipam = {"type": "host-local", "dataDir": os.path.join(lab.work, "ipam"),
            "ranges": [[{"subnet": model.node_pod_cidr(node, 4) if lab.kind == "routed" else model.POD_CIDR_V4,
                         "rangeStart": "10.244.1.200", "rangeEnd": "10.244.1.210"}]]}
    if lab.kind == "routed":
        main = {"type": "ptp", "ipam": ipam}
    else:
        main = {"type": "bridge", "bridge": "br0", "isGateway": False, "ipam": ipam}
    plugins = [main]
    if protect:
        plugins.append({"type": "netpol-cni", "socket": lab.cni_socket(node), "timeoutSeconds": 10})
    env = {"CNI_CONTAINERID": f"netlab-{name}", "CNI_NETNS": f"/run/netns/{pod_ns}", "CNI_IFNAME": "eth0",
           "CNI_PATH": CNI_DIR,
           "CNI_ARGS": f"IgnoreUnknown=1;K8S_POD_NAMESPACE=x;K8S_POD_NAME={name};K8S_POD_UID={uid}"}
    result = None
    t_add = time.monotonic()
    try:
        result = await _cni_chain(lab, "ADD", plugins, env, node)
        added = time.monotonic()
        ip = result["ips"][0]["address"].split("/")[0]
        # From the first millisecond: TCP connects to y/b (same node, no policy
        # of its own) every 50 ms, each given 0.2 s; the API knows no IP yet.
        dst = "y/b"
        got_out: list[float] = []
        rounds = {"n": 0}

        async def probe_for(seconds: float) -> None:
            end = time.monotonic() + seconds
            tasks = []
            while time.monotonic() < end:
                async def one(at: float) -> None:
                    seen = await _observe(lab, [Probe(f"x/{name}", pod_ns, dst, 4, "TCP", 80)], timeout=0.2)
                    rounds["n"] += 1
                    if any(seen.values()):
                        got_out.append(at)
                tasks.append(asyncio.create_task(one(time.monotonic() - added)))
                await asyncio.sleep(0.05)
            await asyncio.gather(*tasks)

        await probe_for(1.0)
        if kill:
            lab.kill_agent(node)
            lab.start_agent(node)
            await probe_for(1.5)  # the agent is down, then restarting from its state file
            held = (await lab.metrics(node)).get("netpol_cni_bindings", 0)
            notes.append(f"restarted agent holds {held:.0f} binding(s) from its state file")
            if held != 1:
                problems.append(f"the restarted agent holds {held:.0f} bindings, want 1 (restored)")
        before_status = list(got_out)
        # The API reports the pod's IP only now, seconds after ADD.
        obj["metadata"]["uid"] = uid
        obj["status"] = {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]}
        await lab.kubectl("replace", "-f", "-", input_text=model.as_yaml([obj]))
        await lab.wait_synced()
        got_out.clear()
        await probe_for(0.5)
        after_status = list(got_out)
        what = (f"{'with' if protect else 'without'} netpol-cni ({lab.kind}, {main['type']}, pod IP {ip}, "
                f"ADD took {(added - t_add) * 1e3:.0f} ms{', agent SIGKILLed and restarted' if kill else ''}): "
                f"{len(before_status)} of the probes before the API status got out"
                + (f", the first at {before_status[0] * 1e3:.0f} ms" if before_status else ""))
        notes.append(what + f"; {len(after_status)} after it; {rounds['n']} probes")
        if protect and before_status:
            problems.append(f"with netpol-cni: x/{name} reached {dst} before the API reported its IP "
                            f"(first at {before_status[0] * 1e3:.0f} ms after ADD)")
        if not protect and not before_status:
            problems.append(f"without netpol-cni: x/{name} never reached {dst} before the API status: "
                            "the scenario shows no gap, so the protection proves nothing")
        if after_status:
            problems.append(f"x/{name} reached {dst} after the API reported its IP (default-deny egress)")
    finally:
        if result is not None:
            await _cni_chain(lab, "DEL", plugins, env, node, cached=result)
        lab.factory.forget(pod_ns)
        await asyncio.to_thread(lab.registry.remove, [pod_ns])
        await lab.kubectl("delete", "pod", "-n", "x", name)


async def cni_first_packet(lab: LiveLab) -> bool:
    t0 = time.monotonic()
    problems: list[str] = []
    notes: list[str] = []
    if not os.path.exists(os.path.join(CNI_DIR, "ptp")):
        problems.append(f"no {CNI_DIR}/ptp: apt-get install containernetworking-plugins")
        return _report("cni-first-packet", problems, t0, notes)
    deny = model.netpol("deny-egress", "x", model.match(), egress=[])
    await lab.apply_phase(Phase([], policies=[deny]))
    await lab.wait_synced()
    try:
        await _cni_first_packet_run(lab, protect=False, kill=False, problems=problems, notes=notes)
        await _cni_first_packet_run(lab, protect=True, kill=True, problems=problems, notes=notes)
    finally:
        await lab.apply_phase(Phase([], policies=[]))
        await lab.wait_synced()
    return _report("cni-first-packet", problems, t0, notes)


SCENARIOS = {
    "pod-churn-ip-reuse": pod_churn_ip_reuse,
    "namespace-relabel": namespace_relabel,
    "sigkill-restart": sigkill_restart,
    "drift-repair": drift_repair,
    "stop-cleanup-restart": stop_cleanup_restart,
    "cni-first-packet": cni_first_packet,
}

from .live_flows import SCENARIOS as _FLOWS  # noqa: E402  (flows-cut, flows-cut-off)

SCENARIOS.update(_FLOWS)

from .live_spoof import SCENARIOS as _SPOOF  # noqa: E402  (spoof, spoof-off)

SCENARIOS.update(_SPOOF)
