#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan) into build-fuzz/ and runs
# each for SECONDS (default 20), starting from the seeds in
# tests/fuzz/corpus/<target>/. A crash stops with the input that caused it
# (build-fuzz/crash-*), which reproduces with: build-fuzz/tests/fuzz/<target> FILE
#   scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DADSYNC_FUZZ=ON >/dev/null
ninja -C build-fuzz fuzzers
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for fuzzer in build-fuzz/tests/fuzz/fuzz_*; do
  name=$(basename "$fuzzer")
  work=build-fuzz/corpus/$name
  mkdir -p "$work"
  seeds=tests/fuzz/corpus/$name
  [ -d "$seeds" ] || seeds=
  log=build-fuzz/$name.log
  echo "== $name: ${seconds}s"
  if ! "$fuzzer" -max_total_time="$seconds" -print_final_stats=1 \
      -artifact_prefix=build-fuzz/ "$work" $seeds > "$log" 2>&1; then
    tail -n 80 "$log"
    echo "FAILED: $name (full log: $log)"
    exit 1
  fi
  grep -E "^Done|stat::number_of_executed_units|stat::new_units_added" "$log"
done
echo "all fuzzers ran ${seconds}s each without a failure"
