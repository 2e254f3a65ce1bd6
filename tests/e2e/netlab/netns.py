"""Network namespaces owned by one lab run, and sockets created inside them.

NetnsRegistry creates namespaces under a per-process prefix (nplab<pid>-...)
and removes every one of them again, on normal exit, on exceptions and on
SIGINT/SIGTERM. It must never delete a namespace it did not create, except
through cleanup_stale(), which only removes namespaces with our prefix whose
creating process is gone.

Sockets are created inside a namespace by a worker thread that calls setns(2)
and switches back; a socket keeps the namespace it was created in, so the
rest of the program (one asyncio loop) uses it like any other socket.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Awaitable, Callable

CLONE_NEWNET = 0x40000000
NETNS_DIR = "/run/netns"
PREFIX = "nplab"
_STALE_RE = re.compile(r"^nplab(\d+)-")

_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


class SocketFactory:
    """Creates sockets inside named network namespaces.

    All setns(2) calls happen on one dedicated thread, so the thread running
    the asyncio loop never changes namespace.
    """

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="netns")
        self._fds: dict[str, int] = {}
        self._lock = threading.Lock()

    def _fd(self, ns: str) -> int:
        with self._lock:
            fd = self._fds.get(ns)
            if fd is None:
                fd = os.open(os.path.join(NETNS_DIR, ns), os.O_RDONLY | os.O_CLOEXEC)
                self._fds[ns] = fd
            return fd

    def _create(self, ns: str, specs: list[tuple[int, int]]) -> list[socket.socket]:
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        made: list[socket.socket] = []
        try:
            _setns(self._fd(ns))
            try:
                for family, kind in specs:
                    s = socket.socket(family, kind)
                    s.setblocking(False)
                    made.append(s)
            finally:
                # Back home even if socket() failed, so the next call starts clean.
                _setns(home)
        except BaseException:
            for s in made:
                s.close()
            raise
        finally:
            os.close(home)
        return made

    async def sockets(self, ns: str, specs: list[tuple[int, int]]) -> list[socket.socket]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._create, ns, specs)

    def forget(self, ns: str) -> None:
        with self._lock:
            fd = self._fds.pop(ns, None)
        if fd is not None:
            os.close(fd)

    def close(self) -> None:
        with self._lock:
            for fd in self._fds.values():
                os.close(fd)
            self._fds.clear()
        self._pool.shutdown(wait=True)


def run(cmd: list[str], input_text: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Runs a command, capturing output; raises with the output on failure."""
    proc = subprocess.run(cmd, input=input_text, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError(
            f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout}{proc.stderr}"
        )
    return proc


class NetnsRegistry:
    """Owns the namespaces of one lab run; removes them all in cleanup()."""

    def __init__(self, pid: int | None = None) -> None:
        self.prefix = f"{PREFIX}{pid if pid is not None else os.getpid()}-"
        self._names: list[str] = []
        self._lock = threading.Lock()

    def name(self, suffix: str) -> str:
        return self.prefix + suffix

    def add(self, suffix: str) -> str:
        name = self.name(suffix)
        with self._lock:
            # Recorded before creation so a half-made namespace is still removed.
            self._names.append(name)
        run(["ip", "netns", "add", name])
        return name

    def owned(self) -> list[str]:
        with self._lock:
            return list(self._names)

    def remove(self, names: list[str]) -> None:
        for name in names:
            if os.path.exists(os.path.join(NETNS_DIR, name)):
                run(["ip", "netns", "del", name], check=False)
            with self._lock:
                if name in self._names:
                    self._names.remove(name)

    def cleanup(self) -> None:
        self.remove(self.owned())


def _pid_is_lab(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
    except OSError:
        return False
    # Every entry point that builds a lab (lab.py, audit_lab.py, live.py and the
    # netlink runner): a live run of any of them keeps its namespaces.
    return any(s in cmdline for s in (b"lab.py", b"live.py", b"lab_via_netlink.py"))


def cleanup_stale(verbose: bool = True) -> list[str]:
    """Removes namespaces named nplab<pid>-* whose lab process no longer runs."""
    removed = []
    try:
        names = sorted(os.listdir(NETNS_DIR))
    except FileNotFoundError:
        return removed
    for name in names:
        m = _STALE_RE.match(name)
        if not m:
            continue
        pid = int(m.group(1))
        if pid == os.getpid() or _pid_is_lab(pid):
            continue
        run(["ip", "netns", "del", name], check=False)
        removed.append(name)
    if verbose and removed:
        print(f"cleanup-stale: removed {len(removed)} namespaces: {' '.join(removed)}", file=sys.stderr)
    return removed


def install_signal_handlers() -> None:
    """SIGTERM/SIGHUP become SystemExit, SIGINT KeyboardInterrupt: finally-blocks clean up."""

    def _exit(signum, _frame):
        # Ignore repeats while cleanup runs; one teardown is enough.
        signal.signal(signum, signal.SIG_IGN)
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _exit)
    signal.signal(signal.SIGHUP, _exit)
    # A shell starts background jobs with SIGINT ignored; Ctrl-C or kill -INT
    # must still tear the lab down.
    signal.signal(signal.SIGINT, signal.default_int_handler)


def run_lab(prog: str, amain: Callable[[NetnsRegistry], Awaitable[int]]) -> int:
    """Runs one lab process: amain(registry) under asyncio, after raising the
    open-files limit (~1000 probe sockets at once), removing the namespaces
    of dead labs and turning signals into clean exits; every namespace the
    registry holds is removed at the end, once, whatever happened."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    cleanup_stale()
    install_signal_handlers()
    registry = NetnsRegistry()
    try:
        return asyncio.run(amain(registry))
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output piped into head & co.: stop quietly, still tear down below.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    finally:
        # One teardown, not interrupted by a second signal.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        registry.cleanup()
