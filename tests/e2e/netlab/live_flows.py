"""Live scenarios: connections already open when a policy tightens (docs/flows.md).

  flows-cut       x/a (node1) serves a long-lived TCP echo (IPv4 and IPv6) and
                  a UDP echo; y/a (node2) and x/c (node1) each keep a TCP
                  connection and a UDP 5-tuple, sending every 50 ms.
                  A policy then admits only x/c to x/a: y/a's flows must stop
                  being answered within 1 s of the API event (goal 100 ms,
                  the figure is printed), x/c's TCP connections and UDP
                  5-tuple must show no gap.
  flows-cut-off   the same with the agents started with --cut-flows=false:
                  y/a's denied TCP connection keeps flowing (the attack the
                  protection closes succeeds without it).
"""

from __future__ import annotations

import asyncio
import signal
import socket
import time

from . import model
from .live import LiveLab
from .runner import Phase

PORT_TCP = 9000
PORT_UDP = 9001
PERIOD = 0.05
_FAM = {4: socket.AF_INET, 6: socket.AF_INET6}


class _Flow:
    """One client flow: a message every PERIOD, the time each echo came back."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.sent: dict[int, float] = {}
        self.echoed: dict[int, float] = {}

    def last_echoed_send(self) -> float:
        return max((self.sent[n] for n in self.echoed), default=0.0)

    def echoes_after(self, t: float) -> int:
        return sum(1 for at in self.echoed.values() if at > t)

    def max_gap(self, t0: float, t1: float) -> float:
        times = sorted(at for at in self.echoed.values() if t0 <= at <= t1)
        if len(times) < 2:
            return float("inf")
        return max(b - a for a, b in zip(times, times[1:]))


class _UdpEcho(asyncio.DatagramProtocol):
    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data, addr) -> None:
        self.transport.sendto(data, addr)


class _UdpClient(asyncio.DatagramProtocol):
    def __init__(self, flow: _Flow) -> None:
        self.flow = flow

    def datagram_received(self, data, addr) -> None:
        n = int(data.decode().strip())
        self.flow.echoed.setdefault(n, time.monotonic())


async def _echo_tcp(reader, writer) -> None:
    try:
        while line := await reader.readline():
            writer.write(line)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def _servers(lab: LiveLab, pod: str) -> list:
    ns = lab.topo.pod_ns[pod]
    specs = [(_FAM[f], socket.SOCK_STREAM) for f in model.FAMILIES] + [(socket.AF_INET, socket.SOCK_DGRAM)]
    socks = await lab.factory.sockets(ns, specs)
    loop = asyncio.get_running_loop()
    out = []
    for (fam, kind), s in zip(specs, socks):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if fam == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        f = 4 if fam == socket.AF_INET else 6
        if kind == socket.SOCK_STREAM:
            s.bind((model.pod_ip(pod, f), PORT_TCP))
            s.listen(16)
            out.append(await asyncio.start_server(_echo_tcp, sock=s))
        else:
            s.bind((model.pod_ip(pod, f), PORT_UDP))
            transport, _ = await loop.create_datagram_endpoint(_UdpEcho, sock=s)
            out.append(transport)
    return out


async def _tcp_client(lab: LiveLab, src: str, dst: str, fam: int, stop: asyncio.Event) -> tuple[_Flow, asyncio.Task]:
    flow = _Flow(f"{src} -> {dst} tcp/{PORT_TCP} IPv{fam}")
    (s,) = await lab.factory.sockets(lab.topo.pod_ns[src], [(_FAM[fam], socket.SOCK_STREAM)])
    loop = asyncio.get_running_loop()
    await asyncio.wait_for(loop.sock_connect(s, (model.pod_ip(dst, fam), PORT_TCP)), 5)
    reader, writer = await asyncio.open_connection(sock=s)

    async def read() -> None:
        while line := await reader.readline():
            flow.echoed.setdefault(int(line), time.monotonic())

    async def run() -> None:
        rd = asyncio.create_task(read())
        n = 0
        try:
            while not stop.is_set():
                n += 1
                flow.sent[n] = time.monotonic()
                writer.write(f"{n}\n".encode())
                await asyncio.sleep(PERIOD)
        finally:
            rd.cancel()
            writer.transport.abort()

    return flow, asyncio.create_task(run())


async def _udp_client(lab: LiveLab, src: str, dst: str, stop: asyncio.Event) -> tuple[_Flow, asyncio.Task]:
    flow = _Flow(f"{src} -> {dst} udp/{PORT_UDP} IPv4")
    (s,) = await lab.factory.sockets(lab.topo.pod_ns[src], [(socket.AF_INET, socket.SOCK_DGRAM)])
    s.connect((model.pod_ip(dst, 4), PORT_UDP))
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: _UdpClient(flow), sock=s)

    async def run() -> None:
        n = 0
        try:
            while not stop.is_set():
                n += 1  # the same 5-tuple throughout
                flow.sent[n] = time.monotonic()
                transport.sendto(f"{n}\n".encode())
                await asyncio.sleep(PERIOD)
        finally:
            transport.close()

    return flow, asyncio.create_task(run())


def _policy() -> dict:
    return model.netpol("flows-only-c", "x", model.match(pod="a"),
                        ingress=[model.rule([model.peer(pods=model.match(pod="c"))])])


async def _restart_agents(lab: LiveLab, extra: list[str]) -> None:
    base = [a for a in lab.agent_args if not a.startswith("--cut-flows")]
    lab.agent_args[:] = base + extra
    for node in model.NODES:
        lab.kill_agent(node, signal.SIGTERM)
        lab.start_agent(node)
    await lab.wait_synced(timeout=30)


async def _run(lab: LiveLab, cut: bool) -> bool:
    name = "flows-cut" if cut else "flows-cut-off"
    t0 = time.monotonic()
    problems: list[str] = []
    notes: list[str] = []
    if not cut:
        await _restart_agents(lab, ["--cut-flows=false"])
    # No policy from an earlier scenario: every flow starts allowed.
    await lab.apply_phase(Phase([], policies=[]))
    await lab.wait_synced()
    await lab.reset()
    servers = await _servers(lab, "x/a")
    stop = asyncio.Event()
    tasks = []
    denied, allowed = [], []
    try:
        for fam in model.FAMILIES:
            f, t = await _tcp_client(lab, "y/a", "x/a", fam, stop)
            denied.append(f)
            tasks.append(t)
            f, t = await _tcp_client(lab, "x/c", "x/a", fam, stop)
            allowed.append(f)
            tasks.append(t)
        f, t = await _udp_client(lab, "y/a", "x/a", stop)
        denied.append(f)
        tasks.append(t)
        f, t = await _udp_client(lab, "x/c", "x/a", stop)
        allowed.append(f)
        tasks.append(t)
        await asyncio.sleep(0.6)
        for f in denied + allowed:
            if not f.echoed:
                problems.append(f"{f.name}: no echo before the policy: the scenario proves nothing")
        before = (await lab.metrics("node1"))
        t_call = time.monotonic()
        await lab.kubectl("create", "-f", "-", input_text=model.as_yaml([_policy()]))
        t_event = time.monotonic()  # the object exists in the API by now
        await asyncio.sleep(1.5)
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        after = (await lab.metrics("node1"))
    finally:
        stop.set()
        for s in servers:
            s.close()
        await lab.kubectl("delete", "networkpolicy", "-n", "x", "flows-only-c")
    notes.append(f"kubectl create took {1e3 * (t_event - t_call):.0f} ms (the API event lies inside it)")
    for f in denied:
        last = f.last_echoed_send() - t_event
        late = f.echoes_after(t_event + 1.0)
        if cut:
            notes.append(f"{f.name}: denied; last answered message sent {1e3 * last:+.0f} ms after kubectl "
                         f"returned ({1e3 * (f.last_echoed_send() - t_call):.0f} ms after it started), "
                         f"{late} answers later than 1 s")
            if late:
                problems.append(f"{f.name}: still answered {late} times more than 1 s after the policy")
        else:
            notes.append(f"{f.name}: denied but not cut (--cut-flows=false): {late} answers later than 1 s")
    if not cut:
        tcp = [f for f in denied if "tcp" in f.name]
        if not all(f.echoes_after(t_event + 1.0) > 0 for f in tcp):
            problems.append("with --cut-flows=false the denied TCP connections stopped: the attack should succeed")
    for f in allowed:
        gap = f.max_gap(t_event - 0.3, t_event + 1.4)
        notes.append(f"{f.name}: allowed; longest gap between answers {1e3 * gap:.0f} ms")
        if gap > 0.25:
            problems.append(f"{f.name}: stalled {1e3 * gap:.0f} ms across the change (allowed flows never stall)")
    cut_n = after.get("netpol_flows_cut_total", 0) - before.get("netpol_flows_cut_total", 0)
    secs = after.get("netpol_flow_cut_seconds_sum", 0) - before.get("netpol_flow_cut_seconds_sum", 0)
    count = after.get("netpol_flow_cut_seconds_count", 0) - before.get("netpol_flow_cut_seconds_count", 0)
    if cut:
        notes.append(f"node1 agent: netpol_flows_cut_total +{cut_n:.0f}, event -> last flow cut "
                     f"{1e3 * secs / count if count else float('nan'):.1f} ms (netpol_flow_cut_seconds)")
        if cut_n < len(denied):
            problems.append(f"node1 cut {cut_n:.0f} flows, want at least {len(denied)}")
    elif cut_n:
        problems.append(f"--cut-flows=false but node1 cut {cut_n:.0f} flows")
    if not cut:
        await _restart_agents(lab, [])
    from .live_scenarios import _report  # the one report format (imported late: it imports us)

    return _report(name, problems, t0, notes)


async def flows_cut(lab: LiveLab) -> bool:
    return await _run(lab, True)


async def flows_cut_off(lab: LiveLab) -> bool:
    return await _run(lab, False)


SCENARIOS = {"flows-cut": flows_cut, "flows-cut-off": flows_cut_off}
