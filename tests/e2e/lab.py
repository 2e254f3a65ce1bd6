#!/usr/bin/env python3
"""The netpol lab: two nodes and nine pods as network namespaces, real probes.

  lab.py selftest [--topology T]                 lab sanity with hand-written nft rules
  lab.py run --suite upstream|recipes|cnp [--topology T] [--case NAME ...] [-v] [--dump DIR] [--explain]
  lab.py demo --policyc PATH [--topology T]      recipes one by one (and a CNP one), with matrices
  lab.py list [--suite S]                        the cases and what they check
  lab.py check-tables                            cross-check the case tables (no root)
  lab.py up [--topology T]                       build a lab and wait (manual poking)
  lab.py cleanup-stale                           remove namespaces of crashed runs

T is routed, bridged or both. policyc comes from --policyc, else $NETPOL_POLICYC,
else build/bin/policyc. Needs root (Python standard library only). Every
namespace the run creates is named nplab<pid>-... and removed on exit.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from netlab import cases_cnp, cases_recipes, cases_upstream, model, netns, oracle, selftest  # noqa: E402
from netlab.reach import LEGEND  # noqa: E402
from netlab.runner import Lab  # noqa: E402
from netlab.topology import TOPOLOGIES  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The ClusterNetworkPolicy recipe the demos end with (policies/cnp/).
DEMO_CNP = "cnp-baseline-default-deny"

SUITES = {
    "selftest": selftest.cases,
    "upstream": cases_upstream.cases,
    "recipes": cases_recipes.cases,
    "cnp": cases_cnp.cases,
}


def _policyc(arg: str | None) -> str:
    path = arg or os.environ.get("NETPOL_POLICYC") or "build/bin/policyc"
    if not os.path.isabs(path) and not os.path.exists(path):
        path = os.path.join(REPO, path)
    return os.path.abspath(path)


def _topologies(arg: str) -> list[str]:
    return list(TOPOLOGIES) if arg == "both" else [arg]


def _select(suite: str, names: list[str] | None):
    all_cases = SUITES[suite]()
    if not names:
        return all_cases
    by_name = {c.name: c for c in all_cases}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise SystemExit(f"lab.py: no case {', '.join(missing)} in suite {suite} (see: lab.py list)")
    return [by_name[n] for n in names]


async def _run_suite(args, registry, factory, suite: str) -> int:
    cases = _select(suite, getattr(args, "case", None))
    policyc = None if suite == "selftest" else _policyc(args.policyc)
    if policyc and not os.access(policyc, os.X_OK):
        print(f"lab.py: policyc not found or not executable: {policyc}", file=sys.stderr)
        return 2
    failed: list[str] = []
    total = 0
    t0 = time.monotonic()
    if args.verbose:
        print(LEGEND)
    for kind in _topologies(args.topology):
        lab = Lab(kind, registry, factory, policyc, args.timeout, args.verbose)
        lab.dump_dir = getattr(args, "dump", None)
        lab.explain = getattr(args, "explain", False)
        try:
            await lab.up()
            for case in cases:
                total += 1
                if not await lab.run_case(case):
                    failed.append(f"{kind}/{case.name}")
        finally:
            await lab.down()
    print(f"\n{suite}: {total - len(failed)} of {total} cases passed in {time.monotonic() - t0:.0f}s"
          + (f"; failed: {' '.join(failed)}" if failed else ""), flush=True)
    return 1 if failed else 0


def _policy_names(path: str) -> list[str]:
    """namespace/name (cnp/NAME for a ClusterNetworkPolicy) of each document in a
    recipe file (display only; no YAML parser)."""
    names = []
    with open(path) as f:
        for doc in f.read().split("\n---"):
            meta = dict(re.findall(r"^  (name|namespace): *(\S+)", doc, re.M))
            if "name" not in meta:
                continue
            if re.search(r"^kind: *ClusterNetworkPolicy\b", doc, re.M):
                names.append(f"cnp/{meta['name']}")
            else:
                names.append(f"{meta.get('namespace', 'default')}/{meta['name']}")
    return names


async def _demo(args, registry, factory) -> int:
    policyc = _policyc(args.policyc)
    if not os.access(policyc, os.X_OK):
        print(f"lab.py: policyc not found or not executable: {policyc}", file=sys.stderr)
        return 2
    cases = cases_recipes.cases() + [c for c in cases_cnp.recipes() if c.name == DEMO_CNP]
    failed = []
    for kind in _topologies(args.topology):
        lab = Lab(kind, registry, factory, policyc, args.timeout, verbose=True)
        try:
            await lab.up()
            print(LEGEND)
            for case in cases:
                print(f"\n=== recipe {case.name}: {case.about}")
                for f in case.phases[0].files:
                    print(f"    file {os.path.relpath(f, REPO)}: {', '.join(_policy_names(f))}")
                for i, phase in enumerate(case.phases, 1):
                    if len(case.phases) > 1:
                        print(f"    step {i}: {phase.title}")
                if not await lab.run_case(case, show=True):
                    failed.append(case.name)
        finally:
            await lab.down()
    print(f"\ndemo: {len(cases) * len(_topologies(args.topology)) - len(failed)} recipes behaved as "
          f"expected" + (f"; not as expected: {' '.join(failed)}" if failed else ""))
    return 1 if failed else 0


async def _up(args, registry, factory) -> int:
    lab = Lab(args.topology, registry, factory)
    try:
        await lab.up()
        print("nodes: " + "  ".join(f"{n}={ns}" for n, ns in lab.topo.node_ns.items()))
        for pod in model.PODS:
            print(f"  {pod}  {model.node_of(pod)}  {lab.topo.pod_ns[pod]}  "
                  f"{model.pod_ip(pod, 4)}  {model.pod_ip(pod, 6)}")
        print("servers listen on tcp+udp 53/80/81. Ctrl-C removes everything.", flush=True)
        while True:
            await asyncio.sleep(3600)
    finally:
        await lab.down()


async def _amain(args, registry) -> int:
    factory = netns.SocketFactory()
    try:
        if args.cmd == "selftest":
            return await _run_suite(args, registry, factory, "selftest")
        if args.cmd == "run":
            return await _run_suite(args, registry, factory, args.suite)
        if args.cmd == "demo":
            return await _demo(args, registry, factory)
        if args.cmd == "up":
            return await _up(args, registry, factory)
        raise AssertionError(args.cmd)
    finally:
        factory.close()


def _list(args) -> int:
    for suite in ([args.suite] if args.suite else list(SUITES)):
        print(f"[{suite}]")
        for c in SUITES[suite]():
            phases = f"{len(c.phases)} phases" if len(c.phases) > 1 else "1 phase"
            print(f"  {c.name:58} {phases}" + (f"  <- {c.upstream}" if c.upstream else f"  {c.about}"))
    return 0


def _check_tables() -> int:
    """Every hand-written expectation against a literal reading of the spec."""
    try:
        import yaml  # only to read policies/*.yaml here; the lab itself never needs it

        def load(path):
            with open(path) as f:
                return [d for d in yaml.safe_load_all(f) if d]
    except ImportError:
        load = None
    problems, checked = [], 0
    for suite in ("upstream", "recipes", "cnp"):
        for case in SUITES[suite]():
            if load is None and any(p.files for p in case.phases):
                print(f"check-tables: {suite}/{case.name} not cross-checked (python3-yaml not installed)")
                continue
            problems += oracle.check_case(case, load)
            checked += 1
    for p in problems:
        print(f"! {p}")
    print(f"check-tables: {checked} cases, {len(problems)} disagreements")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cleanup-stale", action="store_true",
                    help="remove namespaces left by crashed lab runs, then exit")
    sub = ap.add_subparsers(dest="cmd")

    def common(p, topo_default="both", topo_choices=("routed", "bridged", "both")):
        p.add_argument("--topology", default=topo_default, choices=topo_choices)
        p.add_argument("--policyc", help="policyc binary (default $NETPOL_POLICYC or build/bin/policyc)")
        p.add_argument("--timeout", type=float, default=0.5, help="probe timeout in seconds (default 0.5)")
        p.add_argument("-v", "--verbose", action="store_true", help="print every matrix, not only failures")

    common(sub.add_parser("selftest", help="lab sanity with hand-written nft rules"))
    p = sub.add_parser("run", help="run a case suite against policyc")
    common(p)
    p.add_argument("--suite", required=True, choices=("upstream", "recipes", "cnp"))
    p.add_argument("--case", action="append", help="run only this case (repeatable)")
    p.add_argument("--dump", metavar="DIR",
                   help="keep every phase's policyc inputs and nft scripts under DIR/<topology>/<case>/")
    p.add_argument("--explain", action="store_true",
                   help="also ask `policyc explain` about every probe; a disagreement with the kernel fails the case")
    common(sub.add_parser("demo", help="recipes one by one with their matrices"), "routed")
    p = sub.add_parser("list", help="list cases")
    p.add_argument("--suite", choices=list(SUITES))
    p = sub.add_parser("up", help="build one lab and wait")
    common(p, "routed", TOPOLOGIES)
    sub.add_parser("cleanup-stale", help="remove namespaces left by crashed lab runs")
    sub.add_parser("check-tables", help="cross-check the case tables against the spec (no root)")
    args = ap.parse_args(argv)

    if args.cmd == "list":
        return _list(args)
    if args.cmd == "check-tables":
        return _check_tables()
    if os.geteuid() != 0:
        print("lab.py: needs root (network namespaces, nftables)", file=sys.stderr)
        return 2
    if args.cleanup_stale or args.cmd == "cleanup-stale":
        removed = netns.cleanup_stale(verbose=False)
        print(f"cleanup-stale: removed {len(removed)} namespaces" + (": " + " ".join(removed) if removed else ""))
        return 0
    if args.cmd is None:
        ap.print_help()
        return 2

    return netns.run_lab("lab.py", lambda registry: _amain(args, registry))


if __name__ == "__main__":
    sys.exit(main())
