#!/usr/bin/env bash
# The README's demo command: installs dependencies, builds, compiles the
# recipes in policies/ with policyc, then builds a two-node lab in network
# namespaces and shows the reachability matrix under each recipe.
# Needs root. Touches nothing outside the network namespaces it creates.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $EUID -eq 0 ]] || { echo "demo.sh: run as root (network namespaces, nftables)" >&2; exit 2; }
bash scripts/install-deps.sh
bash scripts/build.sh
echo
echo "=== policyc compile --node node1 -f policies/ (first 40 lines)"
script=$(mktemp)
trap 'rm -f "$script"' EXIT
build/bin/policyc compile --node node1 -f policies/ >"$script"
head -n 40 "$script"
echo "... ($(wc -l <"$script") lines; $(unshare -n nft -c -f "$script" 2>&1 && echo "accepted by nft -c in a throwaway netns")"
echo
python3 tests/e2e/lab.py demo --policyc build/bin/policyc "$@"
