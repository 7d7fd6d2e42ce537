#!/usr/bin/env bash
# A real Patroni cluster for the end-to-end failover test and the docs: one
# etcd member and two Patroni nodes, pg1 and pg2, each managing its own
# PostgreSQL 15, all in one directory and all running as the system user
# adsync-pg (created when missing). Nothing system-wide is used: no /etc, no
# systemd units, not the system cluster; the Debian patroni package's own
# service is not involved.
#
#   patroni.sh start DIR BASE_PORT   # etcd + pg1 + pg2; waits until there is
#                                    # a leader and the other node streams from
#                                    # it; idempotent (restarts only what is
#                                    # down, e.g. a node kill-leader killed)
#   patroni.sh conninfo DIR          # multi-host libpq string for database
#                                    # adsync (read-write node, passfile)
#   patroni.sh leader DIR            # prints the leader's name (pg1 or pg2);
#                                    # fails while there is none (failover)
#   patroni.sh kill-leader DIR       # SIGKILL the leader's Patroni and its
#                                    # PostgreSQL, as if the machine died;
#                                    # prints the killed node's name
#   patroni.sh wait-leader DIR NODE TIMEOUT_S  # waits until NODE is the leader
#                                    # and accepts writes; prints seconds waited
#   patroni.sh status DIR            # patronictl list
#   patroni.sh stop DIR              # stops nodes and etcd; fine when not
#                                    # running; leaves no process behind
#
# Ports, all on 127.0.0.1 only: etcd client BASE_PORT, peer BASE_PORT+1;
# PostgreSQL pg1 BASE_PORT+10, pg2 BASE_PORT+11; Patroni REST API pg1
# BASE_PORT+20, pg2 BASE_PORT+21 (e.g. curl http://127.0.0.1:BASE_PORT+20/primary).
#
# Roles: postgres (superuser), replicator (REPLICATION), adsync (owns
# database adsync; made by the post_bootstrap script when Patroni bootstraps
# the cluster). Over TCP (127.0.0.1/32) every login needs its password
# (scram-sha-256); on the unix sockets (DIR/pg1/socket, DIR/pg2/socket) local
# users are trusted. The passwords are generated once into DIR/passwords
# (0600), and DIR/pgpass (0600) is a libpq passfile for them, for clients
# running as root: psql "$(patroni.sh conninfo DIR)".
#
# DIR gets, root's: env (0644, a BASE_PORT line, which the script parses,
# never runs), passwords and pgpass (0600), pg1.yml and pg2.yml (Patroni's
# configuration, with passwords: 0640, group adsync-pg; patronictl -c
# DIR/pg1.yml list), post_bootstrap.sh (with a password: 0750, group
# adsync-pg), run/ (pid files); adsync-pg's: etcd/ (etcd's data), pg1/ and
# pg2/ (data/ = PGDATA, socket/, and pgpass, Patroni's own), and the logs
# etcd.log, pg1.log and pg2.log (Patroni's log and its PostgreSQL's, which
# inherits Patroni's stderr). Secrets are created under umask 077. DIR
# itself is made 0755 so adsync-pg can reach it; its parent directories must
# already be searchable by other users. PG_BINDIR overrides where the
# PostgreSQL programs are (default: pg_config --bindir).
#
# Root works on paths inside DIR, so DIR must be root's alone: the script
# creates it (0755, root) when missing, and refuses a DIR that is a symbolic
# link, is not owned by root, or is writable by group or others (another user
# could plant links there that root would follow, or edit env). Inside DIR,
# root never writes through a symbolic link, touches what is inside
# adsync-pg's directories only as adsync-pg, and kills only adsync-pg's
# processes.
#
# Choices, for Patroni 3.0.2 and etcd 3.4 as Debian 12 ships them:
# - DCS: the etcd3 section (etcd's v3 API, which Patroni reaches through
#   etcd's JSON/gRPC gateway with urllib3; python3-etcd is only imported for
#   its exception classes). etcd 3.4 serves the v3 gateway by default, so no
#   --enable-v2 is needed (that would be for Patroni's `etcd:` section, which
#   speaks the v2 API, off by default since etcd 3.4). etcd 3.4 refuses to
#   run on architectures other than amd64 and ppc64le (arm64 included)
#   unless ETCD_UNSUPPORTED_ARCH names the architecture; we set it there
#   only (on amd64 etcd warns about it as an unrecognized variable).
# - Timings: ttl 10, loop_wait 1, retry_timeout 4, so a dead leader's key
#   expires within 10 s and the replica takes over right after. Patroni
#   3.0.2 checks none of the three at run time (its --validate-config only
#   wants integers); the rule its documentation states is
#   loop_wait + 2 * retry_timeout <= ttl, and 1 + 2*4 = 9 <= 10 holds.
#   Patroni 3.1 and later raise a ttl under 20 (and a retry_timeout under 3)
#   to that minimum, so with a newer Patroni a failover takes ~20 s.
# - synchronous_mode on: a commit the coordinator acknowledged is on both
#   nodes, so a failover loses none of them. adsync needs that: a lost tail
#   would take People's push versions back below what K12Panel has already
#   applied, and K12Panel would ignore the next updates as stale
#   (docs/operations.md). With the replica gone the leader goes on alone
#   (synchronous_mode_strict off): availability over a second copy.
# - use_pg_rewind on (with data checksums), so a killed leader that `start`
#   brings back rejoins as a replica of the new leader.
set -euo pipefail

