# Shared by the benchmarks against a real Samba DC (sourced, not run):
# provisions and starts the benchmark DC (127.0.0.91, BENCH.TEST) with
# `users` users in OUs of 1000 (built once, cached in build/bench-dc),
# starts panel-sim, and defines run_coordinator, which starts a fresh
# coordinator and writes an agent config for it (searching for all changes,
# by poll or as the backstop to change notification, every
# agent_search_seconds, 1 unless set). REQUIRES: ROOT (the checkout), users;
# sets B, DC, S, CTL, ORG, COORD, PIDS; stops everything at exit.
B=$ROOT/build/bench-run
DC=$ROOT/build/bench-dc
S=$ROOT/scripts/samba_dc.sh
mkdir -p "$B"
export SAMBA_NS=
$S provision "$DC" BENCH.TEST BENCH 127.0.0.91 benchdc
$S start "$DC"
PIDS=()
# A PID that leads its own process group (started with setsid) is stopped
# with its whole group.
cleanup() { for p in "${PIDS[@]}"; do kill -- "-$p" 2>/dev/null || kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; $S stop "$DC"; }
trap cleanup EXIT

if [[ ! -f "$DC/.users$users" ]]; then
  echo "building a directory of $users users (once; cached in $DC)..."
  python3 - "$users" > "$B/users.ldif" <<'PY'
import sys
n = int(sys.argv[1])
for ou in range(n // 1000 + (n % 1000 > 0)):
    print(f"dn: OU=School{ou},DC=bench,DC=test\nobjectClass: organizationalUnit\n")
for i in range(n):
    print(f"dn: CN=u{i},OU=School{i // 1000},DC=bench,DC=test\nobjectClass: user\n"
          f"sAMAccountName: u{i}\nuserPrincipalName: u{i}@bench.test\n"
          f"mail: u{i}@students.bench.test\ndisplayName: Student {i}\n"
          f"proxyAddresses: SMTP:u{i}@students.bench.test\nuserAccountControl: 514\n")
PY
  time $S ldap "$DC" ldapadd -c < "$B/users.ldif" > /dev/null 2>&1 || true
  touch "$DC/.users$users"
fi
. "$DC/env"
ATTRS="objectGUID objectSid sAMAccountName userPrincipalName mail proxyAddresses displayName userAccountControl uSNChanged isDeleted replPropertyMetaData"

umask 077; printf 'bench-token' > "$B/token"; printf 'bench-panel' > "$B/panel.token"; umask 022
cp "$DC/admin.password" "$B/ldap.pw"
"$ROOT/build/panel/panel-sim" --listen=127.0.0.1:28480 --db="$B/panel.db" --token_file="$B/panel.token" > "$B/panel.log" 2>&1 &
PIDS+=($!)
# $1: the coordinator's push_interval_ms (default 500, the product's).
run_coordinator() {
  local push_interval=${1:-500}
  rm -f "$B"/coordinator.db*
  cat > "$B/coordinator.textproto" <<CONF
agent_listen: "127.0.0.1:27443"
admin_listen: "127.0.0.1:27444"
database_path: "$B/coordinator.db"
admin_token_file: "$B/token"
panel { base_url: "http://127.0.0.1:28480" token_file: "$B/panel.token" push_interval_ms: $push_interval disable_periodic_pull: true }
CONF
  "$ROOT/build/coordinator/adsync-coordinator" --config "$B/coordinator.textproto" > "$B/coordinator.log" 2>&1 &
  COORD=$!
  PIDS+=($COORD)
  CTL="$ROOT/build/ctl/adsyncctl --admin 127.0.0.1:27444 --token-file $B/token"
  for _ in $(seq 1 100); do $CTL org list > /dev/null 2>&1 && break; sleep 0.1; done
  ORG=$($CTL org create --name Bench --live --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["org_id"])')
  $CTL sync add --org "$ORG" --domain BENCH --ip 127.0.0.1 | awk '/AD Sync key/ {print $4}' > "$B/sync.key"
  chmod 600 "$B/sync.key"
  cat > "$B/agent.textproto" <<CONF
coordinator: "127.0.0.1:27443"
org_id: "$ORG"
sync_key_file: "$B/sync.key"
domain: "BENCH"
poll_interval_seconds: ${agent_search_seconds:-1}
backstop_interval_seconds: ${agent_search_seconds:-1}
ldap { uri: "ldaps://$IP" ca_file: "$DC/tls/ca.pem" bind_dn: "$ADMIN_DN" password_file: "$B/ldap.pw" }
CONF
}

