#!/usr/bin/env bash
# Runs every test of netpol (the README's test command; .ci/run calls it).
# Needs root: the e2e tests build network namespaces and load nftables there.
#   1. installs Debian dependencies, builds with warnings as errors
#   2. ctest: unit tests, golden policyc tests, e2e lab tests on both topologies
#   3. an AddressSanitizer + UBSan build of the unit tests, run
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
  if "$@"; then results+=("ok    $name"); else results+=("FAIL  $name"); fail=1; fi
}

step "build" bash scripts/build.sh
step "ctest (unit, golden, e2e)" ctest --test-dir build --output-on-failure --timeout 600
step "asan+ubsan build" env BUILD_DIR=build-asan BUILD_TYPE=Debug bash scripts/build.sh \
  -DNETPOL_SANITIZE=ON -DNETPOL_BENCH=OFF
step "asan+ubsan unit tests" env ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan -L unit --output-on-failure
if [[ -x scripts/fuzz.sh ]]; then
  step "fuzz (regression run)" bash scripts/fuzz.sh 30
fi
if [[ -x build/bin/netpol-bench-compile ]]; then
  step "benchmark smoke" build/bin/netpol-bench-compile --pods 5000 --namespaces 50 --policies 500 --local-pods 110
fi

echo "=== summary"
printf '%s\n' "${results[@]}"
passed=$(printf '%s\n' "${results[@]}" | grep -c '^ok' || true)
failed=$(printf '%s\n' "${results[@]}" | grep -c '^FAIL' || true)
echo "test.sh: ${passed} passed, ${failed} failed"
exit $fail
