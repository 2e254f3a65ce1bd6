"""Servers in every pod and concurrent connection probes between pods.

One asyncio loop serves every pod's ports and runs every probe; sockets are
created inside the right namespace by the SocketFactory. A TCP probe counts
as allowed when the handshake completes; a UDP probe when the server's echo
of a unique payload comes back. Anything else (timeout, ICMP error) is denied.
Probes never retry on their own: the runner re-probes suspected flakes.
"""

from __future__ import annotations

import asyncio
import errno
import itertools
import socket
from dataclasses import dataclass
from typing import Awaitable

from . import model
from .netns import SocketFactory
from .reach import Outcome

_FAMILY = {4: socket.AF_INET, 6: socket.AF_INET6}
_KIND = {"TCP": socket.SOCK_STREAM, "UDP": socket.SOCK_DGRAM}


class _Echo(asyncio.DatagramProtocol):
    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data, addr) -> None:
        self.transport.sendto(data, addr)


async def _close_tcp(_reader, writer) -> None:
    writer.close()


class Servers:
    """TCP and UDP listeners on every served port of every pod, both families."""

    def __init__(self, factory: SocketFactory) -> None:
        self._factory = factory
        self._servers: list[asyncio.AbstractServer] = []
        self._transports: list[asyncio.BaseTransport] = []

    async def start(self, pod_ns: dict[str, str],
                    node_addrs: dict[str, tuple[str, dict[int, str]]] | None = None) -> None:
        """Every pod serves model.SERVED; with node_addrs (node -> (netns, {family: address})),
        every node also serves TCP and UDP 80 on its own address (`nodes` peers)."""
        loop = asyncio.get_running_loop()
        where = [(ns, {f: model.pod_ip(pod, f) for f in model.FAMILIES}, model.SERVED)
                 for pod, ns in pod_ns.items()]
        where += [(ns, addrs, ((80, "TCP"), (80, "UDP"))) for ns, addrs in (node_addrs or {}).values()]
        for ns, addrs, served in where:
            specs = [(port, proto, fam) for port, proto in served for fam in model.FAMILIES]
            socks = await self._factory.sockets(ns, [(_FAMILY[f], _KIND[p]) for _port, p, f in specs])
            for (port, proto, fam), s in zip(specs, socks):
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if fam == 6:
                    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                s.bind((addrs[fam], port))
                if proto == "TCP":
                    s.listen(512)
                    self._servers.append(await asyncio.start_server(_close_tcp, sock=s))
                else:
                    transport, _ = await loop.create_datagram_endpoint(_Echo, sock=s)
                    self._transports.append(transport)

    async def stop(self) -> None:
        for srv in self._servers:
            srv.close()
        for srv in self._servers:
            await srv.wait_closed()
        for t in self._transports:
            t.close()
        self._servers.clear()
        self._transports.clear()


@dataclass(frozen=True)
class Probe:
    src: str      # a pod ("x/a") or a node ("node1"), for reporting
    src_ns: str   # network namespace the client socket lives in
    dst: str      # a pod, or a node (then dst_ip is its address)
    family: int
    proto: str
    port: int
    dst_ip: str | None = None

    def addr(self) -> tuple:
        ip = self.dst_ip or model.pod_ip(self.dst, self.family)
        return (ip, self.port) if self.family == 4 else (ip, self.port, 0, 0)


_seq = itertools.count()


def _why(e: OSError) -> str:
    """ECONNREFUSED, EHOSTUNREACH, ...: what an ICMP error or RST turned into."""
    return errno.errorcode.get(e.errno, type(e).__name__) if e.errno else type(e).__name__


async def _outcome(attempt: Awaitable[Outcome]) -> Outcome:
    """The attempt's outcome; a timeout or a socket error is a failed one."""
    try:
        return await attempt
    except asyncio.TimeoutError:
        return Outcome(False, "timeout")
    except OSError as e:
        return Outcome(False, _why(e))


async def _tcp(sock: socket.socket, addr: tuple, timeout: float) -> Outcome:
    loop = asyncio.get_running_loop()

    async def connect() -> Outcome:
        await asyncio.wait_for(loop.sock_connect(sock, addr), timeout)
        return Outcome(True, "connected")

    try:
        return await _outcome(connect())
    finally:
        sock.close()


async def _udp(sock: socket.socket, addr: tuple, timeout: float) -> Outcome:
    loop = asyncio.get_running_loop()
    payload = f"netlab-probe-{next(_seq)}".encode()

    async def resend() -> None:
        # A first datagram can be queued behind neighbour resolution; repeats
        # make a slow first packet not look like a policy drop.
        while True:
            sock.send(payload)
            await asyncio.sleep(0.25)

    sender = None

    async def exchange() -> Outcome:
        nonlocal sender
        sock.connect(addr)
        sender = asyncio.ensure_future(resend())
        deadline = loop.time() + timeout
        while True:
            left = deadline - loop.time()
            if left <= 0:
                return Outcome(False, "timeout")
            data = await asyncio.wait_for(loop.sock_recv(sock, 256), left)
            if data == payload:
                return Outcome(True, "echoed")

    try:
        return await _outcome(exchange())
    finally:
        if sender is not None:
            sender.cancel()
            try:
                await sender
            except (asyncio.CancelledError, OSError):
                pass
        sock.close()


async def run_probes(factory: SocketFactory, probes: list[Probe], timeout: float) -> dict[Probe, Outcome]:
    """Runs all probes at once; returns one Outcome per probe."""
    by_ns: dict[str, list[Probe]] = {}
    for p in probes:
        by_ns.setdefault(p.src_ns, []).append(p)
    tasks = []
    order: list[Probe] = []
    for ns, group in by_ns.items():
        socks = await factory.sockets(ns, [(_FAMILY[p.family], _KIND[p.proto]) for p in group])
        for p, s in zip(group, socks):
            fn = _tcp if p.proto == "TCP" else _udp
            tasks.append(fn(s, p.addr(), timeout))
            order.append(p)
    results = await asyncio.gather(*tasks)
    return dict(zip(order, results))
