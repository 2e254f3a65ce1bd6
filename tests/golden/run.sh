#!/usr/bin/env bash
# Golden tests of policyc: manifests in (CASE/input.yaml), nft script out.
#   run.sh check POLICYC CASE   compile on node CASE/node (default node-1) and
#                               compare stdout with CASE/expected.nft and stderr
#                               with CASE/expected.err (absent: must be empty);
#                               a case without expected.nft must fail with exit 1
#                               and print nothing on stdout. Compiles twice: same
#                               input, same bytes. UPDATE_GOLDEN=1 rewrites the
#                               expected files from what policyc prints.
#   run.sh netns POLICYC CASE   load the script for real inside a throwaway
#                               network namespace (unshare -n): nft -c -f, nft -f
#                               twice (replacing an existing table), then the
#                               listing must hold every chain, set and map.
#                               Exit 77 (skipped) without root, nft or unshare.
set -euo pipefail
mode=$1
policyc=$(realpath "$2")
case_dir=$3
name=$(basename "$case_dir")
cd "$case_dir"
node=node-1
[[ -f node ]] && node=$(<node)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

compile() {  # compile OUT ERR: run policyc, return its exit status
  local rc=0
  "$policyc" compile --node "$node" -f input.yaml >"$1" 2>"$2" || rc=$?
  return $rc
}

fail() { echo "golden $name: $*" >&2; exit 1; }

if [[ $mode == check ]]; then
  rc=0; compile "$tmp/out" "$tmp/err" || rc=$?
  if [[ ${UPDATE_GOLDEN:-} == 1 ]]; then
    case $rc in
      0) cp "$tmp/out" expected.nft ;;
      1) rm -f expected.nft ;;
      *) cat "$tmp/err" >&2; fail "policyc exited $rc" ;;
    esac
    if [[ -s $tmp/err ]]; then cp "$tmp/err" expected.err; else rm -f expected.err; fi
    echo "golden $name: updated"
    exit 0
  fi
  if [[ -f expected.nft ]]; then
    [[ $rc == 0 ]] || { cat "$tmp/err" >&2; fail "policyc exited $rc, expected 0"; }
    diff -u expected.nft "$tmp/out" || fail "stdout differs from expected.nft (UPDATE_GOLDEN=1 to accept)"
  else
    [[ $rc == 1 ]] || fail "policyc exited $rc, expected 1 (invalid input)"
    [[ ! -s $tmp/out ]] || fail "invalid input but stdout is not empty"
  fi
  if [[ -f expected.err ]]; then
    diff -u expected.err "$tmp/err" || fail "stderr differs from expected.err"
  else
    [[ ! -s $tmp/err ]] || { cat "$tmp/err" >&2; fail "unexpected stderr"; }
  fi
  rc2=0; compile "$tmp/out2" "$tmp/err2" || rc2=$?
  [[ $rc2 == "$rc" ]] || fail "second run exited $rc2, first $rc"
  cmp -s "$tmp/out" "$tmp/out2" || fail "same input, different bytes on stdout"
  cmp -s "$tmp/err" "$tmp/err2" || fail "same input, different bytes on stderr"
  echo "golden $name: ok ($(wc -l <"$tmp/out") lines)"
  exit 0
fi

[[ $mode == netns ]] || fail "unknown mode $mode"
if [[ $EUID -ne 0 ]] || ! command -v nft >/dev/null || ! command -v unshare >/dev/null; then
  echo "golden $name: needs root, nft and unshare; skipped" >&2
  exit 77
fi
compile "$tmp/script.nft" "$tmp/err" || { cat "$tmp/err" >&2; fail "policyc failed"; }
unshare -n bash -euo pipefail -c '
  nft -c -f "$1/script.nft"
  nft -f "$1/script.nft"
  nft -f "$1/script.nft"
  nft list table inet netpol >"$1/listed.nft"
  [[ $(nft list tables) == "table inet netpol" ]]
' _ "$tmp" || fail "nft refused the script"
objects() { grep -E '^[[:space:]]*(chain|set|map) ' "$1" | sed -E 's/^[[:space:]]+//; s/ \{$//' | sort; }
diff <(objects "$tmp/script.nft") <(objects "$tmp/listed.nft") ||
  fail "the kernel's table does not hold the script's chains, sets and maps"
echo "golden $name: loaded in a throwaway netns ($(objects "$tmp/listed.nft" | wc -l) objects)"
