#!/usr/bin/env bash
# Runs every test: installs dependencies, builds (the Windows agent too, with
# MinGW-w64), runs the whole suite with ctest (unit, in-process gRPC
# integration, end-to-end tests against real Samba AD DCs, and the Windows
# agent under Wine), runs the suite again built with ASan/UBSan, then runs each
# libFuzzer target briefly (scripts/fuzz.sh; ADSYNC_FUZZ_SECONDS, default 20).
# Every source is also compiled once with clang's -Wthread-safety (the lock
# annotations checked; nothing of that build runs).
# Safe to run repeatedly. Set ADSYNC_SKIP_SANITIZERS=1 for a quick local pass
# (skips the ASan/UBSan suite and the fuzzers).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
jobs=$(nproc)

summary=()
# The Windows agent first: its dependencies are cross-built once (about 45
# minutes on two idle cores) into /var/cache/adsync, then reused.
scripts/build_windows.sh build-windows
# The Wine tests load Wine's wldap32 rebuilt with one fix (tests/windows/wine/).
mkdir -p build-windows/wine
cp "$(scripts/build_wine_wldap32.sh | tail -n1)" build-windows/wine/wldap32.dll
scripts/build.sh build -DADSYNC_WINDOWS_BUILD_DIR="$PWD/build-windows"
(cd build && ctest --output-on-failure -j "$jobs") | tee build/ctest.log
summary+=("build/:      $(grep -m1 'tests passed' build/ctest.log)")

scripts/build.sh build-tsa -DCMAKE_CXX_COMPILER=clang++ -DADSYNC_THREAD_SAFETY=ON \
  -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS=-g0
summary+=("build-tsa/:  compiled clean with clang -Wthread-safety")

if [[ "${ADSYNC_SKIP_SANITIZERS:-0}" != 1 ]]; then
  scripts/build.sh build-asan -DADSYNC_SANITIZE=ON
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  # The Windows agent's tests run once (above): under Wine they check the
  # .exe, which no Linux sanitizer instruments.
  (cd build-asan && ctest --output-on-failure -j "$jobs" -LE windows) | tee build-asan/ctest.log
  summary+=("build-asan/: $(grep -m1 'tests passed' build-asan/ctest.log) (ASan/UBSan)")
  mkdir -p build-fuzz
  scripts/fuzz.sh "${ADSYNC_FUZZ_SECONDS:-20}" | tee build-fuzz/fuzz.log
  summary+=("fuzzers:     $(tail -n1 build-fuzz/fuzz.log)")
fi
echo
echo "== summary"
printf '%s\n' "${summary[@]}"
