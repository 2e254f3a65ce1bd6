#!/usr/bin/env python3
"""The lab, live: fake API server + one netpol-agent per node, driven by kubectl.

  live.py run --suite upstream|recipes|cnp [--topology T] [--case NAME ...] [-v]
  live.py scenarios [--topology T] [--scenario NAME ...]
  live.py demo [--topology T]          recipes one by one (and one ClusterNetworkPolicy
                                       recipe): matrix + measured latency

Same lab as lab.py (docs/lab.md), but no policyc: each phase is written to the
API server with kubectl, the agents compile and program it through netlink,
and the lab waits until every agent's /metrics reports the new state applied
(netpol_synced_resource_version) before it probes. See docs/agent.md.

Binaries: --agent / $NETPOL_AGENT / build/bin/netpol-agent and --apiserver /
$NETPOL_FAKE_APISERVER / build/bin/fake-apiserver; kubectl from $PATH.
Needs root. Every namespace is named nplab<pid>-... and removed on exit.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lab  # noqa: E402
from netlab import cases_cnp, cases_recipes, cases_upstream, netns  # noqa: E402
from netlab.live import LiveLab  # noqa: E402
from netlab.live_scenarios import SCENARIOS  # noqa: E402
from netlab.reach import LEGEND  # noqa: E402
from netlab.topology import TOPOLOGIES  # noqa: E402

REPO = lab.REPO
SUITES = {"upstream": cases_upstream.cases, "recipes": cases_recipes.cases, "cnp": cases_cnp.cases}
DEMO_CNP = lab.DEMO_CNP


def _bin(arg: str | None, env: str, default: str) -> str:
    path = arg or os.environ.get(env) or default
    if not os.path.isabs(path) and not os.path.exists(path):
        path = os.path.join(REPO, path)
    return os.path.abspath(path)


def _make_lab(args, kind, registry, factory, verbose=False) -> LiveLab:
    return LiveLab(kind, registry, factory, args.agent, args.apiserver, args.timeout, verbose,
                   agent_args=["--drift-check-interval", "1s"])


async def _run(args, registry, factory) -> int:
    cases = SUITES[args.suite]()
    if args.case:
        by = {c.name: c for c in cases}
        missing = [n for n in args.case if n not in by]
        if missing:
            raise SystemExit(f"live.py: no case {', '.join(missing)} in suite {args.suite}")
        cases = [by[n] for n in args.case]
    failed, total, t0 = [], 0, time.monotonic()
    for kind in lab._topologies(args.topology):
        live = _make_lab(args, kind, registry, factory, args.verbose)
        try:
            await live.up()
            for case in cases:
                total += 1
                if not await live.run_case(case):
                    failed.append(f"{kind}/{case.name}")
                    live.keep = True
        finally:
            await live.down()
        # The agents' audit logs: a whole suite always has denied probes into
        # and out of both nodes' pods, so each node's log must hold denied
        # connections (the agent's wiring of the audit listener, issue 6).
        counts = getattr(live, "audit_counts", {})
        print(f"live {kind}: audit log connection lines per node: {counts}", flush=True)
        if not args.case and (not counts or any(c["deny"] == 0 for c in counts.values())):
            failed.append(f"{kind}/audit-log")
    print(f"\nlive {args.suite}: {total - len(failed)} of {total} cases passed in "
          f"{time.monotonic() - t0:.0f}s" + (f"; failed: {' '.join(failed)}" if failed else ""), flush=True)
    return 1 if failed else 0


async def _scenarios(args, registry, factory) -> int:
    names = args.scenario or list(SCENARIOS)
    failed, t0 = [], time.monotonic()
    for kind in lab._topologies(args.topology):
        live = _make_lab(args, kind, registry, factory)
        try:
            await live.up()
            for name in names:
                if not await SCENARIOS[name](live):
                    failed.append(f"{kind}/{name}")
                    live.keep = True
        finally:
            await live.down()
    print(f"\nlive scenarios: {len(names) * len(lab._topologies(args.topology)) - len(failed)} passed in "
          f"{time.monotonic() - t0:.0f}s" + (f"; failed: {' '.join(failed)}" if failed else ""), flush=True)
    return 1 if failed else 0


async def _demo(args, registry, factory) -> int:
    cases = cases_recipes.cases() + [c for c in cases_cnp.recipes() if c.name == DEMO_CNP]
    failed = []
    live = _make_lab(args, args.topology, registry, factory, verbose=True)
    live.show_latency = True
    try:
        await live.up()
        print("\nEach recipe is applied with kubectl (the previous one deleted); the agents")
        print("watch the API server and program nftables through netlink. Matrices:")
        print(LEGEND)
        for case in cases:
            print(f"\n=== recipe {case.name}: {case.about}")
            for f in case.phases[0].files:
                names = ", ".join(n.replace('"', "") for n in lab._policy_names(f))
                print(f"    kubectl create -f {os.path.relpath(f, REPO)}   ({names})")
            for i, phase in enumerate(case.phases, 1):
                if len(case.phases) > 1:
                    print(f"    step {i}: {phase.title}")
            if not await live.run_case(case, show=True):
                failed.append(case.name)
                live.keep = True
    finally:
        await live.down()
    print(f"\ndemo: {len(cases) - len(failed)} of {len(cases)} recipes enforced as expected by the agents"
          + (f"; not as expected: {' '.join(failed)}" if failed else ""))
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    def common(p, topo_default="routed"):
        p.add_argument("--topology", default=topo_default, choices=(*TOPOLOGIES, "both"))
        p.add_argument("--agent", help="netpol-agent binary (default $NETPOL_AGENT or build/bin/netpol-agent)")
        p.add_argument("--apiserver",
                       help="fake-apiserver binary (default $NETPOL_FAKE_APISERVER or build/bin/fake-apiserver)")
        p.add_argument("--timeout", type=float, default=0.5, help="probe timeout in seconds (default 0.5)")

    p = sub.add_parser("run", help="a case suite through the API server and the agents")
    common(p)
    p.add_argument("--suite", required=True, choices=list(SUITES))
    p.add_argument("--case", action="append")
    p.add_argument("-v", "--verbose", action="store_true")
    p = sub.add_parser("scenarios", help="churn, relabel, SIGKILL restart, drift repair")
    common(p)
    p.add_argument("--scenario", action="append", choices=list(SCENARIOS))
    common(sub.add_parser("demo", help="the recipes one by one with matrices and latencies"))
    args = ap.parse_args(argv)

    args.agent = _bin(args.agent, "NETPOL_AGENT", "build/bin/netpol-agent")
    args.apiserver = _bin(args.apiserver, "NETPOL_FAKE_APISERVER", "build/bin/fake-apiserver")
    for what, path in (("netpol-agent", args.agent), ("fake-apiserver", args.apiserver)):
        if not os.access(path, os.X_OK):
            print(f"live.py: {what} not found or not executable: {path}", file=sys.stderr)
            return 2
    if not shutil.which("kubectl"):
        print("live.py: kubectl not found (scripts/install-deps.sh installs it)", file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("live.py: needs root (network namespaces, nftables)", file=sys.stderr)
        return 2

    async def amain(registry: netns.NetnsRegistry) -> int:
        factory = netns.SocketFactory()
        try:
            if args.cmd == "run":
                return await _run(args, registry, factory)
            if args.cmd == "scenarios":
                return await _scenarios(args, registry, factory)
            return await _demo(args, registry, factory)
        finally:
            factory.close()

    return netns.run_lab("live.py", amain)


if __name__ == "__main__":
    sys.exit(main())
