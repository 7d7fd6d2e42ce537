#!/usr/bin/env bash
# Installs everything adsync needs from Debian 12's archive. Idempotent: does
# nothing (not even `apt-get update`) when every package is already present.
set -euo pipefail

if [[ $(id -u) != 0 ]]; then
  echo "adsync's scripts install Debian packages and start DCs in private namespaces: run them as root" >&2
  echo "(e.g. 'sudo $0', or 'su -' first on a machine without sudo)." >&2
  exit 1
fi

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libsqlite3-dev sqlite3 libldap2-dev ldap-utils
  libsasl2-dev libsasl2-modules-gssapi-mit
  libcurl4-openssl-dev libssl-dev openssl
  libgtest-dev libgmock-dev libbenchmark-dev
  samba samba-ad-dc samba-ad-provision winbind krb5-user ldb-tools
  iproute2 util-linux procps python3 clang-format curl bc time
  clang libclang-rt-14-dev
  # The Windows agent: MinGW-w64 cross compiler, Wine to test it, wixl for
  # the MSI; dpkg-dev, perl and unicode-data to build its dependencies from
  # Debian's source packages (scripts/build_windows_deps.sh); wine64-tools
  # and patch to build the tests' fixed wldap32 (scripts/build_wine_wldap32.sh).
  g++-mingw-w64-x86-64-posix gcc-mingw-w64-x86-64-posix
  binutils-mingw-w64-x86-64 mingw-w64-x86-64-dev libz-mingw-w64-dev
  wine wine64 msitools wixl dpkg-dev perl unicode-data python3-six
  wine64-tools patch
  # The PostgreSQL store (issue 16): tests and the demo run their own servers
  # (scripts/postgres.sh); libpq for the coordinator.
  postgresql-15 postgresql-client-15 libpq-dev
  # PostgreSQL made redundant by Patroni with etcd (scripts/patroni.sh).
  patroni etcd-server python3-etcd
  # The status page is checked in a real browser (headless Chromium), and
  # the .deb packages with lintian (issue 17).
  chromium fonts-dejavu-core lintian
)

missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The samba package starts system-wide daemons on install; adsync runs its
# own DCs on private addresses, so keep the system ones out of the way.
for svc in samba-ad-dc smbd nmbd winbind; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    systemctl stop "$svc" || true
  fi
done
# Likewise the cluster Debian creates with postgresql-15: tests and the demo
# run their own servers (scripts/postgres.sh), and it would hold port 5432.
if command -v pg_ctlcluster >/dev/null 2>&1 &&
   pg_ctlcluster 15 main status >/dev/null 2>&1; then
  pg_ctlcluster 15 main stop || true
fi

# scripts/build_windows_deps.sh runs `apt-get source`, which needs deb-src
# entries for the archive the binaries came from.
if ! apt-get source --print-uris grpc >/dev/null 2>&1; then
  echo "adding deb-src entries for Debian's archive (for apt-get source)"
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f "$f" ]] && sed -i 's/^Types: deb$/Types: deb deb-src/' "$f"
  done
  if [[ -f /etc/apt/sources.list ]]; then
    grep -E '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' \
      > /etc/apt/sources.list.d/adsync-deb-src.list || true
  fi
  apt-get update -q
  apt-get source --print-uris grpc >/dev/null ||
    { echo "install_deps.sh: apt-get source still fails: add a deb-src line for Debian 12 (bookworm) to /etc/apt/sources.list, run apt-get update, and try again" >&2; exit 1; }
fi
