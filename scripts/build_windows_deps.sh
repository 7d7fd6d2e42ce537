#!/usr/bin/env bash
# Cross-builds the Windows agent's dependencies (OpenSSL, c-ares, re2, Abseil,
# protobuf, gRPC) from Debian's own source packages with MinGW-w64, as static
# libraries, into a cache outside the clone:
#   ${ADSYNC_WINDOWS_DEPS_CACHE:-/var/cache/adsync/windows-deps}/<key>/prefix
# The key names every source version and this recipe's revision, so a fresh
# clone (CI, a new checkout) reuses a finished build and a changed version or
# recipe builds anew beside it. About 85 CPU-minutes the first time; seconds
# afterwards. Prints the prefix on its last line.
#
# Usage: scripts/build_windows_deps.sh            (as root; installs nothing)
# Needs: the packages of scripts/install_deps.sh and a deb-src entry (it adds one).
set -euo pipefail
# The whole script is one function, read before it runs: editing this file
# while a build is running cannot change what that build does.
main() {
REPO="$(cd "$(dirname "$0")/.." && pwd)"
RECIPE=1  # bump when a flag or patch below changes
CACHE_ROOT="${ADSYNC_WINDOWS_DEPS_CACHE:-/var/cache/adsync/windows-deps}"
JOBS="${ADSYNC_JOBS:-$(nproc)}"
TOOLCHAIN="$REPO/cmake/mingw-w64-x86_64.cmake"

# Same versions as the Linux build: the host's protoc and grpc_cpp_plugin
# generate the code, so the runtime libraries must match them.
GRPC_VERSION=1.51.1
PROTOBUF_VERSION=3.21.12
ABSEIL_VERSION=20220623.1
CARES_VERSION=1.18.1
RE2_VERSION=20220601
OPENSSL_SERIES=3.0

die() { echo "build_windows_deps: $*" >&2; exit 1; }

for tool in x86_64-w64-mingw32-g++-posix cmake ninja protoc grpc_cpp_plugin dpkg-source; do
  command -v "$tool" >/dev/null ||
    die "$tool is missing: run scripts/install_deps.sh as root first"
done
[[ "$(protoc --version)" == "libprotoc ${PROTOBUF_VERSION}" ]] ||
  die "host protoc is '$(protoc --version)', expected ${PROTOBUF_VERSION}: install Debian 12's protobuf-compiler"

KEY="grpc-${GRPC_VERSION}_protobuf-${PROTOBUF_VERSION}_absl-${ABSEIL_VERSION}_cares-${CARES_VERSION}_re2-${RE2_VERSION}_openssl-${OPENSSL_SERIES}_r${RECIPE}"
WORK="$CACHE_ROOT/$KEY"
PREFIX="$WORK/prefix"
if [[ -f "$WORK/complete" ]]; then
  echo "build_windows_deps: cached build found, nothing to do" >&2
  echo "$PREFIX"
  exit 0
fi
mkdir -p "$WORK/src" "$WORK/build" "$PREFIX"
exec 9>"$WORK/lock"
flock 9 || die "cannot lock $WORK/lock"

# apt-get source downloads as _apt and checks the files against the archive's
# signed index; the folder is _apt's alone (nobody else may swap a tarball in
# before it is unpacked), and dpkg-source checks them against the .dsc again.
fetch() {  # fetch PACKAGE [PACKAGE/bookworm]: unpack Debian's source into src/PACKAGE
  local pkg="$1" dir="$WORK/src/$1"
  [[ -f "$dir/.unpacked" ]] && return 0
  rm -rf "$dir" "$WORK/src/dl-$pkg" && { install -d -m 0700 -o _apt "$WORK/src/dl-$pkg" 2>/dev/null ||
    install -d -m 0700 "$WORK/src/dl-$pkg"; }
  local attempt
  for attempt in "$pkg" "$pkg/bookworm"; do
    (cd "$WORK/src/dl-$pkg" && apt-get source -qq --download-only "$attempt" >/dev/null 2>&1) && break
    rm -f "$WORK/src/dl-$pkg"/*
  done
  local dsc
  dsc="$(ls "$WORK/src/dl-$pkg"/*.dsc 2>/dev/null | head -1)"
  [[ -n "$dsc" ]] || die "apt-get source $pkg failed: add a 'deb-src' line for bookworm (scripts/install_deps.sh does) and run apt-get update"
  dpkg-source -x "$dsc" "$dir" >/dev/null 2>&1 || die "cannot unpack $dsc"
  touch "$dir/.unpacked"
}

cmake_build() {  # cmake_build NAME SOURCE_DIR [cmake args...]
  local name="$1" src="$2"; shift 2
  [[ -f "$WORK/build/$name.done" ]] && return 0
  echo "build_windows_deps: building $name" >&2
  rm -rf "$WORK/build/$name"
  cmake -S "$src" -B "$WORK/build/$name" -G Ninja \
    -DCMAKE_TOOLCHAIN_FILE="$TOOLCHAIN" -DADSYNC_WINDOWS_PREFIX="$PREFIX" \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$PREFIX" \
    -DCMAKE_PREFIX_PATH="$PREFIX" -DBUILD_SHARED_LIBS=OFF \
    -DCMAKE_CXX_STANDARD=17 -DCMAKE_POSITION_INDEPENDENT_CODE=OFF \
    -DCMAKE_C_FLAGS="-g0" -DCMAKE_CXX_FLAGS="-g0" "$@" >"$WORK/build/$name.log" 2>&1 ||
    die "configuring $name failed: see $WORK/build/$name.log"
  ninja -C "$WORK/build/$name" -j"$JOBS" install >>"$WORK/build/$name.log" 2>&1 ||
    die "building $name failed: see $WORK/build/$name.log"
  touch "$WORK/build/$name.done"
}

# --- OpenSSL (its own Configure; only the libraries and headers) ---
fetch openssl
if [[ ! -f "$WORK/build/openssl.done" ]]; then
  echo "build_windows_deps: building openssl" >&2
  rm -rf "$WORK/build/openssl" && cp -a "$WORK/src/openssl" "$WORK/build/openssl"
  (cd "$WORK/build/openssl" &&
    ./Configure mingw64 no-shared no-tests no-engine no-module \
      --cross-compile-prefix=x86_64-w64-mingw32- --prefix="$PREFIX" --libdir=lib \
      CC=gcc-posix CXX=g++-posix &&
    make -j"$JOBS" build_libs && make install_dev) >"$WORK/build/openssl.log" 2>&1 ||
    die "building openssl failed: see $WORK/build/openssl.log"
  touch "$WORK/build/openssl.done"
fi

fetch c-ares
# c-ares 1.18.1 uses INADDRSZ (the size of an IPv4 address) without
# defining it on Windows; 1.19 defines it itself.
cmake_build c-ares "$WORK/src/c-ares" -DCARES_STATIC=ON -DCARES_SHARED=OFF \
  -DCARES_BUILD_TOOLS=OFF -DCARES_BUILD_TESTS=OFF -DCMAKE_C_FLAGS="-g0 -DINADDRSZ=4"

fetch re2
# Debian's re2 source (+dfsg) drops the generated Unicode and Perl tables;
# regenerate them as Debian's own build does (REBUILD_TABLES, unicode-data).
if [[ ! -f "$WORK/src/re2/re2/perl_groups.cc" ]]; then
  (cd "$WORK/src/re2/re2" &&
    perl make_perl_groups.pl >perl_groups.cc &&
    python3 make_unicode_casefold.py >unicode_casefold.cc &&
    python3 make_unicode_groups.py >unicode_groups.cc) ||
    { rm -f "$WORK/src/re2/re2/perl_groups.cc"; die "cannot generate re2's tables: install unicode-data and python3-six (scripts/install_deps.sh)"; }
fi
cmake_build re2 "$WORK/src/re2" -DRE2_BUILD_TESTING=OFF

fetch abseil
cmake_build abseil "$WORK/src/abseil" -DABSL_PROPAGATE_CXX_STD=ON \
  -DABSL_BUILD_TESTING=OFF -DBUILD_TESTING=OFF

fetch protobuf
cmake_build protobuf "$WORK/src/protobuf" -Dprotobuf_BUILD_TESTS=OFF \
  -Dprotobuf_BUILD_PROTOC_BINARIES=OFF -Dprotobuf_BUILD_LIBPROTOC=OFF \
  -Dprotobuf_WITH_ZLIB=OFF -Dprotobuf_MSVC_STATIC_RUNTIME=OFF

fetch grpc
if [[ ! -f "$WORK/src/grpc/.adsync-patched" ]]; then
  for patch in "$REPO"/scripts/windows-patches/grpc-*.patch; do
    [[ -e "$patch" ]] || continue
    patch -d "$WORK/src/grpc" -p1 --forward <"$patch" >/dev/null || die "patch $patch does not apply"
  done
  touch "$WORK/src/grpc/.adsync-patched"
fi
# gRPC: only the C++ client/server library the agent links (grpc++ and what
# it needs; libprotoc is named only because gRPC's plugin target, never
# built here, refers to it). `ninja install` would also build grpc_unsecure, grpc++_unsecure,
# reflection, channelz and more: about twice the work. The libraries and
# public headers are copied by hand and cmake/windows_grpc.cmake imports them.
if [[ ! -f "$WORK/build/grpc.done" ]]; then
  echo "build_windows_deps: building grpc (grpc++ only)" >&2
  rm -rf "$WORK/build/grpc"
  cmake -S "$WORK/src/grpc" -B "$WORK/build/grpc" -G Ninja \
    -DCMAKE_TOOLCHAIN_FILE="$TOOLCHAIN" -DADSYNC_WINDOWS_PREFIX="$PREFIX" \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$PREFIX" \
    -DBUILD_SHARED_LIBS=OFF -DCMAKE_CXX_STANDARD=17 \
    -DCMAKE_C_FLAGS="-g0" -DCMAKE_CXX_FLAGS="-g0" \
    -DgRPC_INSTALL=OFF -DgRPC_BUILD_TESTS=OFF -DgRPC_BUILD_CODEGEN=OFF \
    -DgRPC_BUILD_GRPC_CPP_PLUGIN=OFF -DgRPC_BUILD_GRPC_CSHARP_PLUGIN=OFF \
    -DgRPC_BUILD_GRPC_NODE_PLUGIN=OFF -DgRPC_BUILD_GRPC_OBJECTIVE_C_PLUGIN=OFF \
    -DgRPC_BUILD_GRPC_PHP_PLUGIN=OFF -DgRPC_BUILD_GRPC_PYTHON_PLUGIN=OFF \
    -DgRPC_BUILD_GRPC_RUBY_PLUGIN=OFF -DgRPC_BUILD_CSHARP_EXT=OFF \
    -DgRPC_ABSL_PROVIDER=package -DgRPC_CARES_PROVIDER=package \
    -DgRPC_PROTOBUF_PROVIDER=package -DgRPC_RE2_PROVIDER=package \
    -DgRPC_SSL_PROVIDER=package -DgRPC_ZLIB_PROVIDER=package \
    -DOPENSSL_ROOT_DIR="$PREFIX" -DOPENSSL_USE_STATIC_LIBS=ON \
    -D_gRPC_PROTOBUF_PROTOC_EXECUTABLE=/usr/bin/protoc \
    -DProtobuf_PROTOC_LIBRARY="$PREFIX/lib/libprotobuf.a" -DZLIB_USE_STATIC_LIBS=ON \
    >"$WORK/build/grpc.log" 2>&1 || die "configuring grpc failed: see $WORK/build/grpc.log"
  ninja -C "$WORK/build/grpc" -j"$JOBS" grpc++ >>"$WORK/build/grpc.log" 2>&1 ||
    die "building grpc failed: see $WORK/build/grpc.log"
  for lib in grpc++ grpc gpr upb address_sorting; do
    cp "$WORK/build/grpc/lib$lib.a" "$PREFIX/lib/" || die "grpc built no lib$lib.a: see $WORK/build/grpc.log"
  done
  cp -r "$WORK/src/grpc/include/grpc" "$WORK/src/grpc/include/grpcpp" \
    "$WORK/src/grpc/include/grpc++" "$PREFIX/include/"
  touch "$WORK/build/grpc.done"
fi

rm -rf "$WORK/build"/*/  # keep logs and markers, drop object files
touch "$WORK/complete"
echo "$PREFIX"
}
main "$@"
