#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for
# SECONDS (default 60), seeded with policies/ and the golden inputs. Crashes
# are written to $B/crashes/ and fail the script.
#   scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-60}
B=${FUZZ_BUILD_DIR:-build-fuzz}
cmake -S . -B "$B" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DNETPOL_FUZZ=ON -DNETPOL_BENCH=OFF >/dev/null
cmake --build "$B" -j"$(nproc)" --target fuzz_decode fuzz_cnp fuzz_compile fuzz_cni fuzz_protobuf
rm -rf "$B/crashes"; mkdir -p "$B/crashes"
# The targets are single-threaded: run as many at once as there are cores.
run_target() {  # run_target TARGET: one regression run, its summary in $B/fuzz-TARGET.log
  local target=$1 corpus=$B/corpus-$1
  mkdir -p "$corpus"
  find policies tests/golden tests/fuzz/seeds -type f \( -name '*.yaml' -o -name '*.json' -o -name '*.pb' \) \
    -exec cp -t "$corpus" {} + 2>/dev/null || true
  "$B/bin/$target" "$corpus" -max_total_time="$SECS" -max_len=65536 -timeout=10 \
    -rss_limit_mb=4096 -artifact_prefix="$B/crashes/$target-" -print_final_stats=1 \
    >"$B/fuzz-$target.log" 2>&1 || true
}
TARGETS=(fuzz_decode fuzz_cnp fuzz_compile fuzz_cni fuzz_protobuf)
running=0
for target in "${TARGETS[@]}"; do
  echo "fuzz: $target for ${SECS}s"
  run_target "$target" &
  running=$((running + 1))
  if ((running >= $(nproc))); then wait -n || true; running=$((running - 1)); fi
done
wait
status=0
for target in "${TARGETS[@]}"; do
  grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|==[0-9]+==ERROR|SUMMARY)' \
    "$B/fuzz-$target.log" | sed "s/^/$target: /" || true
  if ls "$B/crashes/$target-"* >/dev/null 2>&1; then
    echo "fuzz: $target found a crash: $(ls "$B/crashes/$target-"*)" >&2
    status=1
  fi
done
exit $status