cmd=${1:?usage: patroni.sh start|conninfo|leader|kill-leader|wait-leader|status|stop DIR ...}
user=adsync-pg
prog=patroni.sh
# shellcheck source=scripts/pg_common.sh
source "$(dirname "$(realpath "$0")")/pg_common.sh"
scope=adsync
nodes=(pg1 pg2)

if [[ $(id -u) != 0 ]]; then
  echo "patroni.sh: run it as root (it runs etcd and Patroni as the user $user)" >&2
  exit 1
fi



take_dir "${2:-}"
find_bindir
for tool in patroni patronictl etcd curl python3 openssl setpriv; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "patroni.sh: $tool is not installed; run scripts/install_deps.sh" \
         "(packages patroni etcd-server python3-etcd curl python3 openssl util-linux)" >&2
    exit 1
  }
done

now_ms() { echo $((${EPOCHREALTIME/./} / 1000)); }


# Runs a program as adsync-pg (from /). Inside adsync-pg's directories
# (etcd/, pg1/, pg2/) root reads and writes only through this.
as_user() {
  (cd / && setpriv --reuid="$user" --regid="$user" --init-groups -- "$@")
}



# Makes $1 (a path directly in DIR) a directory owned by $2, mode $3.
own_dir() {
  if [[ -L "$1" ]] || [[ -e "$1" && ! -d "$1" ]]; then
    echo "patroni.sh: $1 is a symbolic link or not a directory; remove it (or use a new DIR)" >&2
    exit 1
  fi
  mkdir -p -- "$1"
  chown -h -- "$2:" "$1"
  chmod "$3" -- "$1"
}


# Writes stdin to $1 (a path directly in DIR) through a new file, root's,
# group $2, mode $3, made under umask 077 (so never readable by others),
# renamed over $1.
write_secret() {
  rm -f -- "$1.new"
  (umask 077 && cat > "$1.new")
  chown -h -- "root:$2" "$1.new"
  chmod "$3" -- "$1.new"
  mv -- "$1.new" "$1"
}

# Sets BASE_PORT (and the ports made from it) from DIR/env, a BASE_PORT=N
# line root wrote; parsed, not run, and checked.
load_env() {
  local f=$dir/env line
  [[ -f "$f" ]] || {
    echo "patroni.sh: $dir has no cluster; run 'patroni.sh start $dir BASE_PORT' first" >&2
    exit 1
  }
  if [[ -L "$f" || $(stat -c %u -- "$f") != 0 ]] || ((8#$(stat -c %a -- "$f") & 8#022)); then
    echo "patroni.sh: $f is not a file of root's that only root can write;" \
         "run 'patroni.sh stop $dir' and remove $dir to start over" >&2
    exit 1
  fi
  BASE_PORT=""
  while IFS= read -r line || [[ -n "$line" ]]; do
    [[ -n "$line" ]] || continue
    if [[ "$line" =~ ^BASE_PORT=([1-9][0-9]{3,4})$ ]] && ((BASH_REMATCH[1] + 21 < 65536)); then
      BASE_PORT=${BASH_REMATCH[1]}
    else
      echo "patroni.sh: $f has a bad line '$line'; run 'patroni.sh stop $dir' and remove $dir to start over" >&2
      exit 1
    fi
  done < "$f"
  [[ -n "$BASE_PORT" ]] || {
    echo "patroni.sh: $f has no BASE_PORT; run 'patroni.sh stop $dir' and remove $dir to start over" >&2
    exit 1
  }
  etcd_port=$BASE_PORT
  peer_port=$((BASE_PORT + 1))
}
pg_port() { case $1 in pg1) echo $((BASE_PORT + 10)) ;; pg2) echo $((BASE_PORT + 11)) ;; esac; }
api_port() { case $1 in pg1) echo $((BASE_PORT + 20)) ;; pg2) echo $((BASE_PORT + 21)) ;; esac; }

