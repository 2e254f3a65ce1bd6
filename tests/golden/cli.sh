#!/usr/bin/env bash
# policyc's command line: exit statuses, --help/--version, -f - (stdin),
# directories and several -f, -o json. Uses the golden case inputs.
#   cli.sh POLICYC GOLDEN_DIR
set -euo pipefail
policyc=$1
golden=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
check() {  # check DESCRIPTION CONDITION...
  local what=$1; shift
  if "$@"; then echo "ok   $what"; else echo "FAIL $what" >&2; fails=$((fails + 1)); fi
}
run() {  # run WANT_RC ARGS...: policyc into $tmp/out, $tmp/err; true if exit is WANT_RC
  local want=$1 rc=0; shift
  "$policyc" "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
  [[ $rc == "$want" ]] || { echo "  exit $rc, wanted $want: policyc $*" >&2; cat "$tmp/err" >&2; return 1; }
}
empty_stdout() { [[ ! -s $tmp/out ]]; }
stderr_has() { grep -qF -- "$1" "$tmp/err"; }
stdout_has() { grep -qF -- "$1" "$tmp/out"; }

input=$golden/selectors/input.yaml
check "--version prints the version" run 0 --version
check "--version names policyc" stdout_has "policyc "
check "--help exits 0 and lists compile" run 0 --help
check "--help lists compile" stdout_has "compile"
check "compile --help exits 0" run 0 compile --help
check "compile --help documents -o" stdout_has "--output"
check "no subcommand is a usage error" run 2
check "usage error prints nothing on stdout" empty_stdout
check "missing --node is a usage error" run 2 compile -f "$input"
check "missing -f is a usage error" run 2 compile --node node-1
check "unknown -o is a usage error" run 2 compile --node node-1 -f "$input" -o yaml
check "unknown flag is a usage error" run 2 compile --node node-1 -f "$input" --frobnicate
check "empty --node is a usage error" run 2 compile --node "" -f "$input"

check "file compiles" run 0 compile --node node-1 -f "$input"
cp "$tmp/out" "$tmp/from-file.nft"
check "stdin (-f -) gives the same bytes" \
  bash -c '"$1" compile --node node-1 -f - <"$2" | cmp -s - "$3"' _ "$policyc" "$input" "$tmp/from-file.nft"
mkdir "$tmp/dir"
# Split the multi-document file in two: objects may come from several files.
awk -v dir="$tmp/dir" 'BEGIN{n=0} /^---$/{n++} {print > (dir "/" (n < 4 ? "a" : "b") ".yaml")}' "$input"
check "a directory gives the same bytes" \
  bash -c '"$1" compile --node node-1 -f "$2" | cmp -s - "$3"' _ "$policyc" "$tmp/dir" "$tmp/from-file.nft"
check "several -f give the same bytes" \
  bash -c '"$1" compile --node node-1 -f "$2/b.yaml" -f "$2/a.yaml" | cmp -s - "$3"' _ "$policyc" "$tmp/dir" "$tmp/from-file.nft"

check "missing file is invalid input" run 1 compile --node node-1 -f "$tmp/nope.yaml"
check "missing file: nothing on stdout" empty_stdout
check "missing file: stderr names it" stderr_has "$tmp/nope.yaml"
printf 'kind: Pod\napiVersion: v1\nmetadata: {name: p, namespace: x}\nstatus: {podIP: 10.0.0.300}\n' >"$tmp/bad.yaml"
check "bad and good files together: invalid input" run 1 compile --node node-1 -f "$input" -f "$tmp/bad.yaml"
check "bad input: nothing on stdout, not even the good file's script" empty_stdout
check "bad input: error names file and object" stderr_has "$tmp/bad.yaml: Pod x/p"

check "-o json compiles" run 0 compile --node node-1 -f "$input" -o json
check "-o json is JSON" python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$tmp/out"
cp "$tmp/out" "$tmp/a.json"
check "-o json is reproducible" bash -c '"$1" compile --node node-1 -f "$2" -o json | cmp -s - "$3"' \
  _ "$policyc" "$input" "$tmp/a.json"

# --audit-nflog-group/--audit-rate/--audit-burst (the agent's flags of the same
# names): only the logging rules change, exactly in those three values.
al=$golden/audit-logging
al_node=node-1
[[ -f $al/node ]] && al_node=$(<"$al/node")
check "--audit-* flags compile" \
  run 0 compile --node "$al_node" -f "$al/input.yaml" --audit-nflog-group 7 --audit-rate 50 --audit-burst 5
check "--audit-* change the logging rules and nothing else" \
  bash -c 'sed -e "s|limit rate 10/second burst 20 packets|limit rate 50/second burst 5 packets|" \
    -e "s| group 100 | group 7 |" "$1" | cmp -s - "$2"' _ "$al/expected.nft" "$tmp/out"
check "--audit-* changed something" bash -c '! cmp -s "$1" "$2"' _ "$al/expected.nft" "$tmp/out"
check "--audit-rate 0 is a usage error" run 2 compile --node "$al_node" -f "$al/input.yaml" --audit-rate 0
check "--audit-nflog-group 70000 is a usage error" \
  run 2 compile --node "$al_node" -f "$al/input.yaml" --audit-nflog-group 70000

echo "cli.sh: $fails failed"
[[ $fails == 0 ]]
