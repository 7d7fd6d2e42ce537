#!/usr/bin/env bash
# Real PostgreSQL servers for tests and the demo (the PostgreSQL store, issue
# 16), each in its own directory with its own port and unix socket. Nothing
# system-wide is used: not /etc/postgresql, not pg_ctlcluster, not the system
# cluster. The servers run as the system user adsync-pg (created when
# missing), since initdb and postgres refuse to run as root.
#
#   postgres.sh init DIR [PORT]     # initdb + database and roles; idempotent;
#                                   # leaves the server stopped (PORT: 5432)
#   postgres.sh start DIR           # waits until it accepts connections
#   postgres.sh stop DIR            # fast shutdown; fine when not running
#   postgres.sh kill DIR            # SIGKILL postmaster and children (crash tests)
#   postgres.sh standby DIR PRIMARY_DIR [PORT]  # streaming standby of the
#                                   # running primary in PRIMARY_DIR, started
#   postgres.sh promote DIR         # standby becomes a primary
#   postgres.sh conninfo DIR        # libpq string for database adsync
#   postgres.sh psql DIR [ARGS...]  # psql as superuser on database adsync
#
# The server listens only on DIR/socket (its file is named after PORT) unless
# PG_LISTEN=IP is set at init/standby: then also on IP:PORT, where clients log
# in with a password (scram-sha-256; the password of roles adsync and
# replicator is in DIR/password). On the socket, local users are trusted.
# Roles: postgres (superuser), adsync (owns database adsync), replicator
# (REPLICATION).
#
# DIR gets: data/ (PGDATA, 0700, owned by adsync-pg; our settings are in
# data/adsync.conf), socket/ (adsync-pg's), postgres.log (adsync-pg's), and,
# root's: password (0600), env (0644; PORT, LISTEN, PRIMARY lines, which the
# script parses, never runs) and the initdb/basebackup logs. DIR itself is
# made 0755 so adsync-pg can reach it; its parent directories must already be
# searchable by other users. PG_BINDIR overrides where the PostgreSQL
# programs are (default: pg_config --bindir).
#
# Root works on paths inside DIR, so DIR must be root's alone: the script
# creates it (0755, root) when missing, and refuses a DIR that is a symbolic
# link, is not owned by root, or is writable by group or others (another user
# could plant links there that root would follow, or edit env). Inside DIR,
# root never writes through a symbolic link, and touches what adsync-pg owns
# (data/, socket/) only as adsync-pg. DIR may hold only letters, digits and
# . _ / - (it goes into postgresql.conf and libpq strings).
set -euo pipefail

cmd=${1:?usage: postgres.sh init|start|stop|kill|standby|promote|conninfo|psql DIR ...}
user=adsync-pg
prog=postgres.sh
# shellcheck source=scripts/pg_common.sh
source "$(dirname "$(realpath "$0")")/pg_common.sh"

if [[ $(id -u) != 0 ]]; then
  echo "postgres.sh: run it as root (it runs the servers as the user $user)" >&2
  exit 1
fi



take_dir "${2:-}"
find_bindir

# Runs a program as adsync-pg (from /, so a private working directory does
# not make it complain). Everything under data/ and socket/ is adsync-pg's:
# root reads and writes there only through this.
asuser() {
  (cd / && runuser -u "$user" -- "$@")
}



# Makes $1 (a path directly in DIR) a directory owned by adsync-pg, 0700.
user_dir() {
  if [[ -L "$1" ]] || [[ -e "$1" && ! -d "$1" ]]; then
    echo "postgres.sh: $1 is a symbolic link or not a directory; remove it (or use a new DIR)" >&2
    exit 1
  fi
  mkdir -p -- "$1"
  chown -h -- "$user:" "$1"
  chmod 0700 -- "$1"
}



# DIR with the parts adsync-pg owns.
prepare_dir() {
  ensure_user
  make_dir
  if ! runuser -u "$user" -- test -x "$dir" 2>/dev/null; then
    echo "postgres.sh: the user $user cannot reach $dir: a parent directory is not" \
         "searchable by other users; chmod o+x it, or use a DIR elsewhere (e.g. under /tmp)" >&2
    exit 1
  fi
  user_dir "$dir/data"
  user_dir "$dir/socket"
  user_file "$dir/postgres.log"
}

