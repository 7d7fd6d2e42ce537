#!/usr/bin/env bash
# Builds the Windows agent: its dependencies first (cached outside the clone
# by scripts/build_windows_deps.sh), then adsync-agent.exe (static, x86-64,
# Windows Server 2016 and later) into build-windows/ (or $1), then the MSI.
#   scripts/build_windows.sh [DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build-windows}
prefix=$(scripts/build_windows_deps.sh | tail -n1)
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_TOOLCHAIN_FILE="$PWD/cmake/mingw-w64-x86_64.cmake" \
  -DADSYNC_WINDOWS_PREFIX="$prefix" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
ninja -C "$dir" adsync-agent private_file_check_test  # the test one: tests/windows
x86_64-w64-mingw32-strip -o "$dir/adsync-agent.exe" "$dir/agent/adsync-agent.exe"
echo "built $dir/adsync-agent.exe ($(stat -c %s "$dir/adsync-agent.exe") bytes)"
scripts/build_windows_msi.sh "$dir/adsync-agent.exe" "$dir/adsync-agent.msi" "${ADSYNC_VERSION:-0.1.0}"
