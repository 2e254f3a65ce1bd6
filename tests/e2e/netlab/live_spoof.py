"""Anti-spoofing scenarios (docs/spoofing.md), run on a LiveLab.

  spoof       x/a accepts pod=c of its namespace only. y/b (node1, denied by
              that policy) sends UDP to x/a with x/c's addresses as source
              (IP_TRANSPARENT: the address is not configured, so no ARP/NDP
              of the attacker claims it). With the agents' default
              --anti-spoofing the datagrams never arrive, node1's audit log
              has a deny line with "reason":"spoofed" and
              netpol_spoofed_packets_total grows; x/c's own datagrams arrive.
  spoof-off   the same with the agents restarted with --anti-spoofing=false:
              the spoofed datagrams arrive (the attack the guard stops).

Bindings: the routed lab has a /32 and /128 route per pod (the links
reader's routed case); in the bridged lab node1 first sends the attacker a
datagram (as kubelet probes talk to pods), so its neighbour entry and the
bridge FDB place it behind its port. Both run in a few seconds per topology.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import time

from . import model
from .live import LiveLab
from .runner import Phase

PORT = 5599
ATTACKER, VICTIM, TARGET = "y/b", "x/c", "x/a"
_FAM = {4: socket.AF_INET, 6: socket.AF_INET6}
# IP_TRANSPARENT lets a root process bind and send from an address it does
# not have (IPv4 route lookups refuse a foreign source with FREEBIND alone).
_IP_TRANSPARENT = 19
_IPV6_TRANSPARENT = 75


def _policy() -> dict:
    return model.netpol("spoof-only-c", "x", model.match(pod="a"),
                        ingress=[model.rule([model.peer(pods=model.match(pod="c"))])])


class _Sink(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.got: list[tuple[str, bytes]] = []

    def datagram_received(self, data, addr) -> None:
        self.got.append((addr[0], data))


async def _sinks(lab: LiveLab) -> tuple[list, dict[int, _Sink]]:
    socks = await lab.factory.sockets(lab.topo.pod_ns[TARGET], [(_FAM[f], socket.SOCK_DGRAM) for f in model.FAMILIES])
    loop = asyncio.get_running_loop()
    transports, sinks = [], {}
    for f, s in zip(model.FAMILIES, socks):
        if f == 6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((model.pod_ip(TARGET, f), PORT))
        sink = _Sink()
        t, _ = await loop.create_datagram_endpoint(lambda sink=sink: sink, sock=s)
        transports.append(t)
        sinks[f] = sink
    return transports, sinks


async def _send(lab: LiveLab, sender: str, source: str, tag: str) -> None:
    """Three datagrams per family from `sender`'s namespace with `source`'s addresses."""
    specs = [(_FAM[f], socket.SOCK_DGRAM) for f in model.FAMILIES]
    socks = await lab.factory.sockets(lab.topo.pod_ns[sender], specs)
    try:
        for f, s in zip(model.FAMILIES, socks):
            if f == 4:
                s.setsockopt(socket.SOL_IP, _IP_TRANSPARENT, 1)
            else:
                s.setsockopt(socket.IPPROTO_IPV6, _IPV6_TRANSPARENT, 1)
            s.bind((model.pod_ip(source, f), 0))
        for i in range(3):
            for f, s in zip(model.FAMILIES, socks):
                try:
                    s.sendto(f"{tag} {i}".encode(), (model.pod_ip(TARGET, f), PORT))
                except OSError:
                    pass
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
    finally:
        for s in socks:
            s.close()


def _arrived(sinks: dict[int, _Sink], tag: str) -> dict[int, int]:
    return {f: sum(1 for _, d in s.got if d.decode().startswith(tag + " ")) for f, s in sinks.items()}


def _spoofed_lines(lab: LiveLab, node: str) -> list[dict]:
    out = []
    try:
        with open(os.path.join(lab.work, f"audit-{node}.log")) as f:
            for line in f:
                rec = json.loads(line)
                if rec.get("reason") == "spoofed":
                    out.append(rec)
    except FileNotFoundError:
        pass
    return out


def _metric(m: dict[str, float], name: str, label: str = "") -> float:
    return sum(v for k, v in m.items() if k.split("{")[0] == name and label in k)


async def _restart_agents(lab: LiveLab, extra: list[str]) -> None:
    lab.agent_args[:] = [a for a in lab.agent_args if not a.startswith("--anti-spoofing")] + extra
    for node in model.NODES:
        lab.kill_agent(node, signal.SIGTERM)
        lab.start_agent(node)
    await lab.wait_synced(timeout=30)


async def _bindings_ready(lab: LiveLab, node: str, table: str, timeout: float = 5.0) -> float:
    end = time.monotonic() + timeout
    while True:
        have = _metric(await lab.metrics(node), "netpol_spoof_guard_bindings", f'table="{table}"')
        if have > 0 or time.monotonic() > end:
            return have
        await asyncio.sleep(0.1)


async def _run(lab: LiveLab, guard: bool) -> bool:
    from .live_scenarios import _report  # the one report format (it imports this module)

    name = "spoof" if guard else "spoof-off"
    t0 = time.monotonic()
    problems: list[str] = []
    notes: list[str] = []
    node = model.node_of(ATTACKER)
    if not guard:
        await _restart_agents(lab, ["--anti-spoofing=false"])
    await lab.apply_phase(Phase([], policies=[_policy()]))
    await lab.wait_synced()
    transports = []
    try:
        if lab.kind == "bridged":
            # As kubelet probes do: the node talks to its pod, so the neighbour
            # table and the bridge FDB know where the pod's MAC is.
            # A datagram each way of resolving: ARP/NDP fill the neighbour
            # table, the pod's answers teach the bridge FDB its port.
            socks = await lab.factory.sockets(lab.topo.node_ns[node],
                                              [(_FAM[f], socket.SOCK_DGRAM) for f in model.FAMILIES])
            for f, s in zip(model.FAMILIES, socks):
                s.sendto(b"hello", (model.pod_ip(ATTACKER, f), 9))
                s.close()
        table = "bridge" if lab.kind == "bridged" else "inet"
        if guard:
            have = await _bindings_ready(lab, node, table)
            notes.append(f"{node}: {have:.0f} anti-spoofing bindings in table {table} netpol")
            if not have:
                problems.append(f"{node}: no anti-spoofing binding in table {table} netpol (links not read?)")
        before = await lab.metrics(node)
        lines_before = len(_spoofed_lines(lab, node))
        transports, sinks = await _sinks(lab)
        await _send(lab, VICTIM, VICTIM, "own")
        await _send(lab, ATTACKER, ATTACKER, "denied")
        await _send(lab, ATTACKER, VICTIM, "spoofed")
        await asyncio.sleep(0.5)  # the audit writer
        after = await lab.metrics(node)
        own, denied, spoofed = (_arrived(sinks, t) for t in ("own", "denied", "spoofed"))
        notes.append(f"{lab.kind}: at {TARGET} per family (IPv4, IPv6): from {VICTIM} {list(own.values())}, "
                     f"from {ATTACKER} {list(denied.values())}, from {ATTACKER} as {VICTIM} {list(spoofed.values())}")
        if min(own.values()) == 0:
            problems.append(f"{VICTIM}'s own datagrams did not all arrive: {own} (the path must work)")
        if any(denied.values()):
            problems.append(f"{ATTACKER}'s datagrams with its own address arrived: {denied} (policy must deny)")
        lines = _spoofed_lines(lab, node)[lines_before:]
        grew = _metric(after, "netpol_spoofed_packets_total") - _metric(before, "netpol_spoofed_packets_total")
        if guard:
            if any(spoofed.values()):
                problems.append(f"spoofed datagrams arrived with --anti-spoofing: {spoofed}")
            fams = {4 if ":" not in r["src"]["ip"] else 6 for r in lines}
            notes.append(f"{node} audit log: {len(lines)} spoofed line(s), families {sorted(fams)}; "
                         f"netpol_spoofed_packets_total +{grew:.0f}")
            if fams != set(model.FAMILIES) or any(r["verdict"] != "deny" for r in lines):
                problems.append(f"want a deny line with reason spoofed per family, got {lines}")
            if grew < 2:
                problems.append(f"netpol_spoofed_packets_total grew by {grew:.0f}, want at least 2")
        else:
            if min(spoofed.values()) == 0:
                problems.append(f"with --anti-spoofing=false the spoofed datagrams did not arrive: {spoofed}: "
                                "the attack should succeed")
            if lines:
                problems.append(f"--anti-spoofing=false but {len(lines)} spoofed audit lines")
    finally:
        for t in transports:
            t.close()
        await lab.apply_phase(Phase([], policies=[]))
        await lab.wait_synced()
        if not guard:
            await _restart_agents(lab, [])
    return _report(name, problems, t0, notes)


async def spoof(lab: LiveLab) -> bool:
    return await _run(lab, True)


async def spoof_off(lab: LiveLab) -> bool:
    return await _run(lab, False)


SCENARIOS = {"spoof": spoof, "spoof-off": spoof_off}
