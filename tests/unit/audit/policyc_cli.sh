#!/usr/bin/env bash
# policyc explain and policyc audit from the command line: exit statuses,
# first line of explain, audit over rotated files, corrupt lines counted,
# --follow across an append, a half-written line, a rotation and a truncation.
#   policyc_cli.sh POLICYC SOURCE_DIR
set -euo pipefail
policyc=$(realpath "$1")
src=$2
golden=$src/tests/unit/audit/format.golden.jsonl
tmp=$(mktemp -d)
follow_pid=
trap '[[ -n $follow_pid ]] && kill "$follow_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
fail() { echo "policyc_cli: $*" >&2; exit 1; }

# explain: first line, exit 0 allowed / 4 denied / 2 bad query.
rc=0; out=$("$policyc" explain -f "$src/tests/golden/deny-all/input.yaml" --from y/a --to x/a --port 80/TCP) || rc=$?
[[ $rc == 4 && $(head -1 <<<"$out") == denied ]] || fail "explain deny: rc=$rc out=$out"
grep -q "isolated by x/default-deny" <<<"$out" || fail "explain names the isolating policy"
rc=0; out=$("$policyc" explain -f "$src/tests/golden/deny-all/input.yaml" --from x/a --to y/a --port 53/UDP) || rc=$?
[[ $rc == 4 ]] || fail "x/a's egress is denied too (rc=$rc)"
rc=0; "$policyc" explain -f "$src/tests/golden/selectors/input.yaml" --from 10.244.2.11 --to x/a --port 80 >"$tmp/o" || rc=$?
[[ $rc == 0 && $(head -1 "$tmp/o") == allowed ]] || fail "explain allow: rc=$rc"
rc=0; "$policyc" explain -f "$src/tests/golden/deny-all/input.yaml" --from x/zz --to x/a --port 80 2>"$tmp/e" || rc=$?
[[ $rc == 2 ]] && grep -q "no such pod" "$tmp/e" || fail "unknown pod: rc=$rc"
rc=0; "$policyc" explain -f "$src/tests/golden/deny-all/input.yaml" --from x/a --to y/a 2>/dev/null || rc=$?
[[ $rc == 2 ]] || fail "missing --port must be a usage error (rc=$rc)"

# audit: rotated files oldest first, corrupt lines skipped and counted.
head -3 "$golden" >"$tmp/audit.log.1"
printf 'garbage\n{"schema_version":1,"event":"conn' >>"$tmp/audit.log.1"
printf '\n' >>"$tmp/audit.log.1"
tail -n +4 "$golden" >"$tmp/audit.log"
"$policyc" audit -o json "$tmp/audit.log" >"$tmp/all" 2>"$tmp/err"
cmp -s "$tmp/all" "$golden" || fail "audit -o json over FILE.1 + FILE must give back every line in order"
grep -q "skipped 2 corrupt" "$tmp/err" || fail "corrupt lines must be counted: $(cat "$tmp/err")"
n=$("$policyc" audit --no-rotated -o json "$tmp/audit.log" 2>/dev/null | wc -l)
[[ $n == 10 ]] || fail "--no-rotated reads only FILE ($n lines)"
out=$("$policyc" audit --summary "$tmp/audit.log" 2>/dev/null)
grep -q "9980  x/b ingress (deny)" <<<"$out" || fail "summary: $out"
# Schema 1 and 2 logs side by side; --tier and --cnp name who decided.
v1=$src/tests/unit/audit/format.v1.jsonl
n=$("$policyc" audit -o json "$v1" "$golden" 2>"$tmp/err" | wc -l)
[[ $n == 22 ]] || fail "schema 1 and 2 lines must both be read ($n of 22): $(cat "$tmp/err")"
n=$("$policyc" audit --tier Admin --cnp guardrails -o json "$v1" "$golden" | wc -l)
[[ $n == 3 ]] || fail "--tier Admin --cnp guardrails: $n lines, want 3"
n=$("$policyc" audit --tier NetworkPolicy --verdict deny -o json "$v1" "$golden" | wc -l)
[[ $n == 8 ]] || fail "--tier NetworkPolicy --verdict deny: $n lines, want 4 + 4"
out=$("$policyc" audit --tier Baseline "$golden")
grep -q "Baseline cnp/default-deny rule deny-to-y egress\[0\]" <<<"$out" || fail "table: $out"
rc=0; "$policyc" audit --tier admin "$golden" >/dev/null 2>&1 || rc=$?
[[ $rc == 2 ]] || fail "--tier takes Admin, Baseline or NetworkPolicy (rc=$rc)"
rc=0; "$policyc" audit --cnp '(' "$golden" >/dev/null 2>&1 || rc=$?
[[ $rc == 2 ]] || fail "a bad --cnp RE2 is a usage error (rc=$rc)"
rc=0; "$policyc" audit --pod '(' "$tmp/audit.log" 2>"$tmp/e" || rc=$?
[[ $rc == 2 ]] || fail "a bad RE2 is a usage error"
rc=0; "$policyc" audit "$tmp/none.log" 2>/dev/null || rc=$?
[[ $rc == 1 ]] || fail "no readable file: exit 1 (rc=$rc)"

# --follow: appended lines, a line written in two parts, rotation, truncation.
log=$tmp/live.log
sed -n 1p "$golden" >"$log"
"$policyc" audit --follow -o json "$log" >"$tmp/follow" 2>/dev/null &
follow_pid=$!
sleep 0.5
sed -n 2p "$golden" >>"$log"
printf '%s' "$(sed -n 3p "$golden")" >>"$log"
sleep 0.5
printf '\n' >>"$log"
mv "$log" "$log.1"
sed -n 4p "$golden" >"$log"
sleep 0.6
: >"$log"
sleep 0.3
sed -n 5p "$golden" >>"$log"
sleep 0.6
kill -INT "$follow_pid"
wait "$follow_pid" || true
follow_pid=
head -5 "$golden" | cmp -s - "$tmp/follow" || fail "--follow lost or repeated lines: $(wc -l <"$tmp/follow") of 5"
echo "policyc_cli: ok"
