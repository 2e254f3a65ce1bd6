#!/usr/bin/env python3
"""How the agent's cost grows with the cluster (issue 12, item 4).

Runs netpol-bench-agent at several cluster sizes (policies 1:10 to pods,
namespaces 1:100, the node's 110 local pods fixed), parses what it prints
and writes a Markdown table and an SVG plot (stdlib only: the SVG is written
by hand). Prints the growth per pod (least-squares slope of RSS at ready and
of start-to-ready against pods). Needs root (the bench does).

  python3 tests/bench/growth.py --bench build/bin/netpol-bench-agent \\
      --agent build/bin/netpol-agent --sizes 10000,50000,100000,150000 \\
      --runs 1 --table /tmp/growth.md --svg docs/growth.svg
"""
import argparse
import re
import statistics
import subprocess
import sys

KINDS = ["pod creations", "label changes", "policy changes"]


def run_once(bench, agent, pods, changes):
    r = {"pods": pods, "namespaces": max(pods // 100, 1), "policies": max(pods // 10, 1)}
    cmd = [bench, "--agent", agent, "--pods", str(pods), "--namespaces", str(r["namespaces"]),
           "--policies", str(r["policies"]), "--changes", str(changes)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    m = re.search(r"start to ready: (\d+) ms .*?: (\d+) chains, (\d+) sets, (\d+) elements", out)
    if not m:
        raise RuntimeError("no 'start to ready' line in:\n" + out)
    r["ready_ms"], r["chains"], r["sets"], r["elements"] = map(int, m.groups())
    m = re.search(r"agent RSS: ([\d.]+) MiB at ready, ([\d.]+) MiB after the stream, "
                  r"peak ([\d.]+) MiB", out)
    if not m:
        raise RuntimeError("no 'agent RSS' line in:\n" + out)
    r["rss_ready"], r["rss_after"], r["rss_peak"] = map(float, m.groups())
    for kind in KINDS:
        m = re.search(re.escape(kind) + r" +\d+ writes, +\d+ changed this node's rules: "
                      r"event->kernel p50 +([\d.]+) ms, p99 +([\d.]+) ms", out)
        if not m:
            raise RuntimeError(f"no '{kind}' line in:\n" + out)
        r[kind] = (float(m.group(1)), float(m.group(2)))
    return r


def slope(xs, ys):
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else 0.0


def spread(vals, fmt):
    lo, hi = min(vals), max(vals)
    return fmt.format(lo) if lo == hi else (fmt + "–" + fmt).format(lo, hi)


def table(rows_by_size):
    head = ("| pods | policies | RSS at ready (MiB) | peak (MiB) | start to ready (ms) | "
            "set elements | " + " | ".join(f"{k} p50 / p99 (ms)" for k in KINDS) + " |")
    lines = [head, "|" + " --- |" * (6 + len(KINDS))]
    for pods, runs in sorted(rows_by_size.items()):
        cells = [f"{pods:,}", f"{runs[0]['policies']:,}",
                 spread([r["rss_ready"] for r in runs], "{:.0f}"),
                 spread([r["rss_peak"] for r in runs], "{:.0f}"),
                 spread([r["ready_ms"] for r in runs], "{:.0f}"),
                 spread([r["elements"] for r in runs], "{:,}")]
        for k in KINDS:
            cells.append(spread([r[k][0] for r in runs], "{:.1f}") + " / " +
                         spread([r[k][1] for r in runs], "{:.1f}"))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def svg(rows_by_size):
    """Three panels side by side: RSS, start-to-ready, p99 per change kind."""
    w, h, pad = 360, 260, 48
    sizes = sorted(rows_by_size)
    med = {s: {} for s in sizes}
    for s in sizes:
        runs = rows_by_size[s]
        med[s]["RSS at ready (MiB)"] = statistics.median(r["rss_ready"] for r in runs)
        med[s]["start to ready (s)"] = statistics.median(r["ready_ms"] for r in runs) / 1000
        for k in KINDS:
            med[s][k + " p99 (ms)"] = statistics.median(r[k][1] for r in runs)
    panels = [("RSS at ready (MiB)", ["RSS at ready (MiB)"]),
              ("start to ready (s)", ["start to ready (s)"]),
              ("event→kernel p99 (ms)", [k + " p99 (ms)" for k in KINDS])]
    colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{3 * w}" height="{h}" '
           'font-family="sans-serif" font-size="11">',
           f'<rect width="{3 * w}" height="{h}" fill="white"/>']
    xmax = max(sizes)
    for p, (title, series) in enumerate(panels):
        x0 = p * w
        ymax = max(med[s][name] for s in sizes for name in series) * 1.1 or 1
        X = lambda v: x0 + pad + (w - 2 * pad) * v / xmax  # noqa: E731
        Y = lambda v: h - pad - (h - 2 * pad) * v / ymax  # noqa: E731
        out.append(f'<text x="{x0 + w / 2}" y="16" text-anchor="middle" '
                   f'font-weight="bold">{title}</text>')
        out.append(f'<line x1="{X(0)}" y1="{Y(0)}" x2="{X(xmax)}" y2="{Y(0)}" stroke="black"/>')
        out.append(f'<line x1="{X(0)}" y1="{Y(0)}" x2="{X(0)}" y2="{Y(ymax)}" stroke="black"/>')
        for s in sizes:
            out.append(f'<text x="{X(s)}" y="{h - pad + 14}" text-anchor="middle">'
                       f'{s // 1000}k</text>')
        for i in range(5):
            v = ymax * i / 4
            out.append(f'<text x="{X(0) - 4}" y="{Y(v) + 4}" text-anchor="end">{v:.3g}</text>')
        out.append(f'<text x="{x0 + w / 2}" y="{h - 8}" text-anchor="middle">cluster pods</text>')
        for j, name in enumerate(series):
            pts = " ".join(f"{X(s):.1f},{Y(med[s][name]):.1f}" for s in sizes)
            out.append(f'<polyline points="{pts}" fill="none" stroke="{colors[j]}" '
                       'stroke-width="2"/>')
            for s in sizes:
                out.append(f'<circle cx="{X(s):.1f}" cy="{Y(med[s][name]):.1f}" r="3" '
                           f'fill="{colors[j]}"/>')
            out.append(f'<text x="{X(0) + 8}" y="{30 + 14 * j}" fill="{colors[j]}">{name}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench", default="build/bin/netpol-bench-agent")
    ap.add_argument("--agent", default="build/bin/netpol-agent")
    ap.add_argument("--sizes", default="10000,50000,100000,150000")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--changes", type=int, default=300)
    ap.add_argument("--table", help="write the Markdown table here")
    ap.add_argument("--svg", help="write the SVG plot here")
    a = ap.parse_args()
    rows = {}
    for pods in (int(s) for s in a.sizes.split(",")):
        for i in range(a.runs):
            r = run_once(a.bench, a.agent, pods, a.changes)
            rows.setdefault(pods, []).append(r)
            print(f"{pods} pods, run {i + 1}: ready {r['ready_ms']} ms, RSS {r['rss_ready']:.0f} "
                  f"MiB, peak {r['rss_peak']:.0f} MiB, "
                  + ", ".join(f"{k} p99 {r[k][1]:.1f} ms" for k in KINDS), flush=True)
    md = table(rows)
    print(md, end="")
    flat = [r for runs in rows.values() for r in runs]
    if len(rows) > 1:
        xs = [r["pods"] for r in flat]
        print(f"growth per pod: RSS at ready {slope(xs, [r['rss_ready'] * 1048576 for r in flat]):.0f}"
              f" B/pod, peak {slope(xs, [r['rss_peak'] * 1048576 for r in flat]):.0f} B/pod, "
              f"start to ready {slope(xs, [r['ready_ms'] * 1000 for r in flat]):.1f} µs/pod")
    if a.table:
        with open(a.table, "w") as f:
            f.write(md)
    if a.svg:
        with open(a.svg, "w") as f:
            f.write(svg(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