valid_port() { [[ "$1" =~ ^[1-9][0-9]{0,4}$ ]] && (($1 < 65536)); }
# listen_addresses: host names or IP addresses, comma-separated, or *.
valid_listen() { [[ "$1" =~ ^[A-Za-z0-9.:,*-]*$ ]]; }

# Sets PORT, LISTEN and PRIMARY from DIR/env (or $1/env), KEY=VALUE lines
# that root wrote; parsed, not run, and every value checked. (LISTEN and
# PRIMARY are there for the record: init and standby take them anew.)
# shellcheck disable=SC2034
load_env() {
  local d=${1:-$dir} line key value
  local f=$d/env
  [[ -f "$f" ]] || {
    echo "postgres.sh: $d has no server; run 'postgres.sh init $d [PORT]' (or standby) first" >&2
    exit 1
  }
  if [[ -L "$f" || $(stat -c %u -- "$f") != 0 ]] || ((8#$(stat -c %a -- "$f") & 8#022)); then
    echo "postgres.sh: $f is not a file of root's that only root can write; remove $d to start over" >&2
    exit 1
  fi
  PORT="" LISTEN="" PRIMARY=""
  while IFS= read -r line || [[ -n "$line" ]]; do
    [[ -n "$line" ]] || continue
    key=${line%%=*} value=${line#*=}
    case $key in
      PORT) valid_port "$value" && PORT=$value ;;
      LISTEN) valid_listen "$value" && LISTEN=$value ;;
      PRIMARY) [[ -z "$value" || "$value" =~ ^/[A-Za-z0-9._/-]*$ ]] && PRIMARY=$value ;;
      *) false ;;
    esac || {
      echo "postgres.sh: $f has a bad line '$line'; remove $d to start over" >&2
      exit 1
    }
  done < "$f"
  [[ -n "$PORT" ]] || { echo "postgres.sh: $f has no PORT; remove $d to start over" >&2; exit 1; }
}

check_listen() {
  valid_listen "$1" ||
    { echo "postgres.sh: PG_LISTEN must be an IP address (or host names, comma-separated), not '$1'" >&2; exit 2; }
}

