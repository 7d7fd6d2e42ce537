#!/usr/bin/env bash
# Builds the Debian packages adsync-agent and adsync-coordinator with CPack
# (cmake/packaging.cmake) and checks each with lintian.
#
#   scripts/build_packages.sh BUILD_DIR OUT_DIR
#
# BUILD_DIR: a CMake build of this tree (configured here, RelWithDebInfo, if
# it is not one yet; not a sanitizer or fuzzer build). The three binaries
# are built in it (JOBS parallel jobs, default: every core), the .debs
# written to OUT_DIR (made if missing; earlier .debs there are replaced).
# Fails when lintian reports an error (E:) or the packages' version is not
# the first entry of packaging/debian/changelog; warnings (W:) and notes
# (I:, N:) are printed. Tags that are overridden, each with its reason, are
# in packaging/debian/*.lintian-overrides (shipped in the packages, where
# lintian reads them).
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 BUILD_DIR OUT_DIR" >&2
  exit 2
fi
src=$(cd "$(dirname "$0")/.." && pwd)
build=$1 out=$2

for tool in cmake cpack dpkg-shlibdeps dpkg-deb dpkg-parsechangelog lintian; do
  if ! command -v "$tool" >/dev/null; then
    echo "error: $tool not found; scripts/install_deps.sh installs it" >&2
    exit 1
  fi
done

if [[ ! -f $build/CMakeCache.txt ]]; then
  cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
for option in ADSYNC_SANITIZE ADSYNC_FUZZ; do
  if grep -q "^$option:BOOL=ON" "$build/CMakeCache.txt"; then
    echo "error: $build is configured with $option=ON; package a release build (e.g. build/)" >&2
    exit 1
  fi
done
# Building re-runs CMake when cmake/packaging.cmake or packaging/debian/
# changed, which regenerates the configs, man pages and CPackConfig.cmake.
cmake --build "$build" --target adsync-agent adsync-coordinator adsyncctl \
  -j "${JOBS:-$(nproc)}"

mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -f "$out"/adsync-agent_*.deb "$out"/adsync-coordinator_*.deb
cpack --config "$build/CPackConfig.cmake" -B "$out" >"$out/cpack.log" 2>&1 || {
  cat "$out/cpack.log" >&2
  echo "error: cpack failed (log above, also $out/cpack.log)" >&2
  exit 1
}

changelog_version=$(dpkg-parsechangelog -l "$src/packaging/debian/changelog" -S Version)
status=0
for pkg in adsync-agent adsync-coordinator; do
  debs=("$out/${pkg}"_*.deb)
  if [[ ${#debs[@]} -ne 1 || ! -f ${debs[0]} ]]; then
    echo "error: cpack did not write exactly one $pkg .deb into $out" >&2
    exit 1
  fi
  deb=${debs[0]}
  version=$(dpkg-deb -f "$deb" Version)
  if [[ $version != "$changelog_version" ]]; then
    echo "error: $deb is version $version but packaging/debian/changelog starts with $changelog_version; add a changelog entry for $version" >&2
    status=1
  fi
  echo "== $(basename "$deb"): $(stat -c %s "$deb") bytes, installed $(dpkg-deb -f "$deb" Installed-Size) KiB"
  echo "   Depends: $(dpkg-deb -f "$deb" Depends)"
  # --display-info: also the I: notes; --fail-on error: only E: fails. lintian
  # prints nothing for a clean package.
  if ! lintian --display-info --fail-on error --tag-display-limit 0 "$deb" | sed 's/^/   /'; then
    echo "error: lintian reports errors for $deb" >&2
    status=1
  fi
done
if [[ $status -ne 0 ]]; then exit "$status"; fi
echo "packages in $out: lintian reports no errors"
