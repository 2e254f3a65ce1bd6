#!/usr/bin/env bash
# The README's demo command: installs dependencies, builds, then starts a fake
# API server and a two-node lab in network namespaces (nine pods serving TCP
# and UDP), runs one netpol-agent per node against the API server, and applies
# the recipes in policies/ one after another with kubectl, then one
# ClusterNetworkPolicy recipe (policies/cnp/baseline-default-deny.yaml, a
# baseline default deny that namespace x opens with a NetworkPolicy), printing
# the reachability matrix and the measured event->enforcement latency after each.
# Needs root. Touches nothing outside the network namespaces it creates.
#   bash scripts/demo.sh                       routed lab (default)
#   bash scripts/demo.sh --topology bridged    the same on a bridged node network
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $EUID -eq 0 ]] || { echo "demo.sh: run as root (network namespaces, nftables)" >&2; exit 2; }
bash scripts/install-deps.sh
bash scripts/build.sh
echo
python3 tests/e2e/live.py demo --agent build/bin/netpol-agent --apiserver build/bin/fake-apiserver "$@"