check_port() {
  local port=$1 sock
  valid_port "$port" ||
    { echo "postgres.sh: PORT must be a number from 1 to 65535, not '$port'" >&2; exit 2; }
  sock="$dir/socket/.s.PGSQL.$port"
  ((${#sock} < 108)) ||
    { echo "postgres.sh: the socket path $sock is too long for a unix socket (107 bytes at most); use a shorter DIR" >&2; exit 2; }
}

# Our settings, in data/adsync.conf (included from postgresql.conf); written
# as adsync-pg, whose files they are.
write_conf() {  # port listen
  local data=$dir/data
  asuser tee "$data/adsync.conf" > /dev/null <<CONF
# Written by scripts/postgres.sh; rewritten by init and standby.
listen_addresses = '$2'
port = $1
unix_socket_directories = '$dir/socket'
wal_level = replica
max_wal_senders = 5
wal_keep_size = 256MB
hot_standby = on
fsync = on
shared_buffers = 32MB
log_destination = 'stderr'
logging_collector = off
CONF
  asuser grep -q "^include 'adsync.conf'" "$data/postgresql.conf" ||
    echo "include 'adsync.conf'" | asuser tee -a "$data/postgresql.conf" > /dev/null
  # Password logins on the TCP address (initdb's rules cover 127.0.0.1 and ::1).
  if [[ -n "$2" ]] && ! asuser grep -q '^host all all samenet' "$data/pg_hba.conf"; then
    printf 'host all all samenet scram-sha-256\nhost replication all samenet scram-sha-256\n' |
      asuser tee -a "$data/pg_hba.conf" > /dev/null
  fi
}

# DIR/env, root's, 0644.
write_env() {  # port listen primary
  rm -f -- "$dir/env.new"
  (umask 022 && printf 'PORT=%s\nLISTEN=%s\nPRIMARY=%s\n' "$1" "$2" "$3" > "$dir/env.new")
  chmod 0644 -- "$dir/env.new"
  mv -- "$dir/env.new" "$dir/env"
}

running() {
  asuser "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1
}

# Superuser psql on database $2 (default adsync) through the socket.
su_psql() {  # db args...
  local db=$1
  shift
  "$bindir/psql" -X -v ON_ERROR_STOP=1 -h "$dir/socket" -p "$PORT" -U postgres -d "$db" "$@"
}

init() {
  local port=${3:-5432} listen=${PG_LISTEN:-}
  check_port "$port"
  check_listen "$listen"
  if [[ -f "$dir/.initialized" ]]; then
    load_env
    [[ -z "${3:-}" || "$3" == "$PORT" ]] || {
      echo "postgres.sh: $dir was initialized with port $PORT; omit PORT, or remove $dir to start over" >&2
      exit 2
    }
    ensure_user
    return
  fi
  prepare_dir
  if ! asuser test -f "$dir/data/PG_VERSION"; then
    no_link "$dir/initdb.log"
    asuser "$bindir/initdb" -D "$dir/data" -U postgres -E UTF8 --no-locale \
      --auth-local=trust --auth-host=scram-sha-256 > "$dir/initdb.log" 2>&1 || {
        tail -20 "$dir/initdb.log" >&2
        rm -rf "${dir:?}/data"
        echo "postgres.sh: initdb failed (full output in $dir/initdb.log)" >&2
        exit 1
      }
  fi
  write_conf "$port" "$listen"
  write_env "$port" "$listen" ""
  no_link "$dir/password"
  [[ -f "$dir/password" ]] || (umask 077 && openssl rand -hex 16 > "$dir/password")
  local was_running=0
  running && was_running=1
  start
  local password
  password=$(cat "$dir/password")
  su_psql postgres -q <<SQL
DO \$\$BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'adsync') THEN
    CREATE ROLE adsync LOGIN;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'replicator') THEN
    CREATE ROLE replicator REPLICATION LOGIN;
  END IF;
END\$\$;
ALTER ROLE adsync PASSWORD '$password';
ALTER ROLE replicator PASSWORD '$password';
SELECT 'CREATE DATABASE adsync OWNER adsync'
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'adsync') \gexec
-- Only adsync connects (any connected role could take the coordinators'
-- write lock, an advisory lock: docs/security.md).
REVOKE CONNECT, TEMPORARY ON DATABASE adsync FROM PUBLIC;
SQL
  no_link "$dir/.initialized"
  touch "$dir/.initialized"
  ((was_running)) || stop
}

start() {
  load_env
  if running; then return; fi
  asuser test -f "$dir/data/PG_VERSION" ||
    { echo "postgres.sh: $dir/data holds no database; run 'postgres.sh init $dir' first" >&2; exit 1; }
  prepare_dir
  if ! asuser "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -t 120 -w start > /dev/null; then
    tail -20 "$dir/postgres.log" >&2
    echo "postgres.sh: the server in $dir did not start; see the log above ($dir/postgres.log):" \
         "is port $PORT already taken (another server, or the system cluster: pg_lsclusters)," \
         "or is a standby's primary unreachable?" >&2
    exit 1
  fi
  for _ in $(seq 1 200); do
    "$bindir/pg_isready" -q -h "$dir/socket" -p "$PORT" && return
    sleep 0.1
  done
  tail -20 "$dir/postgres.log" >&2
  echo "postgres.sh: the server in $dir started but does not accept connections on $dir/socket; see $dir/postgres.log" >&2
  exit 1
}

stop() {
  running || return 0
  asuser "$bindir/pg_ctl" -D "$dir/data" -m fast -t 60 -w stop > /dev/null
}

# Whether process $1 runs as adsync-pg (real and effective uid).
owned() {
  local line ruid euid
  line=$(grep -m1 '^Uid:' "/proc/$1/status" 2>/dev/null) || return 1
  read -r _ ruid euid _ <<< "$line"
  [[ "$ruid" == "$uid" && "$euid" == "$uid" ]]
}

