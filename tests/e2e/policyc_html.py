#!/usr/bin/env python3
"""`policyc matrix -o html` in headless Chromium: the page loads without a
console message (no error, no warning), its script ran, and the cells read
back from the rendered DOM are `policyc matrix -o json`'s, each with explain's
one-line answer as its tooltip. The page must not fetch anything (it is one
self-contained file): Chromium runs with the network disabled and every
resource reference in the page is checked.

  policyc_html.py POLICYC MANIFEST [--screenshot PNG]

Exit 77 (skipped) when no chromium is installed (scripts/install-deps.sh
installs Debian's `chromium`).
"""

from __future__ import annotations

import argparse
import html.parser
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from netlab import report  # noqa: E402


class Cells(html.parser.HTMLParser):
    """Every grid cell (probe, from, to) -> (class, title), and the summaries."""

    def __init__(self) -> None:
        super().__init__()
        self.probe = None
        self.cells: dict[tuple[str, str, str], tuple[str, str]] = {}
        self.summaries: dict[str, str] = {}
        self.refs: list[str] = []
        self._in_summary = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("src", "href"):
            if key in a:
                self.refs.append(f"{tag} {key}={a[key]}")
        if tag == "link":
            self.refs.append(f"link {a}")
        if tag == "section" and "data-probe" in a:
            self.probe = a["data-probe"]
        if tag == "span" and a.get("class") == "summary":
            self._in_summary = True
        if tag == "td" and "data-from" in a:
            self.cells[(self.probe, a["data-from"], a["data-to"])] = (a.get("class", ""), a.get("title", ""))

    def handle_data(self, data):
        if self._in_summary:
            self.summaries[self.probe] = self.summaries.get(self.probe, "") + data

    def handle_endtag(self, tag):
        if tag == "span":
            self._in_summary = False


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def browse(binary: str, page: str, extra: list[str], profile: str) -> subprocess.CompletedProcess:
    cmd = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
           # No network: a self-contained page needs none.
           "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
           *extra, "file://" + page]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("policyc")
    ap.add_argument("manifest")
    ap.add_argument("--screenshot")
    args = ap.parse_args()
    binary = chromium()
    if not binary:
        print("policyc_html: no chromium installed; skipped", file=sys.stderr)
        return 77
    problems = []
    with tempfile.TemporaryDirectory(prefix="policyc-html-") as tmp:
        ports = ["--port", "80/TCP", "--port", "81/UDP"]
        page = os.path.join(tmp, "matrix.html")
        with open(page, "w") as f:
            f.write(subprocess.run([args.policyc, "matrix", "-f", args.manifest, *ports, "-o", "html"],
                                   check=True, capture_output=True, text=True).stdout)
        want = json.loads(subprocess.run([args.policyc, "matrix", "-f", args.manifest, *ports, "-o", "json"],
                                         check=True, capture_output=True, text=True).stdout)
        p = browse(binary, page, ["--dump-dom"], os.path.join(tmp, "profile"))
        if p.returncode != 0:
            problems.append(f"chromium exited {p.returncode}: {p.stderr[-2000:]}")
        console = [line for line in p.stderr.splitlines() if ":CONSOLE" in line]
        problems += [f"console: {line}" for line in console]
        dom = Cells()
        dom.feed(p.stdout)
        problems += [f"the page refers to {r}: it must be self-contained" for r in dom.refs]
        got = 0
        for key, rows in want.items():
            allowed = total = 0
            for src, cols in rows.items():
                for dst, verdict in cols.items():
                    cell = dom.cells.get((key, src, dst))
                    if cell is None:
                        problems.append(f"{key} {src} -> {dst}: no cell in the page")
                        continue
                    got += 1
                    total += 1
                    allowed += verdict
                    cls, title = cell
                    shown = "allow" in cls.split()
                    if shown != verdict:
                        problems.append(f"{key} {src} -> {dst}: the page shows {cls!r}, matrix says {verdict}")
                    if not title.startswith("allowed: " if verdict else "denied: "):
                        problems.append(f"{key} {src} -> {dst}: tooltip {title!r}")
            # The page's own script counts the cells: it ran, and counted right.
            if dom.summaries.get(key, "").strip() != f"{allowed} of {total} pairs allowed":
                problems.append(f"{key}: summary {dom.summaries.get(key)!r}, expected {allowed} of {total}")
        if args.screenshot:
            shot = os.path.abspath(args.screenshot)
            s = browse(binary, page, [f"--screenshot={shot}", "--window-size=560,660", "--hide-scrollbars"],
                       os.path.join(tmp, "profile2"))
            if s.returncode != 0 or not os.path.exists(shot):
                problems.append(f"screenshot failed: {s.stderr[-1000:]}")
    return report.finish("policyc_html", problems,
                         f"{got} cells read back from Chromium's DOM, {len(problems)} problems")


if __name__ == "__main__":
    sys.exit(main())
