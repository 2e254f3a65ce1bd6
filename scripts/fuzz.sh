#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for
# SECONDS (default 60), seeded with policies/ and the golden inputs. Crashes
# are written to build-fuzz/crashes/ and fail the script.
#   scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-60}
cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DNETPOL_FUZZ=ON -DNETPOL_BENCH=OFF >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target fuzz_decode fuzz_compile
mkdir -p build-fuzz/crashes
for target in fuzz_decode fuzz_compile; do
  corpus=build-fuzz/corpus-$target
  mkdir -p "$corpus"
  find policies tests/golden tests/fuzz/seeds -type f \( -name '*.yaml' -o -name '*.json' \) \
    -exec cp -t "$corpus" {} + 2>/dev/null || true
  echo "fuzz: $target for ${SECS}s"
  build-fuzz/bin/$target "$corpus" -max_total_time="$SECS" -max_len=65536 -timeout=10 \
    -rss_limit_mb=4096 -artifact_prefix=build-fuzz/crashes/$target- -print_final_stats=1 \
    2>&1 | grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|==[0-9]+==ERROR|SUMMARY)' || true
  if ls build-fuzz/crashes/$target-* >/dev/null 2>&1; then
    echo "fuzz: $target found a crash: $(ls build-fuzz/crashes/$target-*)" >&2
    exit 1
  fi
done
