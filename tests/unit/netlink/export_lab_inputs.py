#!/usr/bin/env python3
"""Writes the policyc inputs of every lab case phase into directories.

  export_lab_inputs.py OUTDIR

For each suite (upstream, recipes, cnp), case and phase that compiles policies
(self-test phases with hand-written nft are skipped), OUTDIR/<suite>.<case>.<n>/
holds exactly the files the lab hands to policyc: cluster.json, policies.json
and copies of the phase's extra files. The netlink equivalence test compiles
each directory for both lab nodes. Reads the lab's case tables; touches no
kernel state. The lab gives both topologies the same pod addresses, so one
export covers both (the Node objects, for the cnp suite's `nodes` peers, carry
the routed topology's node addresses).
"""

import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "e2e"))

from netlab import cases_cnp, cases_recipes, cases_upstream, model, topology  # noqa: E402


def main() -> int:
    out = sys.argv[1]
    count = 0
    routed = topology.Topology("routed", None)
    nodes = [model.node_object(n, [routed.node_addr(n, f) for f in model.FAMILIES]) for n in model.NODES]
    for suite, cases in (("upstream", cases_upstream.cases), ("recipes", cases_recipes.cases),
                         ("cnp", cases_cnp.cases)):
        for case in cases():
            for n, phase in enumerate(case.phases):
                if phase.nft is not None:
                    continue
                d = os.path.join(out, f"{suite}.{case.name}.{n}")
                os.makedirs(d, exist_ok=True)
                with open(os.path.join(d, "cluster.json"), "w") as f:
                    f.write(model.as_list(model.cluster_objects(phase.ns_labels, phase.pod_labels) + nodes))
                if phase.policies:
                    with open(os.path.join(d, "policies.json"), "w") as f:
                        f.write(model.as_list(phase.policies))
                for extra in phase.files:
                    shutil.copy(extra, os.path.join(d, os.path.basename(extra)))
                count += 1
    print(count)
    return 0


if __name__ == "__main__":
    sys.exit(main())
