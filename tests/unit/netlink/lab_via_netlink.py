#!/usr/bin/env python3
"""Runs the lab's e2e suites with the rules arriving through netlink.

  NETPOL_NLLOAD=PATH lab_via_netlink.py run --suite S --topology T [...]

Every argument goes to tests/e2e/lab.py unchanged; the only difference is how
a phase's rules reach the nodes: instead of `policyc compile | nft -f -`, each
node namespace runs `netpol-nlload --node N -f <the same inputs>`, which
compiles the same objects and reconciles the node's table through
NetlinkBackend + KernelTable (read back, smallest transaction). Hand-written nft
phases of the self-test are loaded as before. The lab's code is used as is.
"""

import asyncio
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "e2e"))

import lab  # noqa: E402
from netlab import model, runner  # noqa: E402

NLLOAD = os.environ.get("NETPOL_NLLOAD", "")
_original_load = runner.Lab.load


async def _load_via_netlink(self, phase):
    if phase.nft is not None:
        return await _original_load(self, phase)
    with tempfile.TemporaryDirectory(prefix="netlab-nl-") as work:
        with open(os.path.join(work, "cluster.json"), "w") as f:
            f.write(model.as_list(model.cluster_objects(phase.ns_labels, phase.pod_labels)
                                  + self.node_objects()))
        if phase.policies:
            with open(os.path.join(work, "policies.json"), "w") as f:
                f.write(model.as_list(phase.policies))
        cmds = {}
        for node in model.NODES:
            cmd = ["ip", "netns", "exec", self.topo.node_ns[node], NLLOAD, "--node", node, "-f", work]
            for extra in phase.files:
                cmd += ["-f", extra]
            cmds[node] = cmd
        results = await asyncio.gather(*(runner._exec(c) for c in cmds.values()))
    for node, (rc, out, err) in zip(cmds, results):
        if rc != 0:
            raise runner.LabError(f"netpol-nlload in {node} failed ({rc}):\n{err}{out}")
    # The rules as the kernel holds them (a phase's rules_contain is checked on these).
    lists = await asyncio.gather(*(runner._exec(["ip", "netns", "exec", self.topo.node_ns[node], "nft", "list",
                                                  "table", "inet", "netpol"]) for node in cmds))
    for node, (rc, out, err) in zip(cmds, lists):
        if rc != 0:
            raise runner.LabError(f"nft list table in {node} failed ({rc}):\n{err}{out}")
    self.last_scripts = {node: out for node, (_, out, _) in zip(cmds, lists)}
    return self.last_scripts


def main() -> int:
    if not NLLOAD or not os.access(NLLOAD, os.X_OK):
        print("lab_via_netlink.py: set NETPOL_NLLOAD to the netpol-nlload binary", file=sys.stderr)
        return 2
    runner.Lab.load = _load_via_netlink
    return lab.main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
