#!/usr/bin/env bash
# The .deb packages, end to end, without changing this machine:
#
#   tests/packaging/package_install_test.sh BUILD_DIR WORK_DIR
#
# 1. scripts/build_packages.sh BUILD_DIR WORK_DIR/debs: the binaries, CPack,
#    lintian (fails on E: tags). Then a "next version" of each package
#    (0.1.0-1 -> its version with the patch level + 1), repacked with
#    dpkg-deb from the same files with one line added to its example
#    config, so the upgrade below meets a conffile the package changed.
# 2. In a private mount, network and PID namespace (unshare), /etc, /usr and
#    /var (and /lib, /bin, /sbin where they are not symlinks into /usr) are
#    overlayfs mounts whose upper layers are on a tmpfs, /run is an empty
#    tmpfs (no systemd or D-Bus to reach): dpkg installs into the overlays.
#    When the namespace's first process exits, its mounts and processes go
#    with it, and the host's dpkg database, users and files are as before
#    (checked at the end).
# 3. Inside: dpkg -i both packages; the user adsync; the owners and modes of
#    /etc/adsync and /var/lib/adsync; the conffiles dpkg records; every file
#    an example config names is shipped or named in its header as the
#    operator's to create; systemd-analyze verify on the installed units;
#    the units are registered but neither enabled nor started.
# 4. The coordinator started the way its unit starts it: ExecStart=,
#    User=, Group= and UMask= read from the installed unit, run with setpriv
#    as that user, with no capabilities and no_new_privs, every mount
#    read-only but /var/lib/adsync (as ProtectSystem=strict and
#    StateDirectory= leave it), with a config written over the conffile as
#    an operator would (loopback addresses; the network namespace is
#    private, so fixed ports collide with nothing). Checked: /healthz,
#    adsyncctl org create / org list / status with the admin token, the
#    process's uid and capabilities, the store's owner and mode. The agent:
#    check-config as adsync accepts secrets owned by adsync with mode 600
#    and refuses one with mode 640.
# 5. Upgrade to the next version with dpkg --force-confold (what a
#    non-interactive upgrade does): the edited coordinator.textproto is
#    kept (the new example beside it as .dpkg-dist), the unedited
#    agent.textproto is replaced, owners and modes and the store survive,
#    the coordinator starts again on the same store.
# 6. Remove (conffiles and store stay) and purge (both go; the operator's
#    secret files and the user stay).
#
# What this cannot show: the units under a running systemd (this machine
# has none: its sandbox options are checked by systemd-analyze only) and
# the deb-systemd-invoke branches of the maintainer scripts, which act only
# when systemd runs. Needs root (namespaces, dpkg).
set -euo pipefail

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
ok() { echo "ok - $*"; }

src=$(cd "$(dirname "$0")/../.." && pwd)

