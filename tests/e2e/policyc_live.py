#!/usr/bin/env python3
"""`policyc diff --kubeconfig`: --before listed from a live API server.

Starts the fake API server, creates the lab's cluster and a default-deny
policy in it through the API, then checks that
  policyc diff --kubeconfig KC --after AFTER
prints exactly what
  policyc diff --before FILE --after AFTER
prints for the same objects written to a file, and exits 3; that an
unreachable server is an error (exit 1, nothing on stdout).

  policyc_live.py POLICYC FAKE_APISERVER
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from netlab import model, report  # noqa: E402
from netlab.model import match, netpol, peer, port, rule  # noqa: E402


def post(base: str, obj: dict) -> None:
    md = obj["metadata"]
    if obj["kind"] == "Namespace":
        path = "/api/v1/namespaces"
    elif obj["kind"] == "Pod":
        path = f"/api/v1/namespaces/{md['namespace']}/pods"
    else:
        path = f"/apis/networking.k8s.io/v1/namespaces/{md['namespace']}/networkpolicies"
    req = urllib.request.Request(base + path, data=json.dumps(obj).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status in (200, 201), r.status


def main() -> int:
    policyc, fake = sys.argv[1], sys.argv[2]
    problems = []
    before = model.cluster_objects() + [netpol("deny-ingress", "x", match(), ingress=[])]
    after = before + [netpol("a-from-y", "x", match(pod="a"),
                             ingress=[rule([peer(namespaces=match(ns="y"))], [port(80)])])]
    with tempfile.TemporaryDirectory(prefix="policyc-live-") as tmp:
        port_file = os.path.join(tmp, "port")
        proc = subprocess.Popen([fake, "--listen", "127.0.0.1:0", "--port-file", port_file, "--keep-pod-status"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(100):
                if os.path.exists(port_file) and open(port_file).read().strip():
                    break
                time.sleep(0.05)
            base = f"http://127.0.0.1:{open(port_file).read().strip()}"
            for obj in before:
                post(base, obj)
            kubeconfig = os.path.join(tmp, "kubeconfig")
            with open(kubeconfig, "w") as f:
                f.write(f"""apiVersion: v1
kind: Config
clusters: [{{name: fake, cluster: {{server: "{base}"}}}}]
users: [{{name: me, user: {{}}}}]
contexts: [{{name: fake, context: {{cluster: fake, user: me}}}}]
current-context: fake
""")
            files = {}
            for name, objs in (("before.yaml", before), ("after.yaml", after)):
                files[name] = os.path.join(tmp, name)
                with open(files[name], "w") as f:
                    f.write(model.as_yaml(objs))
            common = ["--after", files["after.yaml"], "--port", "80/TCP", "-o", "json"]
            live = subprocess.run([policyc, "diff", "--kubeconfig", kubeconfig, *common], capture_output=True, text=True)
            offline = subprocess.run([policyc, "diff", "--before", files["before.yaml"], *common],
                                     capture_output=True, text=True)
            if live.returncode != 3 or offline.returncode != 3:
                problems.append(f"exit live {live.returncode}, offline {offline.returncode} (want 3): {live.stderr}")
            if live.stdout != offline.stdout:
                problems.append(f"live and offline differ:\n{live.stdout}\n---\n{offline.stdout}")
            flips = json.loads(live.stdout or "{}").get("TCP/80", [])
            if len(flips) != 3:
                problems.append(f"{len(flips)} flips, expected 3 (y/* -> x/a)")
            same = subprocess.run([policyc, "diff", "--kubeconfig", kubeconfig, "--after", files["before.yaml"]],
                                  capture_output=True, text=True)
            if same.returncode != 0 or same.stdout != "nothing flips\n":
                problems.append(f"live vs its own manifests: exit {same.returncode}: {same.stdout}{same.stderr}")
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        # A server that is gone: an error naming it, nothing on stdout.
        gone = subprocess.run([policyc, "diff", "--kubeconfig", kubeconfig, *common], capture_output=True, text=True)
        if gone.returncode != 1 or gone.stdout or base not in gone.stderr:
            problems.append(f"unreachable server: exit {gone.returncode}, stdout {gone.stdout!r}, stderr {gone.stderr!r}")
    return report.finish("policyc_live", problems, f"{len(problems)} problems")


if __name__ == "__main__":
    sys.exit(main())
