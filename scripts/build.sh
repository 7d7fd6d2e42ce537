#!/usr/bin/env bash
# Configures and builds into build/ (or $1 with extra CMake args after it).
#   scripts/build.sh                 # release-with-debug-info build in build/
#   scripts/build.sh build-asan -DADSYNC_SANITIZE=ON
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
shift || true
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
ninja -C "$dir"