# --- Inside the namespace -----------------------------------------------------
if [[ ${1:-} == --inside ]]; then
  work=$2
  export DEBIAN_FRONTEND=noninteractive
  ns=$work/ns
  mkdir -p "$ns"
  mount -t tmpfs -o mode=0700 adsync-package-test "$ns"
  overlaid=()
  for d in /etc /usr /var /lib /lib32 /lib64 /libx32 /bin /sbin; do
    [[ -d $d && ! -L $d ]] || continue
    name=${d#/}
    mkdir -p "$ns/$name.upper" "$ns/$name.work"
    mount -t overlay "overlay-$name" \
      -o "lowerdir=$d,upperdir=$ns/$name.upper,workdir=$ns/$name.work" "$d" ||
      fail "cannot mount an overlay over $d in the namespace (is overlayfs available?)"
    overlaid+=("$d")
  done
  mount -t tmpfs -o mode=0755 adsync-package-test-run /run
  mkdir -p /run/lock
  ip link set lo up
  ok "overlays over ${overlaid[*]} (upper layers on a tmpfs), empty /run, private loopback"

  # --- Install ----------------------------------------------------------------
  # A first installation (a host's own /etc/adsync, say of a hand-made
  # install, is hidden: removed in the overlay only).
  rm -rf /etc/adsync /var/lib/adsync
  debs=("$work"/debs/adsync-agent_*.deb "$work"/debs/adsync-coordinator_*.deb)
  if ! dpkg -i "${debs[@]}" </dev/null >"$work/dpkg-install.log" 2>&1; then
    cat "$work/dpkg-install.log" >&2
    if grep -q 'depends on' "$work/dpkg-install.log"; then
      fail "dpkg -i: a dependency of the packages is not installed on this machine:
$(grep 'depends on' "$work/dpkg-install.log")
(scripts/install_deps.sh installs the build dependencies, whose runtime libraries these are; this test installs nothing from the network)"
    fi
    fail "dpkg -i ${debs[*]} failed (log above)"
  fi
  version=$(dpkg-deb -f "${debs[1]}" Version)
  for pkg in adsync-agent adsync-coordinator; do
    got=$(dpkg-query -W -f='${db:Status-Abbrev}${Version}' "$pkg")
    [[ $got == "ii $version" ]] || fail "$pkg after dpkg -i: '$got', want 'ii $version'"
  done
  ok "dpkg -i adsync-agent adsync-coordinator $version"

  # The service account.
  IFS=: read -r _ _ uid gid _ home shell < <(getent passwd adsync) ||
    fail "no user adsync after installation"
  [[ $uid -lt 1000 ]] || fail "adsync has uid $uid, not a system uid"
  [[ $(getent group adsync | cut -d: -f3) == "$gid" ]] ||
    fail "adsync's primary group is not the group adsync"
  [[ $home == /var/lib/adsync && $shell == /usr/sbin/nologin ]] ||
    fail "adsync: home $home shell $shell, want /var/lib/adsync and /usr/sbin/nologin"
  pw=$(getent shadow adsync | cut -d: -f2)
  [[ $pw == '*' || $pw == '!'* ]] || fail "adsync can log in with a password"
  ok "system user adsync (uid $uid, group adsync, no password, nologin)"

  expect_stat() {  # PATH OWNER:GROUP MODE
    local got
    got=$(stat -c '%U:%G %a' "$1") || fail "$1 missing"
    [[ $got == "$2 $3" ]] || fail "$1 is $got, want $2 $3"
  }
  expect_stat /etc/adsync root:adsync 750
  expect_stat /etc/adsync/agent.textproto root:adsync 640
  expect_stat /etc/adsync/coordinator.textproto root:adsync 640
  expect_stat /var/lib/adsync adsync:adsync 750
  expect_stat /usr/sbin/adsync-agent root:root 755
  expect_stat /usr/sbin/adsync-coordinator root:root 755
  expect_stat /usr/bin/adsyncctl root:root 755
  expect_stat /lib/systemd/system/adsync-agent.service root:root 644
  expect_stat /lib/systemd/system/adsync-coordinator.service root:root 644
  ok "owners and modes: /etc/adsync root:adsync 750, configs 640, /var/lib/adsync adsync:adsync 750"

  for component in agent coordinator; do
    conffiles=$(dpkg-query -W -f='${Conffiles}' "adsync-$component")
    grep -Eq "^ /etc/adsync/$component.textproto [0-9a-f]{32}$" <<<"$conffiles" ||
      fail "adsync-$component's conffiles: '$conffiles'"
  done
  ok "conffiles: /etc/adsync/agent.textproto, /etc/adsync/coordinator.textproto"

  for bin in /usr/sbin/adsync-agent /usr/sbin/adsync-coordinator /usr/bin/adsyncctl; do
    if readelf -S "$bin" | grep -q '\.debug_info'; then fail "$bin is not stripped"; fi
  done
  adsyncctl help >/dev/null || fail "adsyncctl help"
  ok "binaries stripped, adsyncctl runs"

  # Every file an example config names is in a package or the operator's,
  # said so in the config's header.
  for component in agent coordinator; do
    conf=/etc/adsync/$component.textproto
    head_file=$src/packaging/debian/$component.textproto.head
    shipped=$(dpkg -L "adsync-$component")
    while read -r path; do
      if grep -qxF "$path" <<<"$shipped"; then continue; fi
      grep -qF "$path" "$head_file" ||
        fail "$conf names $path, which no package ships and its header does not tell the operator to create"
    done < <(grep -v '^ *#' "$conf" | grep -oE '/(etc|var/lib)/adsync/[A-Za-z0-9_./-]+' | sort -u)
  done
  ok "every file the example configs name is shipped or named in their header"

  # The units.
  if command -v systemd-analyze >/dev/null; then
    systemd-analyze verify /lib/systemd/system/adsync-agent.service \
      /lib/systemd/system/adsync-coordinator.service >"$work/verify.log" 2>&1 || {
      cat "$work/verify.log" >&2
      fail "systemd-analyze verify"
    }
    # Messages about units other than ours (the host's) are not ours to fix.
    if grep -i 'adsync' "$work/verify.log"; then fail "systemd-analyze verify warns about the units"; fi
    for unit in adsync-agent adsync-coordinator; do
      echo "   $(systemd-analyze security --offline=true --no-pager \
        /lib/systemd/system/$unit.service 2>/dev/null | tail -1)"
    done
    ok "systemd-analyze verify: both units"
  else
    echo "note: systemd-analyze is not installed; the units were not verified"
  fi
  # (deb-systemd-helper answers only maintainer scripts, which dpkg calls
  # with DPKG_MAINTSCRIPT_PACKAGE set.)
  dsh() { DPKG_MAINTSCRIPT_PACKAGE=$1 deb-systemd-helper "${@:2}"; }
  for unit in adsync-agent adsync-coordinator; do
    dsh $unit debian-installed $unit.service ||
      fail "$unit.service not registered with deb-systemd-helper"
    if dsh $unit --quiet is-enabled $unit.service ||
       [[ -e /etc/systemd/system/multi-user.target.wants/$unit.service ]]; then
      fail "$unit.service is enabled on installation; it should wait for its config"
    fi
  done
  ok "units registered, not enabled (the example configs need the site's values first)"

  # --- The coordinator, as its unit runs it ---------------------------------------
  unit=/lib/systemd/system/adsync-coordinator.service
  unit_value() { sed -n "s/^$1=//p" "$unit" | tail -1; }
  read -r -a exec_start <<<"$(unit_value ExecStart)"
  user=$(unit_value User) group=$(unit_value Group) umask=$(unit_value UMask)
  [[ ${exec_start[0]} == /* && -x ${exec_start[0]} ]] ||
    fail "ExecStart=${exec_start[*]}: not an installed executable"
  [[ $user == adsync && $group == adsync ]] || fail "the unit runs as $user:$group"
  [[ $(unit_value StateDirectory) == adsync ]] || fail "StateDirectory= is not adsync"
  [[ ${exec_start[*]} == *"--config /etc/adsync/coordinator.textproto"* ]] ||
    fail "ExecStart= does not read /etc/adsync/coordinator.textproto"

  # The operator's edit of the conffile, and the admin token they create.
  cat >/etc/adsync/coordinator.textproto <<'EOF'
# packaging test: the operator's config
agent_listen: "127.0.0.2:7443"
admin_listen: "127.0.0.2:7444"
metrics_listen: "127.0.0.2:9464"
database_path: "/var/lib/adsync/coordinator.db"
admin_token_file: "/etc/adsync/admin.token"
log_format: "json"
EOF
  cp /etc/adsync/coordinator.textproto "$work/operator.textproto"
  head -c 32 /dev/urandom | base64 >"$work/token"
  install -o adsync -g adsync -m 600 "$work/token" /etc/adsync/admin.token
  ctl() { adsyncctl --admin 127.0.0.2:7444 --token-file /etc/adsync/admin.token "$@"; }

  coordinator_pid=
  start_coordinator() {  # LOG
    # A mount namespace of its own in which every mount is read-only but
    # /var/lib/adsync (ProtectSystem=strict with StateDirectory=adsync).
    # shellcheck disable=SC2016  # expanded by the inner bash
    unshare --mount --propagation private bash -c '
      set -e
      mount --bind /var/lib/adsync /var/lib/adsync
      findmnt -rn -o TARGET | while read -r m; do
        case $m in /proc*|/sys*|/dev*|/var/lib/adsync) continue ;; esac
        mount -o remount,bind,ro "$m" 2>/dev/null || true
      done
      umask "$1"; shift
      exec setpriv --reuid="$1" --regid="$2" --init-groups --no-new-privs \
        --inh-caps=-all --bounding-set=-all -- "${@:3}"' \
      coordinator "$umask" "$user" "$group" "${exec_start[@]}" >"$1" 2>&1 &
    coordinator_pid=$!
    local i
    for ((i = 0; i < 100; i++)); do
      if curl -fsS http://127.0.0.2:9464/healthz >/dev/null 2>&1; then return 0; fi
      if ! kill -0 "$coordinator_pid" 2>/dev/null; then
        cat "$1" >&2
        fail "the coordinator exited at start (log above)"
      fi
      sleep 0.2
    done
    cat "$1" >&2
    fail "the coordinator's /healthz did not answer within 20 s (log above)"
  }
  stop_coordinator() {
    kill -TERM "$coordinator_pid"
    local rc=0
    wait "$coordinator_pid" || rc=$?
    [[ $rc -eq 0 ]] || fail "the coordinator exited with $rc on SIGTERM"
  }

  start_coordinator "$work/coordinator-1.log"
  proc=/proc/$coordinator_pid/status
  [[ $(awk '/^Uid:/ {print $2 $3}' "$proc") == "$uid$uid" ]] ||
    fail "the coordinator does not run as adsync: $(grep '^Uid:' "$proc")"
  [[ $(awk '/^CapBnd:/ {print $2}' "$proc") == 0000000000000000 &&
     $(awk '/^CapEff:/ {print $2}' "$proc") == 0000000000000000 &&
     $(awk '/^NoNewPrivs:/ {print $2}' "$proc") == 1 ]] ||
    fail "the coordinator has capabilities or may gain privileges: $(grep -E '^(Cap|NoNewPrivs)' "$proc")"
  mount_flags() {  # the coordinator's view of mount point $1: rw or ro
    awk -v m="$1" '$5 == m {split($6, o, ","); f = o[1]} END {print f}' \
      "/proc/$coordinator_pid/mountinfo"
  }
  for m in / /etc /usr /var; do
    [[ $(mount_flags "$m") == ro ]] || fail "the coordinator sees $m as $(mount_flags "$m"), want ro"
  done
  [[ $(mount_flags /var/lib/adsync) == rw ]] || fail "the coordinator cannot write /var/lib/adsync"
  ok "coordinator started as ExecStart= of the unit, as adsync (uid $uid), no capabilities, read-only system but /var/lib/adsync"
  curl -fsS http://127.0.0.2:9464/healthz >/dev/null
  org=$(ctl org create --name "Package Test District") ||
    fail "adsyncctl org create: $org"
  ctl org list | grep -q "Package Test District" || fail "adsyncctl org list does not list the org"
  ctl status >/dev/null || fail "adsyncctl status"
  expect_stat /var/lib/adsync/coordinator.db adsync:adsync 600
  ok "/healthz answers; adsyncctl org create, org list, status; the store is adsync's, mode 600"

  # The agent's secrets, checked as the agent's unit would run it.
  org_id=$(sed -n 's/^created org \([^ ]*\) .*/\1/p' <<<"$org")
  [[ -n $org_id ]] || fail "no org id in adsyncctl org create's answer: $org"
  ctl sync add --org "$org_id" --domain DISTRICT --ip 127.0.0.3 >"$work/sync-add.out" ||
    fail "adsyncctl sync add: $(cat "$work/sync-add.out")"
  key=$(sed -n 's/^AD Sync key: //p' "$work/sync-add.out")
  [[ -n $key ]] || fail "no key in adsyncctl sync add's answer: $(cat "$work/sync-add.out")"
  printf '%s\n' "$key" >"$work/sync.key"
  printf 'not-a-real-password\n' >"$work/ldap.password"
  install -o adsync -g adsync -m 600 "$work/sync.key" /etc/adsync/sync.key
  install -o adsync -g adsync -m 600 "$work/ldap.password" /etc/adsync/ldap.password
  cat >/etc/adsync/agent-test.textproto <<EOF
coordinator: "127.0.0.2:7443"
org_id: "$org_id"
sync_key_file: "/etc/adsync/sync.key"
domain: "DISTRICT"
ldap {
  uri: "ldap://127.0.0.3"
  bind_dn: "svc-adsync@district.test"
  password_file: "/etc/adsync/ldap.password"
}
EOF
  as_agent() {
    setpriv --reuid=adsync --regid=adsync --init-groups --no-new-privs \
      --inh-caps=-all --bounding-set=-all -- "$@"
  }
  out=$(as_agent /usr/sbin/adsync-agent check-config --config /etc/adsync/agent-test.textproto 2>&1) ||
    fail "adsync-agent check-config as adsync: $out"
  chmod 640 /etc/adsync/ldap.password
  if out=$(as_agent /usr/sbin/adsync-agent check-config --config /etc/adsync/agent-test.textproto 2>&1); then
    fail "adsync-agent accepted an LDAP password file of mode 640: $out"
  fi
  grep -q 'chmod 600' <<<"$out" || fail "the refusal does not say how to fix it: $out"
  chmod 600 /etc/adsync/ldap.password
  ok "adsync-agent check-config as adsync: secrets adsync-owned mode 600 accepted, mode 640 refused"

  stop_coordinator
  ok "coordinator stopped on SIGTERM, exit 0"

  # --- Upgrade over the operator's edit ---------------------------------------------
  next=("$work"/next/adsync-agent_*.deb "$work"/next/adsync-coordinator_*.deb)
  next_version=$(dpkg-deb -f "${next[1]}" Version)
  dpkg --force-confold -i "${next[@]}" </dev/null >"$work/dpkg-upgrade.log" 2>&1 || {
    cat "$work/dpkg-upgrade.log" >&2
    fail "dpkg --force-confold -i (upgrade to $next_version)"
  }
  for pkg in adsync-agent adsync-coordinator; do
    got=$(dpkg-query -W -f='${db:Status-Abbrev}${Version}' "$pkg")
    [[ $got == "ii $next_version" ]] || fail "$pkg after the upgrade: '$got'"
  done
  cmp -s /etc/adsync/coordinator.textproto "$work/operator.textproto" ||
    fail "the upgrade replaced the operator's coordinator.textproto"
  grep -q 'next version' /etc/adsync/coordinator.textproto.dpkg-dist ||
    fail "no coordinator.textproto.dpkg-dist with the new example beside the kept config"
  grep -q 'next version' /etc/adsync/agent.textproto ||
    fail "the unedited agent.textproto was not updated to the new example"
  [[ ! -e /etc/adsync/agent.textproto.dpkg-dist ]] || fail "agent.textproto.dpkg-dist left for an unedited conffile"
  expect_stat /etc/adsync root:adsync 750
  expect_stat /etc/adsync/coordinator.textproto root:adsync 640
  expect_stat /etc/adsync/agent.textproto root:adsync 640
  expect_stat /etc/adsync/admin.token adsync:adsync 600
  expect_stat /var/lib/adsync/coordinator.db adsync:adsync 600
  ok "upgrade $version -> $next_version: edited coordinator.textproto kept (new example as .dpkg-dist), unedited agent.textproto updated, owners and modes kept"

  start_coordinator "$work/coordinator-2.log"
  ctl org list | grep -q "Package Test District" ||
    fail "after the upgrade the coordinator's store lost the org"
  stop_coordinator
  ok "coordinator restarted after the upgrade on the same store (the org is there)"

  # --- Remove, purge ------------------------------------------------------------------
  dpkg -r adsync-agent adsync-coordinator </dev/null >"$work/dpkg-remove.log" 2>&1 || {
    cat "$work/dpkg-remove.log" >&2
    fail "dpkg -r"
  }
  [[ ! -e /usr/sbin/adsync-coordinator && ! -e /lib/systemd/system/adsync-coordinator.service ]] ||
    fail "dpkg -r left the binary or the unit"
  [[ -f /etc/adsync/coordinator.textproto && -f /var/lib/adsync/coordinator.db ]] ||
    fail "dpkg -r removed the config or the store (only purge may)"
  ok "dpkg -r: binaries and units gone, config and store kept"
  dpkg -P adsync-agent adsync-coordinator </dev/null >"$work/dpkg-purge.log" 2>&1 || {
    cat "$work/dpkg-purge.log" >&2
    fail "dpkg -P"
  }
  [[ ! -e /var/lib/adsync ]] || fail "purge left /var/lib/adsync"
  [[ ! -e /etc/adsync/coordinator.textproto && ! -e /etc/adsync/agent.textproto ]] ||
    fail "purge left a conffile"
  [[ -f /etc/adsync/admin.token ]] || fail "purge deleted the operator's admin.token"
  getent passwd adsync >/dev/null || fail "purge deleted the user adsync"
  if dsh adsync-coordinator debian-installed adsync-coordinator.service; then
    fail "purge left deb-systemd-helper's state of adsync-coordinator.service"
  fi
  for pkg in adsync-agent adsync-coordinator; do
    if dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null | grep -q '^[a-z]i'; then
      fail "$pkg still installed after purge"
    fi
  done
  ok "dpkg -P: store and conffiles gone; the operator's secrets and the user adsync stay"
  exit 0
fi

# --- Outside: build, then run the above in a namespace ----------------------------
if [[ $# -ne 2 ]]; then
  echo "usage: $0 BUILD_DIR WORK_DIR" >&2
  exit 2
fi
[[ $EUID -eq 0 ]] || fail "needs root: namespaces and dpkg (run it as root; it changes nothing outside its namespace)"
for tool in unshare setpriv dpkg-deb curl ip readelf findmnt; do
  command -v "$tool" >/dev/null || fail "$tool not found"
done
build=$1
mkdir -p "$2"
work=$(cd "$2" && pwd)
rm -rf "$work/debs" "$work/next" "$work/ns"
mkdir -p "$work/ns"

"$src/scripts/build_packages.sh" "$build" "$work/debs"

# The next version: the same files, one line added to each example config.
mkdir -p "$work/next"
for deb in "$work"/debs/adsync-agent_*.deb "$work"/debs/adsync-coordinator_*.deb; do
  pkg=$(dpkg-deb -f "$deb" Package)
  version=$(dpkg-deb -f "$deb" Version)
  IFS=.- read -r major minor patch release <<<"$version"
  next_version=$major.$minor.$((patch + 1))-$release
  root=$work/next/$pkg
  dpkg-deb -R "$deb" "$root"
  sed -i "s/^Version: .*/Version: $next_version/" "$root/DEBIAN/control"
  conf=$root/etc/adsync/${pkg#adsync-}.textproto
  echo "# (packaging test: the next version of this example)" >>"$conf"
  (cd "$root" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z |
     xargs -0 md5sum >DEBIAN/md5sums)
  dpkg-deb --root-owner-group -b "$root" "$work/next/${pkg}_${next_version}_$(dpkg-deb -f "$deb" Architecture).deb" >/dev/null
  rm -rf "$root"
done
echo "ok - next version repacked: $(cd "$work/next" && echo *.deb)"

host_state() {
  dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' 'adsync-*' 2>/dev/null || true
  getent passwd adsync || true
  ls -la /etc/adsync /var/lib/adsync /lib/systemd/system/adsync-* 2>/dev/null || true
}
before=$(host_state)
rc=0
unshare --mount --propagation private --net --pid --fork --mount-proc \
  "$0" --inside "$work" || rc=$?
after=$(host_state)
if [[ $before != "$after" ]]; then
  diff <(echo "$before") <(echo "$after") >&2 || true
  fail "the host's packages, user or files changed"
fi
echo "ok - the host is unchanged (dpkg status of adsync-*, user adsync, /etc/adsync, /var/lib/adsync, units)"
[[ $rc -eq 0 ]] || fail "inside the namespace (above)"
ls -l "$work"/debs/*.deb
echo "PASS"
