#!/usr/bin/env bash
# Golden tests of policyc's reports (matrix, diff, lint): per case folder,
# `cmd` holds policyc's arguments (one line, split on blanks, paths relative
# to the folder), `expected.out` what it prints and `expected.rc` its exit
# status. stderr must be empty; a second run must print the same bytes.
# UPDATE_GOLDEN=1 rewrites expected.out and expected.rc.
#   run.sh POLICYC CASE
set -euo pipefail
policyc=$(realpath "$1")
cd "$2"
name=reports/$(basename "$2")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "golden $name: $*" >&2; exit 1; }
read -ra args <cmd
rc=0
"$policyc" "${args[@]}" >"$tmp/out" 2>"$tmp/err" || rc=$?
[[ ! -s $tmp/err ]] || { cat "$tmp/err" >&2; fail "unexpected stderr (exit $rc)"; }
if [[ ${UPDATE_GOLDEN:-} == 1 ]]; then
  cp "$tmp/out" expected.out
  echo "$rc" >expected.rc
  echo "golden $name: updated (exit $rc)"
  exit 0
fi
diff -u expected.out "$tmp/out" || fail "stdout differs from expected.out (UPDATE_GOLDEN=1 to accept)"
[[ $rc == "$(<expected.rc)" ]] || fail "exit status $rc, expected $(<expected.rc)"
rc2=0
"$policyc" "${args[@]}" >"$tmp/out2" 2>/dev/null || rc2=$?
[[ $rc2 == "$rc" ]] && cmp -s "$tmp/out" "$tmp/out2" || fail "same input, different output"
echo "golden $name: ok (exit $rc, $(wc -l <"$tmp/out") lines)"
