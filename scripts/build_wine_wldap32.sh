#!/usr/bin/env bash
# Builds the wldap32.dll the Windows tests load into Wine: Wine's own
# wldap32 (with its bundled OpenLDAP libldap) from Debian's source of the
# installed wine, with one fix, tests/windows/wine/wldap32-tls-read.patch
# (its header says what Wine 8.0 gets wrong). Without it, Wine loses LDAP
# replies over TLS larger than about 1 KiB, so a full sync cannot run under
# Wine. Test-only: the MSI and the agent never ship it; on Windows the agent
# uses Windows' own wldap32.
#
# Cached outside the clone, keyed by the wine version and a hash of the
# patch and this script (an edit to either builds anew):
#   ${ADSYNC_WINE_WLDAP32_CACHE:-/var/cache/adsync/wine-wldap32}/<key>/wldap32.dll
# About 30 s the first time; prints the dll's path on its last line.
# Usage: scripts/build_wine_wldap32.sh   (needs scripts/install_deps.sh's packages)
set -euo pipefail
main() {
REPO="$(cd "$(dirname "$0")/.." && pwd)"
PATCH="$REPO/tests/windows/wine/wldap32-tls-read.patch"
RECIPE="$(cat "$PATCH" "$REPO/scripts/build_wine_wldap32.sh" | sha256sum | cut -c1-12)"
CACHE_ROOT="${ADSYNC_WINE_WLDAP32_CACHE:-/var/cache/adsync/wine-wldap32}"
JOBS="${ADSYNC_JOBS:-$(nproc)}"
WINE_INCLUDE=/usr/include/wine
WINE_PE_LIBS=/usr/lib/x86_64-linux-gnu/wine/x86_64-windows

die() { echo "build_wine_wldap32: $*" >&2; exit 1; }

for tool in x86_64-w64-mingw32-gcc x86_64-w64-mingw32-ar winegcc wrc dpkg-source patch; do
  command -v "$tool" >/dev/null ||
    die "$tool is missing: run scripts/install_deps.sh as root first"
done
version="$(dpkg-query -W -f='${Version}' wine64 2>/dev/null)" ||
  die "wine64 is not installed: run scripts/install_deps.sh as root first"
[[ -d "$WINE_PE_LIBS" && -f "$WINE_INCLUDE/wine/debug.h" ]] ||
  die "Wine's headers or import libraries are missing (libwine-dev): run scripts/install_deps.sh"

work="$CACHE_ROOT/wine-${version//[^A-Za-z0-9.+-]/_}_r${RECIPE}"
if [[ -f "$work/wldap32.dll" ]]; then
  echo "$work/wldap32.dll"
  exit 0
fi
mkdir -p "$work"
exec 9>"$work/lock"
flock 9 || die "cannot lock $work/lock"
[[ -f "$work/wldap32.dll" ]] && { echo "$work/wldap32.dll"; exit 0; }

# Only two folders of the source are needed, and Debian's patches touch
# neither: take them from the upstream tarball of the same version.
dl="$work/download"
rm -rf "$dl" "$work/src" "$work/obj" && mkdir -p "$work/obj/ldap" "$work/obj/wldap32"
# apt-get source downloads as _apt, and checks what it fetched against the
# archive's signed index; nobody else may write here before we unpack it.
install -d -m 0700 -o _apt "$dl" 2>/dev/null || install -d -m 0700 "$dl"
(cd "$dl" && apt-get source -qq --download-only "wine=$version" >/dev/null 2>&1) ||
  die "apt-get source wine=$version failed: add a 'deb-src' line for bookworm (scripts/install_deps.sh does) and run apt-get update"
orig="$(ls "$dl"/wine_*.orig.tar.*)"
[[ -f "$orig" ]] || die "expected one wine_*.orig.tar.* from apt-get source, found: $(ls "$dl")"
mkdir -p "$work/src"
tar -C "$work/src" --strip-components=1 --wildcards -xf "$orig" '*/libs/ldap/*' '*/dlls/wldap32/*'
rm -rf "$dl"
patch -d "$work/src" -p1 --quiet <"$PATCH" || die "$PATCH does not apply to wine $version"

# The flags Wine's own build gives PE code: its headers, not MinGW's.
common=(-O2 -w -fno-builtin -nostdinc -D_UCRT -I"$WINE_INCLUDE/wine/msvcrt"
        -I"$WINE_INCLUDE/wine/windows" -I"$WINE_INCLUDE")
src="$work/src"
ldap_sources="$(grep -oE 'lib(lber|ldap)/[a-z0-9_-]+\.c' "$src/libs/ldap/Makefile.in")"
echo "build_wine_wldap32: building wine $version's wldap32 with $(basename "$PATCH")" >&2
compile() {  # compile OUT_DIR SOURCE FLAGS...
  local out="$1/$(echo "$2" | tr / _).o" file="$2"; shift 2
  x86_64-w64-mingw32-gcc -c -o "$out" "$file" "$@"
}
export -f compile
(cd "$src/libs/ldap" && printf '%s\n' $ldap_sources |
  xargs -P "$JOBS" -I{} bash -c 'compile "$@"' _ "$work/obj/ldap" {} \
    -Iinclude -D_TIMEVAL_DEFINED "${common[@]}") || die "compiling libs/ldap failed"
(cd "$src/dlls/wldap32" && for f in *.c; do
  compile "$work/obj/wldap32" "$f" -I. -I../../libs/ldap/include -D__WINESRC__ "${common[@]}" ||
    exit 1
done) || die "compiling dlls/wldap32 failed"
x86_64-w64-mingw32-ar rcs "$work/obj/libldap.a" "$work/obj/ldap"/*.o
wrc --nostdinc -I"$WINE_INCLUDE/wine/windows" -I"$WINE_INCLUDE/wine/msvcrt" \
  -o "$work/obj/wldap32.res" "$src/dlls/wldap32/wldap32.rc"
# Not marked as a Wine builtin: Wine loads it as a native dll when told to
# (WINEDLLOVERRIDES=wldap32=n), from the prefix's system32.
winegcc -b x86_64-w64-mingw32 -shared -nodefaultlibs -o "$work/obj/wldap32.dll" \
  "$src/dlls/wldap32/wldap32.spec" "$work/obj/wldap32"/*.o "$work/obj/wldap32.res" \
  "$work/obj/libldap.a" -L"$WINE_PE_LIBS" -lwinecrt0 -lsecur32 -lws2_32 -luser32 \
  -lucrtbase -lkernel32 -lntdll || die "linking wldap32.dll failed"
mv "$work/obj/wldap32.dll" "$work/wldap32.dll"
rm -rf "$work/src" "$work/obj"
echo "$work/wldap32.dll"
}
main "$@"