check_node() {
  [[ "$1" == pg1 || "$1" == pg2 ]] ||
    { echo "patroni.sh: NODE must be pg1 or pg2, not '$1'" >&2; exit 2; }
}

# True when something listens on 127.0.0.1:$1.
port_busy() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Whether pid $1 is alive (a zombie counts as dead) and its command line
# holds $2.
alive() {
  local pid=$1 stat cmdline
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  # "pid (comm) state ...": comm may hold spaces and parentheses.
  { read -r stat < "/proc/$pid/stat"; } 2>/dev/null || return 1
  stat=${stat##*) }
  [[ -n "$stat" && "${stat:0:1}" != Z ]] || return 1
  [[ -n "${2:-}" ]] || return 0
  cmdline=$(tr '\0' ' ' 2>/dev/null < "/proc/$pid/cmdline") || return 1
  [[ "$cmdline" == *"$2"* ]]
}

# Whether process $1 runs as adsync-pg (real and effective uid). Only such
# processes are ever signalled.
owned() {
  local line ruid euid uid
  uid=$(id -u "$user" 2>/dev/null) || return 1
  line=$(grep -m1 '^Uid:' "/proc/$1/status" 2>/dev/null) || return 1
  read -r _ ruid euid _ <<< "$line"
  [[ "$ruid" == "$uid" && "$euid" == "$uid" ]]
}

# Pid of our etcd or of node $1's Patroni, when running.
etcd_pid() {
  local pid; { read -r pid < "$dir/run/etcd.pid"; } 2>/dev/null || return 1
  alive "$pid" "--data-dir $dir/etcd" && owned "$pid" && echo "$pid"
}
patroni_pid() {
  local pid; { read -r pid < "$dir/run/$1.pid"; } 2>/dev/null || return 1
  alive "$pid" "$dir/$1.yml" && owned "$pid" && echo "$pid"
}
# Pid of node $1's postmaster, when running: adsync-pg's, alive, and its
# command line a postgres program with -D DIR/$1/data. (postmaster.pid is
# adsync-pg's, so it is read as adsync-pg, and may be stale.)
postmaster_pid() {
  local pid args=() i
  pid=$(as_user head -1 "$dir/$1/data/postmaster.pid" 2>/dev/null) || return 1
  alive "$pid" && owned "$pid" || return 1
  { mapfile -d '' -t args < "/proc/$pid/cmdline"; } 2>/dev/null || return 1
  [[ "${args[0]:-}" == postgres || "${args[0]:-}" == */postgres ]] || return 1
  for ((i = 1; i + 1 < ${#args[@]}; i++)); do
    [[ "${args[i]}" == -D && "${args[i + 1]}" == "$dir/$1/data" ]] && { echo "$pid"; return 0; }
  done
  return 1
}

# Waits until all of the given pids are gone (reaped, or zombies); false
# after $1 seconds.
wait_gone() {
  local timeout=$1 p left; shift
  local deadline=$(($(now_ms) + timeout * 1000))
  while :; do
    left=0
    for p in "$@"; do alive "$p" && left=1; done
    ((left)) || return 0
    (($(now_ms) < deadline)) || return 1
    sleep 0.05
  done
}

# Runs a program as adsync-pg in a new session, detached from the terminal,
# with output appended to log $1 and a clean environment (NAME=VALUE
# arguments before the program add to it); the process keeps the pid,
# written to pidfile $2 (setsid, setpriv and env exec, none forks here).
spawn() {
  local log=$1 pidfile=$2; shift 2
  user_file "$log"
  no_link "$pidfile"
  (cd / && exec setsid setpriv --reuid="$user" --regid="$user" --init-groups -- \
     env -i PATH=/usr/bin:/bin HOME="$dir" LANG=C.UTF-8 \
       "$@" >> "$log" 2>&1 < /dev/null) &
  echo $! > "$pidfile"
}

# GET on node $1's REST API; prints the body; false unless HTTP 200.
api_get() {
  curl -fsS --max-time 2 "http://127.0.0.1:$(api_port "$1")/$2" 2>/dev/null
}

# The leader: the node whose REST API says it holds the leader key and runs
# as primary.
current_leader() {
  local n
  for n in "${nodes[@]}"; do
    api_get "$n" primary >/dev/null && { echo "$n"; return 0; }
  done
  return 1
}

# True when node $1 accepts writes on its own port, through TCP with the
# passfile, as the tests' clients connect.
accepts_writes() {
  local out
  out=$("$bindir/psql" -X -At -c 'select not pg_is_in_recovery()' \
    "host=127.0.0.1 port=$(pg_port "$1") dbname=adsync user=adsync passfile=$dir/pgpass connect_timeout=2" \
    2>/dev/null) && [[ "$out" == t ]]
}

# True when the leader $1 has every other running node streaming from it.
replicas_streaming() {
  local leader=$1 others=() n
  for n in "${nodes[@]}"; do
    [[ "$n" == "$leader" ]] || others+=("$n")
  done
  local body
  body=$(api_get "$leader" patroni) || return 1
  python3 -c '
import json, sys
want = set(sys.argv[1:])
status = json.load(sys.stdin)
streaming = {r.get("application_name") for r in status.get("replication", [])
             if r.get("state") == "streaming"}
sys.exit(0 if want <= streaming else 1)' "${others[@]}" <<< "$body"
}

# Passwords, pgpass, Patroni's and etcd's configuration; kept when present.
prepare() {
  ensure_user
  make_dir
  own_dir "$dir/run" root 0755
  if ! as_user test -x "$dir" 2>/dev/null; then
    echo "patroni.sh: the user $user cannot reach $dir: a parent directory is not" \
         "searchable by other users; chmod o+x it, or use a DIR elsewhere (e.g. under /tmp)" >&2
    exit 1
  fi
  local d n gid
  gid=$(id -g "$user")
  for d in etcd pg1 pg2; do own_dir "$dir/$d" "$user" 0700; done
  # Inside adsync-pg's directories: as adsync-pg.
  for n in "${nodes[@]}"; do
    as_user mkdir -p -- "$dir/$n/socket"
    as_user chmod 0700 -- "$dir/$n/socket"
  done
  for n in "${nodes[@]}"; do
    local sock
    sock="$dir/$n/socket/.s.PGSQL.$(pg_port "$n")"
    ((${#sock} < 108)) ||
      { echo "patroni.sh: the socket path $sock is too long for a unix socket (107 bytes at most); use a shorter DIR" >&2; exit 2; }
  done

  # Secrets from here on: nothing made is readable by others, even briefly;
  # write_secret then gives adsync-pg (the group) what it needs.
  local old_umask; old_umask=$(umask)
  umask 077
  no_link "$dir/passwords"
  if [[ ! -s "$dir/passwords" ]]; then
    printf 'superuser=%s\nreplication=%s\nadsync=%s\n' \
      "$(openssl rand -hex 16)" "$(openssl rand -hex 16)" "$(openssl rand -hex 16)" |
      write_secret "$dir/passwords" root 0600
  fi
  local superuser_pw replication_pw adsync_pw
  superuser_pw=$(sed -n 's/^superuser=//p' "$dir/passwords")
  replication_pw=$(sed -n 's/^replication=//p' "$dir/passwords")
  adsync_pw=$(sed -n 's/^adsync=//p' "$dir/passwords")
  [[ -n "$superuser_pw" && -n "$replication_pw" && -n "$adsync_pw" ]] || {
    echo "patroni.sh: $dir/passwords lacks a password; run 'patroni.sh stop $dir' and remove $dir to start over" >&2
    exit 1
  }
  write_secret "$dir/pgpass" root 0600 <<PGPASS
127.0.0.1:*:*:adsync:$adsync_pw
127.0.0.1:*:*:postgres:$superuser_pw
127.0.0.1:*:replication:replicator:$replication_pw
PGPASS

  # Run once by Patroni as adsync-pg after initdb, with a superuser libpq
  # string as its argument (the unix socket, trusted).
  write_secret "$dir/post_bootstrap.sh" "$gid" 0750 <<SCRIPT
#!/bin/sh
# Written by scripts/patroni.sh; Patroni runs it once, after initdb.
set -e
exec "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -d "\$1" <<'SQL'
CREATE ROLE adsync LOGIN PASSWORD '$adsync_pw';
CREATE DATABASE adsync OWNER adsync;
-- Only adsync connects (docs/security.md: the coordinators' write lock).
REVOKE CONNECT, TEMPORARY ON DATABASE adsync FROM PUBLIC;
SQL
SCRIPT

  for n in "${nodes[@]}"; do
    write_secret "$dir/$n.yml" "$gid" 0640 <<YAML
# Written by scripts/patroni.sh at each start; edit the script, not this.
scope: $scope
namespace: /service/
name: $n
restapi:
  listen: 127.0.0.1:$(api_port "$n")
  connect_address: 127.0.0.1:$(api_port "$n")
etcd3:
  hosts: 127.0.0.1:$etcd_port
log:
  level: INFO
bootstrap:
  # Stored in etcd by the node that bootstraps the cluster (patronictl
  # edit-config changes it later).
  dcs:
    ttl: 10
    loop_wait: 1
    retry_timeout: 4
    maximum_lag_on_failover: 1048576
    synchronous_mode: true
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        wal_level: replica
        hot_standby: 'on'
        wal_log_hints: 'on'
        max_connections: 100
        max_wal_senders: 10
        max_replication_slots: 10
        wal_keep_size: 128MB
        password_encryption: scram-sha-256
  initdb:
  - encoding: UTF8
  - no-locale
  - data-checksums
  post_bootstrap: $dir/post_bootstrap.sh
postgresql:
  listen: 127.0.0.1:$(pg_port "$n")
  connect_address: 127.0.0.1:$(pg_port "$n")
  data_dir: $dir/$n/data
  bin_dir: $bindir
  pgpass: $dir/$n/pgpass
  use_unix_socket: true
  # The replica's first copy: pg_basebackup asks for an immediate checkpoint
  # (by default a spread one, which took 90 s here).
  basebackup:
  - checkpoint: fast
  authentication:
    superuser:
      username: postgres
      password: $superuser_pw
    replication:
      username: replicator
      password: $replication_pw
  parameters:
    unix_socket_directories: $dir/$n/socket
    shared_buffers: 32MB
  pg_hba:
  - local all all trust
  - local replication all trust
  - host replication replicator 127.0.0.1/32 scram-sha-256
  - host all all 127.0.0.1/32 scram-sha-256
watchdog:
  mode: 'off'
tags:
  nofailover: false
  noloadbalance: false
  clonefrom: false
  nosync: false
YAML
  done
  umask "$old_umask"
}

start_etcd() {
  etcd_pid >/dev/null && return 0
  local p
  for p in "$etcd_port" "$peer_port"; do
    ! port_busy "$p" || {
      echo "patroni.sh: port $p on 127.0.0.1 is taken by another program (ss -ltnp | grep :$p);" \
           "stop it, or use another BASE_PORT with another DIR" >&2
      exit 1
    }
  done
  local url=http://127.0.0.1 arch archenv=()
  # etcd 3.4 runs elsewhere than amd64 and ppc64le only when told to (and
  # warns about the variable where it is not needed).
  arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
  case $arch in  # Debian's name -> Go's
    amd64|ppc64el) ;;
    i386) archenv=(ETCD_UNSUPPORTED_ARCH=386) ;;
    armhf|armel) archenv=(ETCD_UNSUPPORTED_ARCH=arm) ;;
    *) archenv=("ETCD_UNSUPPORTED_ARCH=$arch") ;;
  esac
  # The --initial-* flags only matter the first time (DIR/etcd empty).
  spawn "$dir/etcd.log" "$dir/run/etcd.pid" "${archenv[@]}" etcd \
    --name etcd0 --data-dir "$dir/etcd" \
    --listen-client-urls "$url:$etcd_port" --advertise-client-urls "$url:$etcd_port" \
    --listen-peer-urls "$url:$peer_port" --initial-advertise-peer-urls "$url:$peer_port" \
    --initial-cluster "etcd0=$url:$peer_port" --initial-cluster-state new \
    --initial-cluster-token "adsync-$etcd_port" \
    --logger zap --log-outputs stderr
  for _ in $(seq 1 300); do
    curl -fsS --max-time 1 "$url:$etcd_port/health" 2>/dev/null | grep -q '"health":"true"' && return 0
    etcd_pid >/dev/null || break
    sleep 0.1
  done
  tail -20 "$dir/etcd.log" >&2
  echo "patroni.sh: etcd did not come up on 127.0.0.1:$etcd_port; see the log above ($dir/etcd.log)" >&2
  exit 1
}

start_node() {
  local n=$1 p
  patroni_pid "$n" >/dev/null && return 0
  # A postmaster left behind by a Patroni that died alone: Patroni takes
  # over a running postmaster, so that is fine; but a foreign program on the
  # ports is not.
  if ! postmaster_pid "$n" >/dev/null; then
    for p in "$(pg_port "$n")" "$(api_port "$n")"; do
      ! port_busy "$p" || {
        echo "patroni.sh: port $p on 127.0.0.1 is taken by another program (ss -ltnp | grep :$p);" \
             "stop it, or use another BASE_PORT with another DIR" >&2
        exit 1
      }
    done
  fi
  spawn "$dir/$n.log" "$dir/run/$n.pid" patroni "$dir/$n.yml"
}

start() {
  local base=${3:?usage: patroni.sh start DIR BASE_PORT}
  [[ "$base" =~ ^[1-9][0-9]{3,4}$ ]] && ((base >= 1024 && base + 21 < 65536)) ||
    { echo "patroni.sh: BASE_PORT must be a number from 1024 to 65514, not '$base'" >&2; exit 2; }
  if [[ -f "$dir/env" ]]; then
    load_env
    [[ "$BASE_PORT" == "$base" ]] || {
      echo "patroni.sh: $dir holds a cluster on BASE_PORT $BASE_PORT; use that, or run" \
           "'patroni.sh stop $dir' and remove $dir to start over" >&2
      exit 2
    }
  else
    make_dir
    rm -f -- "$dir/env.new"
    (umask 022 && printf 'BASE_PORT=%s\n' "$base" > "$dir/env.new")
    chmod 0644 -- "$dir/env.new"
    mv -- "$dir/env.new" "$dir/env"
    load_env
  fi
  prepare
  start_etcd
  local n
  for n in "${nodes[@]}"; do start_node "$n"; done

  # initdb, pg_basebackup and a first checkpoint: well under a minute on a
  # slow machine.
  local deadline=$(($(now_ms) + 180000)) leader=""
  while (($(now_ms) < deadline)); do
    for n in "${nodes[@]}"; do
      patroni_pid "$n" >/dev/null || {
        tail -20 "$dir/$n.log" >&2
        echo "patroni.sh: Patroni $n exited; see the log above ($dir/$n.log)" >&2
        exit 1
      }
    done
    if leader=$(current_leader) && replicas_streaming "$leader"; then
      return 0
    fi
    sleep 0.2
  done
  patronictl -c "$dir/pg1.yml" list >&2 || true
  echo "patroni.sh: no leader with a streaming replica after 180 s (leader: ${leader:-none});" \
       "see $dir/pg1.log, $dir/pg2.log and $dir/etcd.log" >&2
  exit 1
}

# SIGKILL for node $1's Patroni (and anything it runs: pg_rewind,
# pg_basebackup...) and its PostgreSQL, all at once, then waits until they are gone.
kill_node() {
  local n=$1 pids=() pid child
  if pid=$(patroni_pid "$n"); then
    pids+=("$pid")
    for child in $(cat "/proc/$pid/task/"*/children 2>/dev/null); do
      owned "$child" && pids+=("$child")
    done
  fi
  # The postmaster runs in its own session (Patroni starts it through
  # setsid), and each of its children makes its own (setsid), so they are
  # named one by one.
  if pid=$(postmaster_pid "$n"); then
    pids+=("$pid")
    for child in $(cat "/proc/$pid/task/"*/children 2>/dev/null); do
      owned "$child" && pids+=("$child")
    done
  fi
  ((${#pids[@]})) || return 0
  kill -KILL "${pids[@]}" 2>/dev/null || true
  wait_gone 15 "${pids[@]}" || {
    echo "patroni.sh: processes ${pids[*]} of $n survived SIGKILL" >&2
    exit 1
  }
}

kill_leader() {
  load_env
  local leader
  leader=$(current_leader) || {
    echo "patroni.sh: no node is the leader now (a failover in progress, or the cluster is down);" \
         "see 'patroni.sh status $dir', or run 'patroni.sh start $dir $BASE_PORT'" >&2
    exit 1
  }
  kill_node "$leader"
  echo "$leader"
}

wait_leader() {
  load_env
  local node=${3:?usage: patroni.sh wait-leader DIR NODE TIMEOUT_S} timeout=${4:?TIMEOUT_S is required}
  check_node "$node"
  [[ "$timeout" =~ ^[0-9]+$ ]] || { echo "patroni.sh: TIMEOUT_S must be whole seconds, not '$timeout'" >&2; exit 2; }
  local t0; t0=$(now_ms)
  local deadline=$((t0 + timeout * 1000)) waited
  while :; do
    if api_get "$node" primary >/dev/null && accepts_writes "$node"; then
      waited=$(($(now_ms) - t0))
      printf '%d.%03d\n' $((waited / 1000)) $((waited % 1000))
      return 0
    fi
    (($(now_ms) < deadline)) || break
    sleep 0.1
  done
  patronictl -c "$dir/pg1.yml" list >&2 || true
  echo "patroni.sh: $node is not a writable leader after $timeout s; see the status above and $dir/$node.log" >&2
  exit 1
}

# Stops node $1: Patroni stops its PostgreSQL (fast) and gives up the leader
# key. A PostgreSQL whose Patroni is gone is stopped with pg_ctl; whatever
# does not stop in time is killed.
stop_node() {
  local n=$1 pid
  if pid=$(patroni_pid "$n"); then
    kill -TERM "$pid" 2>/dev/null || true
    wait_gone 60 "$pid" || {
      echo "patroni.sh: Patroni $n did not stop within 60 s; killing it (see $dir/$n.log)" >&2
      kill -KILL "$pid" 2>/dev/null || true
      wait_gone 10 "$pid" || true
    }
  fi
  if postmaster_pid "$n" >/dev/null; then
    as_user "$bindir/pg_ctl" -D "$dir/$n/data" -m fast -t 60 -w stop >/dev/null 2>&1 || true
  fi
  kill_node "$n"
  rm -f "$dir/run/$n.pid"
}

stop() {
  [[ -f "$dir/env" ]] || return 0
  load_env
  # The replica first, so the leader stays the leader for the next start.
  local leader n others=()
  leader=$(current_leader) || leader=""
  for n in "${nodes[@]}"; do [[ "$n" == "$leader" ]] || others+=("$n"); done
  for n in "${others[@]}" $leader; do stop_node "$n"; done
  local pid
  if pid=$(etcd_pid); then
    kill -TERM "$pid" 2>/dev/null || true
    wait_gone 30 "$pid" || { kill -KILL "$pid" 2>/dev/null || true; wait_gone 10 "$pid" || true; }
  fi
  rm -f "$dir/run/etcd.pid"
  # Each of our processes names its part of DIR on its command line, except
  # the postgres children, which kill_node has waited for.
  local left re=${dir//./\\.}
  if left=$(pgrep -a -u "$user" -f -- "$re/(etcd|pg[12]\\.yml|pg[12]/data)( |$)"); then
    echo "$left" >&2
    echo "patroni.sh: processes of the cluster in $dir are still running (above); kill them by pid" >&2
    exit 1
  fi
}

case "$cmd" in
  start) start "$@" ;;
  stop) stop ;;
  conninfo)
    load_env
    echo "host=127.0.0.1,127.0.0.1 port=$(pg_port pg1),$(pg_port pg2) dbname=adsync user=adsync" \
         "target_session_attrs=read-write passfile=$dir/pgpass connect_timeout=2"
    ;;
  leader)
    load_env
    current_leader || {
      echo "patroni.sh: no node is the leader now (a failover in progress, or the cluster is down);" \
           "see 'patroni.sh status $dir'" >&2
      exit 1
    }
    ;;
  kill-leader) kill_leader ;;
  wait-leader) wait_leader "$@" ;;
  status) load_env; patronictl -c "$dir/pg1.yml" list ;;
  *) echo "patroni.sh: unknown command $cmd (see the usage at the top of $0)" >&2; exit 2 ;;
esac
