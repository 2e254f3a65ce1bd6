#!/usr/bin/env python3
"""policyc matrix and diff against the lab's expectations, offline.

For every step (phase) of every e2e case (upstream, recipes and cnp), the lab's
model writes the manifests the lab would compile (no network namespaces),
and, over IPv4 and over IPv6 (--family; the lab probes both):
  - `policyc matrix -o json` over the phase's probes must equal the case's
    expected matrix, cell for cell;
  - `policyc explain --batch` asked about every cell must say the same
    (matrix is explain's answer, evaluated once per identity);
  - for consecutive phases, `policyc diff -o json` must list exactly the
    cells whose expected value changed (on the probes both phases state),
    each with a reason, and exit 3 (or 0 when nothing changed).

  policyc_reports.py POLICYC
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from netlab import cases_cnp, cases_recipes, cases_upstream, model, report  # noqa: E402


def write_phase(phase, where: str) -> list[str]:
    """The phase's manifests in `where` (as the lab's runner writes them); the -f arguments."""
    os.makedirs(where)
    with open(os.path.join(where, "cluster.yaml"), "w") as f:
        f.write(model.as_yaml(model.cluster_objects(phase.ns_labels, phase.pod_labels)))
    if phase.policies:
        with open(os.path.join(where, "policies.yaml"), "w") as f:
            f.write(model.as_yaml(phase.policies))
    args = ["-f", where]
    for extra in phase.files:
        args += ["-f", extra]
    return args


def probe_key(check) -> str:
    return f"{check.proto}/{check.port}"


def port_args(keys) -> list[str]:
    out = []
    for k in keys:
        proto, port = k.split("/")
        out += ["--port", f"{port}/{proto}"]
    return out


def run(cmd, want_rc, input_text=None):
    p = subprocess.run(cmd, capture_output=True, text=True, input=input_text)
    if p.returncode not in want_rc:
        raise AssertionError(f"{' '.join(cmd)}: exit {p.returncode}\n{p.stderr}")
    return p


def main() -> int:
    policyc = os.path.abspath(sys.argv[1])
    t0 = time.monotonic()
    problems: list[str] = []
    phases = diffs = cells = 0
    cases = ([("upstream", c) for c in cases_upstream.cases()] + [("recipes", c) for c in cases_recipes.cases()]
             + [("cnp", c) for c in cases_cnp.cases()])
    with tempfile.TemporaryDirectory(prefix="policyc-reports-") as tmp:
        for suite, case in cases:
            prev = None  # (files args, {probe: expect})
            for i, phase in enumerate(case.phases, 1):
                if phase.nft is not None:
                    continue
                files = write_phase(phase, os.path.join(tmp, suite, case.name, str(i)))
                expect = {probe_key(c): c.expect for c in phase.checks}
                phases += 1
                for fam in model.FAMILIES:
                    tag = f"{suite}/{case.name} phase {i} IPv{fam}"
                    got = json.loads(run([policyc, "matrix", *files, *port_args(expect), "--family", str(fam),
                                          "-o", "json"], {0}).stdout)
                    if sorted(got) != sorted(expect):
                        problems.append(f"{tag}: probes {sorted(got)}, expected {sorted(expect)}")
                        continue
                    queries = []
                    for key, reach in expect.items():
                        rows = got[key]
                        pairs = {(s, d) for s in rows for d in rows[s]}
                        if pairs != set(reach.cells):
                            problems.append(f"{tag} {key}: matrix has pairs {len(pairs)}, expected {len(reach.cells)}")
                            continue
                        proto, port = key.split("/")
                        for (s, d), want in sorted(reach.cells.items()):
                            cells += 1
                            if rows[s][d] != want:
                                problems.append(f"{tag} {key} {s} -> {d}: matrix says {rows[s][d]}, the case expects {want}")
                            queries.append((f"{s} {d} {port}/{proto} {fam}", rows[s][d]))
                    # Matrix equals explain, cell for cell.
                    out = run([policyc, "explain", *files, "--batch", "-"], {0},
                              "".join(q + "\n" for q, _ in queries)).stdout
                    said = {}
                    for line in out.splitlines():
                        verdict, _, q = line.partition(" ")
                        said[q] = verdict == "allowed"
                    for q, allowed in queries:
                        if said.get(q) != allowed:
                            problems.append(f"{tag}: explain says {said.get(q)} for {q}, matrix {allowed}")
                    if prev is not None:
                        pfiles, pexpect = prev
                        common = [k for k in expect if k in pexpect]
                        want = {(k, s, d, pexpect[k][(s, d)], expect[k][(s, d)])
                                for k in common for (s, d) in expect[k].cells
                                if pexpect[k][(s, d)] != expect[k][(s, d)]}
                        before = [a if a != "-f" else "--before" for a in pfiles]
                        after = [a if a != "-f" else "--after" for a in files]
                        p = run([policyc, "diff", *before, *after, *port_args(common), "--family", str(fam),
                                 "-o", "json"], {0, 3})
                        flips = json.loads(p.stdout)
                        diffs += 1
                        seen = set()
                        for k, items in flips.items():
                            for f in items:
                                seen.add((k, f["from"], f["to"], f["before"], f["after"]))
                                if not f.get("why"):
                                    problems.append(f"{tag}: diff gives no reason for {k} {f['from']} -> {f['to']}")
                        if sorted(flips) != sorted(common):
                            problems.append(f"{tag}: diff probes {sorted(flips)}, expected {sorted(common)}")
                        if seen != want:
                            problems.append(f"{tag}: diff from phase {i - 1}: extra {sorted(seen - want)}, "
                                            f"missing {sorted(want - seen)}")
                        if p.returncode != (3 if want else 0):
                            problems.append(f"{tag}: diff exited {p.returncode} with {len(want)} flips")
                prev = (files, expect)
    return report.finish("policyc_reports", problems,
                         f"{len(cases)} cases, {phases} phases ({cells} cells), {diffs} diffs, "
                         f"{len(problems)} problems in {time.monotonic() - t0:.1f}s")


if __name__ == "__main__":
    sys.exit(main())
