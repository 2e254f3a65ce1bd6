#!/usr/bin/env bash
# Every golden case is described in README.md (a table row starting with its
# name), and every row names a case that exists.
set -euo pipefail
cd "$1"
rc=0
for d in */; do
  c=${d%/}
  [[ -f $c/input.yaml ]] || continue
  grep -q "^| \`$c\` |" README.md || { echo "README.md: no line for case $c" >&2; rc=1; }
done
while read -r c; do
  [[ -f $c/input.yaml ]] || { echo "README.md: case $c does not exist" >&2; rc=1; }
done < <(sed -nE 's/^\| `([^`]+)` \|.*/\1/p' README.md)
exit $rc
