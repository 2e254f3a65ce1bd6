#!/usr/bin/env bash
# Runs every test of netpol (the README's test command; .ci/run calls it).
# Needs root: the e2e tests build network namespaces and load nftables there.
#   1. installs Debian dependencies, builds with warnings as errors
#   2. ctest: unit tests, golden policyc tests, e2e lab tests on both topologies
#   3. an AddressSanitizer + UBSan build of the unit tests (built in the
#      background during step 2), run
#   4. the fuzz targets (clang/libFuzzer) for a short regression run
#   5. the benchmarks at a small scale (smoke: they must run and print numbers)
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $EUID -eq 0 ]] || { echo "test.sh: run as root (network namespaces, nftables)" >&2; exit 2; }

bash scripts/install-deps.sh

results=()
fail=0
step() {  # step NAME COMMAND...: run, remember the outcome, keep going
  local name=$1; shift
  echo "=== $name"
  local t0=$SECONDS
  if "$@"; then results+=("ok    $name ($((SECONDS - t0)) s)"); else results+=("FAIL  $name ($((SECONDS - t0)) s)"); fail=1; fi
}

step "build" bash scripts/build.sh
LOGDIR=$(mktemp -d)
trap 'rm -rf "$LOGDIR"' EXIT
ctest_logged() {  # ctest_logged NAME ARGS...: ctest whose summary is counted at the end
  local name=$1; shift
  ctest "$@" 2>&1 | tee "$LOGDIR/$name.log"
  return "${PIPESTATUS[0]}"
}
# -LE e2e-full: each e2e case runs on both topologies through one loader;
# `ctest --test-dir build -L e2e-full` adds the remaining loader/topology pairs.
# -j: unit tests run two at a time; the e2e lab tests are RUN_SERIAL (alone) and
# the netns tests share one RESOURCE_LOCK, so timing-bound tests never compete
# with each other (only with the nice 19 ASan build below).
# One clang build serves both the sanitizer run of the unit tests and the
# fuzz targets (ASan + UBSan + libFuzzer coverage), so CI compiles twice, not three times.
# It is a unity build (8 sources per unit): 1,000 s of CPU instead of 1,307 s
# (measured back to back, 2026-12-03); the few files that would collide are
# named by netpol_not_in_unity() in their CMakeLists.
SAN_TARGETS=(netpol_k8s_test netpol_compiler_test netpol_nft_test policyc nft_sample fuzz_decode fuzz_compile fuzz_protobuf)
for t in netpol_netlink_test netpol_agent_netns_test netpol-nlload netpol_k8s_api_test netpol_agent_test netpol_audit_test netpol_policyc_test netpol_cni_test; do
  grep -rqs "add_executable($t" tests/unit && SAN_TARGETS+=("$t")
done
# The ASan build runs in the background at the lowest CPU priority while ctest
# runs: the e2e lab tests mostly wait on traffic and timers, so the build gets
# the idle cores, and nice 19 leaves the tests the CPU whenever they want it.
asan_build() {
  cmake -S . -B build-asan -DCMAKE_CXX_COMPILER=clang++ \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO='-O1 -g1' \
    -DNETPOL_WERROR=ON -DNETPOL_FUZZ=ON -DNETPOL_BENCH=OFF \
    -DCMAKE_UNITY_BUILD=ON -DCMAKE_UNITY_BUILD_BATCH_SIZE=8 >/dev/null &&
    cmake --build build-asan -j"$(nproc)" --target "${SAN_TARGETS[@]}"
}
asan_t0=$SECONDS
set -m  # its own process group, so an early exit can stop the whole build
( renice -n 19 -p "$BASHPID" >/dev/null; asan_build >"$LOGDIR/asan-build.out" 2>&1 ) &
asan_pid=$!
set +m
trap 'kill -- -"$asan_pid" 2>/dev/null || true; rm -rf "$LOGDIR"' EXIT
step "ctest (unit, golden, netns, e2e)" ctest_logged main --test-dir build -LE e2e-full \
  -j"$(nproc)" --output-on-failure --timeout 900
asan_wait() {  # the background build's outcome, its output's tail (all of it on failure)
  local rc=0
  wait "$asan_pid" || rc=$?
  if [[ $rc == 0 ]]; then tail -n 3 "$LOGDIR/asan-build.out"; else cat "$LOGDIR/asan-build.out"; fi
  echo "asan build: $((SECONDS - asan_t0)) s since it started"
  return "$rc"
}
step "asan+ubsan build (clang, in the background while the tests above ran)" asan_wait
export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# The compiler's random-history property tests run a third of their steps
# under the sanitizers (same seeds and code paths; the main ctest above ran
# them whole): ~130 s of the suite's 25-minute budget.
export NETPOL_PROPERTY_SCALE=0.34
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp"  # why: the file's header
step "asan+ubsan unit tests" ctest_logged asan --test-dir build-asan -L 'unit|netns' -j"$(nproc)" --output-on-failure
unset ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS NETPOL_PROPERTY_SCALE
step "fuzz (regression run, 20 s per target, one per core)" env FUZZ_BUILD_DIR=build-asan bash scripts/fuzz.sh 20
if [[ -x build/bin/netpol-bench-compile ]]; then
  step "benchmark smoke" build/bin/netpol-bench-compile --pods 5000 --namespaces 50 --policies 500 --local-pods 110
fi

echo "=== summary"
printf '%s\n' "${results[@]}"
# Count individual tests from every ctest summary ("N tests failed out of M"),
# plus the steps that are not ctest runs.
total=0; tfailed=0
for log in "$LOGDIR"/*.log; do
  [[ -f $log ]] || continue
  line=$(grep -E 'tests failed out of [0-9]+' "$log" | tail -1 || true)
  [[ -n $line ]] || continue
  f=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\1/' <<<"$line")
  n=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\2/' <<<"$line")
  total=$((total + n)); tfailed=$((tfailed + f))
done
other_ok=$(printf '%s\n' "${results[@]}" | grep -v ctest | grep -v 'asan+ubsan unit' | grep -c '^ok' || true)
other_fail=$(printf '%s\n' "${results[@]}" | grep -v ctest | grep -v 'asan+ubsan unit' | grep -c '^FAIL' || true)
if ((fail && tfailed + other_fail == 0)); then other_fail=1; fi
echo "test.sh: $((total - tfailed + other_ok)) passed, $((tfailed + other_fail)) failed"
exit $fail
