#!/usr/bin/env bash
# Loads the scripts nft_sample prints into a real kernel, inside a throwaway
# network namespace (unshare -n: gone when the command exits, never the host's
# rules): check mode first, then for real, twice (the full replace must also
# replace an existing table), then the incremental script on top, and the
# listing must still parse. Exit 77 (ctest: skipped) without root or nft.
#   load_in_netns.sh NFT_SAMPLE
set -euo pipefail
sample=$1
if [[ $EUID -ne 0 ]] || ! command -v nft >/dev/null || ! command -v unshare >/dev/null; then
  echo "load_in_netns: needs root, nft and unshare; skipped" >&2
  exit 77
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$sample" full >"$dir/full.nft"
"$sample" incremental >"$dir/incr.nft"
unshare -n bash -euo pipefail -c '
  dir=$1
  nft -c -f "$dir/full.nft"
  nft -f "$dir/full.nft"
  nft -f "$dir/full.nft"
  nft list table inet netpol >"$dir/listed.nft"
  nft -c -f "$dir/incr.nft"
  nft -f "$dir/incr.nft"
  nft list table inet netpol >"$dir/after.nft"
  # What nft lists must load again (the agent may read it back one day).
  nft -c -f "$dir/after.nft"
  # Only our table exists in the namespace.
  [[ $(nft list tables) == "table inet netpol" ]]
' _ "$dir"
# Evidence the changes landed, checked outside the namespace on the listings.
grep -q "10.0.3.3" "$dir/after.nft"
! grep -q "ingress-.*prod/db-0" "$dir/after.nft"
grep -q "nport-EEEEEEEE-v4" "$dir/after.nft"
! grep -q "192.168.1.1-192.168.1.9" "$dir/after.nft"
! grep -q "10.0.2.7 . tcp . 80" "$dir/after.nft"
grep -q "192.168.1.1-192.168.1.9" "$dir/listed.nft"
grep -q "10.0.1.9" "$dir/listed.nft"
echo "load_in_netns: full replace ($(wc -l <"$dir/full.nft") lines) and incremental ($(wc -l <"$dir/incr.nft") lines) loaded"