# Whether process $1 is this DIR's postmaster: adsync-pg's, and its command
# line is a postgres program with -D DIR/data.
our_postmaster() {
  local pid=$1 args=() i
  [[ "$pid" =~ ^[1-9][0-9]*$ ]] && owned "$pid" || return 1
  { mapfile -d '' -t args < "/proc/$pid/cmdline"; } 2>/dev/null || return 1
  [[ "${args[0]:-}" == postgres || "${args[0]:-}" == */postgres ]] || return 1
  for ((i = 1; i + 1 < ${#args[@]}; i++)); do
    [[ "${args[i]}" == -D && "${args[i + 1]}" == "$dir/data" ]] && return 0
  done
  return 1
}

kill_server() {
  local pid uid
  uid=$(id -u "$user" 2>/dev/null) || return 0
  # postmaster.pid is adsync-pg's (read as adsync-pg), and may be stale (an
  # earlier kill), its pid since reused: only this DIR's postmaster is killed.
  pid=$(asuser head -1 "$dir/data/postmaster.pid" 2>/dev/null) || return 0
  our_postmaster "$pid" || return 0
  # pg_ctl starts the postmaster in its own session, and each child makes
  # its own (setsid), so the children are named one by one, with whatever
  # else is in the postmaster's process group; adsync-pg's processes only.
  local pids=("$pid") p
  for p in $(cat "/proc/$pid/task/"*/children 2>/dev/null) \
           $(pgrep -u "$uid" -g "$pid" 2>/dev/null); do
    [[ "$p" != "$pid" ]] && owned "$p" && pids+=("$p")
  done
  kill -KILL "${pids[@]}" 2>/dev/null || true
  # Waits until they are reaped, not just dead: while the postmaster is a
  # zombie its pid still answers, and pg_ctl and postgres take the server
  # for running (init reaps orphans when it gets to it, up to seconds).
  for _ in $(seq 1 300); do
    local alive=0 p
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    ((alive)) || return 0
    sleep 0.05
  done
  echo "postgres.sh: processes ${pids[*]} of the server in $dir survived SIGKILL" >&2
  exit 1
}

standby() {
  local primary; primary=$(resolve_dir "${3:?PRIMARY_DIR is required}")
  check_plain "$primary" PRIMARY_DIR
  check_dir "$primary"
  local port=${4:-5432} listen=${PG_LISTEN:-}
  if [[ -f "$dir/.initialized" ]]; then
    start
    return
  fi
  check_port "$port"
  check_listen "$listen"
  [[ -f "$primary/env" ]] ||
    { echo "postgres.sh: $primary has no server; run 'postgres.sh init $primary' and start it first" >&2; exit 1; }
  local pport; pport=$(load_env "$primary"; echo "$PORT")
  "$bindir/pg_isready" -q -h "$primary/socket" -p "$pport" ||
    { echo "postgres.sh: the primary in $primary is not running; run 'postgres.sh start $primary' first" >&2; exit 1; }
  # A half-made standby (its start failed) is made again.
  stop
  rm -rf "${dir:?}/data"
  prepare_dir
  no_link "$dir/basebackup.log"
  asuser "$bindir/pg_basebackup" -h "$primary/socket" -p "$pport" -U replicator \
    -D "$dir/data" -R -X stream -c fast > "$dir/basebackup.log" 2>&1 || {
      tail -20 "$dir/basebackup.log" >&2
      rm -rf "${dir:?}/data"
      echo "postgres.sh: pg_basebackup from $primary failed (full output in $dir/basebackup.log)" >&2
      exit 1
    }
  write_conf "$port" "$listen"
  write_env "$port" "$listen" "$primary"
  no_link "$primary/password"
  no_link "$dir/password"
  (umask 077 && cp -- "$primary/password" "$dir/password")
  start
  no_link "$dir/.initialized"
  touch "$dir/.initialized"
}

promote() {
  load_env
  running || { echo "postgres.sh: the server in $dir is not running; start it first" >&2; exit 1; }
  asuser test -f "$dir/data/standby.signal" || return 0
  asuser "$bindir/pg_ctl" -D "$dir/data" -t 60 -w promote > /dev/null
}

case "$cmd" in
  init) init "$@" ;;
  start) start ;;
  stop) stop ;;
  kill) kill_server ;;
  standby) standby "$@" ;;
  promote) promote ;;
  conninfo) load_env; echo "host=$dir/socket port=$PORT dbname=adsync user=adsync" ;;
  psql) load_env; shift 2; su_psql adsync "$@" ;;
  *) echo "postgres.sh: unknown command $cmd (see the usage at the top of $0)" >&2; exit 2 ;;
esac
