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
# data/adsync.conf), socket/, postgres.log, password and env (PORT, LISTEN,
# PRIMARY). DIR itself is made 0755 so adsync-pg can reach it; its parent
# directories must already be searchable by other users. PG_BINDIR overrides
# where the PostgreSQL programs are (default: pg_config --bindir).
set -euo pipefail

cmd=${1:?usage: postgres.sh init|start|stop|kill|standby|promote|conninfo|psql DIR ...}
dir=$(realpath -m "${2:?DIR is required}")
user=adsync-pg

if [[ $(id -u) != 0 ]]; then
  echo "postgres.sh: run it as root (it runs the servers as the user $user)" >&2
  exit 1
fi

bindir=${PG_BINDIR:-}
if [[ -z "$bindir" ]]; then
  bindir=$(pg_config --bindir 2>/dev/null ||
           ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
fi
if [[ ! -x "$bindir/initdb" ]]; then
  echo "postgres.sh: PostgreSQL server programs not found (looked in '${bindir}');" \
       "run scripts/install_deps.sh, or set PG_BINDIR to the directory holding initdb" >&2
  exit 1
fi

# Runs a PostgreSQL program as adsync-pg (from /, so a private working
# directory does not make it complain).
asuser() {
  (cd / && runuser -u "$user" -- "$@")
}

ensure_user() {
  id -u "$user" >/dev/null 2>&1 ||
    useradd --system --no-create-home --shell /usr/sbin/nologin "$user"
}

# DIR with the parts adsync-pg owns.
prepare_dir() {
  ensure_user
  mkdir -p "$dir"
  chmod 0755 "$dir"
  if ! runuser -u "$user" -- test -x "$dir" 2>/dev/null; then
    echo "postgres.sh: the user $user cannot reach $dir: a parent directory is not" \
         "searchable by other users; chmod o+x it, or use a DIR elsewhere (e.g. under /tmp)" >&2
    exit 1
  fi
  mkdir -p "$dir/data" "$dir/socket"
  chown "$user:" "$dir/data" "$dir/socket"
  chmod 0700 "$dir/data" "$dir/socket"
  touch "$dir/postgres.log"
  chown "$user:" "$dir/postgres.log"
}

load_env() {
  [[ -f "$dir/env" ]] || {
    echo "postgres.sh: $dir has no server; run 'postgres.sh init $dir [PORT]' (or standby) first" >&2
    exit 1
  }
  # shellcheck disable=SC1091
  source "$dir/env"
}

check_port() {
  local port=$1 sock
  [[ "$port" =~ ^[0-9]+$ ]] && ((port > 0 && port < 65536)) ||
    { echo "postgres.sh: PORT must be a number from 1 to 65535, not '$port'" >&2; exit 2; }
  sock="$dir/socket/.s.PGSQL.$port"
  ((${#sock} < 108)) ||
    { echo "postgres.sh: the socket path $sock is too long for a unix socket (107 bytes at most); use a shorter DIR" >&2; exit 2; }
}

# Our settings, in data/adsync.conf (included from postgresql.conf).
write_conf() {  # port listen
  local data=$dir/data
  cat > "$data/adsync.conf" <<CONF
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
  chown "$user:" "$data/adsync.conf"
  grep -q "^include 'adsync.conf'" "$data/postgresql.conf" ||
    echo "include 'adsync.conf'" >> "$data/postgresql.conf"
  # Password logins on the TCP address (initdb's rules cover 127.0.0.1 and ::1).
  if [[ -n "$2" ]] && ! grep -q '^host all all samenet' "$data/pg_hba.conf"; then
    printf 'host all all samenet scram-sha-256\nhost replication all samenet scram-sha-256\n' \
      >> "$data/pg_hba.conf"
  fi
}

write_env() {  # port listen primary
  printf 'PORT=%s\nLISTEN=%s\nPRIMARY=%s\n' "$1" "$2" "$3" > "$dir/env.new"
  mv "$dir/env.new" "$dir/env"
}

running() {
  [[ -f "$dir/data/PG_VERSION" ]] && asuser "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1
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
  if [[ ! -f "$dir/data/PG_VERSION" ]]; then
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
SQL
  touch "$dir/.initialized"
  ((was_running)) || stop
}

start() {
  load_env
  if running; then return; fi
  [[ -f "$dir/data/PG_VERSION" ]] ||
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

kill_server() {
  local pidfile=$dir/data/postmaster.pid pid
  [[ -f "$pidfile" ]] || return 0
  pid=$(head -1 "$pidfile")
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 0
  # pg_ctl starts the postmaster in its own session, and each child makes
  # its own (setsid), so the children are named one by one.
  local pids=("$pid") child
  for child in $(cat "/proc/$pid/task/"*/children 2>/dev/null); do pids+=("$child"); done
  kill -KILL -- "-$pid" 2>/dev/null || true
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
  local primary; primary=$(realpath -m "${3:?PRIMARY_DIR is required}")
  local port=${4:-5432} listen=${PG_LISTEN:-}
  if [[ -f "$dir/.initialized" ]]; then
    start
    return
  fi
  check_port "$port"
  [[ -f "$primary/env" ]] ||
    { echo "postgres.sh: $primary has no server; run 'postgres.sh init $primary' and start it first" >&2; exit 1; }
  local pport; pport=$(. "$primary/env"; echo "$PORT")
  "$bindir/pg_isready" -q -h "$primary/socket" -p "$pport" ||
    { echo "postgres.sh: the primary in $primary is not running; run 'postgres.sh start $primary' first" >&2; exit 1; }
  # A half-made standby (its start failed) is made again.
  stop
  rm -rf "${dir:?}/data"
  prepare_dir
  asuser "$bindir/pg_basebackup" -h "$primary/socket" -p "$pport" -U replicator \
    -D "$dir/data" -R -X stream -c fast > "$dir/basebackup.log" 2>&1 || {
      tail -20 "$dir/basebackup.log" >&2
      rm -rf "${dir:?}/data"
      echo "postgres.sh: pg_basebackup from $primary failed (full output in $dir/basebackup.log)" >&2
      exit 1
    }
  write_conf "$port" "$listen"
  write_env "$port" "$listen" "$primary"
  cp "$primary/password" "$dir/password"
  start
  touch "$dir/.initialized"
}

promote() {
  load_env
  running || { echo "postgres.sh: the server in $dir is not running; start it first" >&2; exit 1; }
  [[ -f "$dir/data/standby.signal" ]] || return 0
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
