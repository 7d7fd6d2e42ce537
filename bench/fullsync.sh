#!/usr/bin/env bash
# Full sync and change latency against a real Samba DC (issue 7).
#   bench/fullsync.sh [USERS]     (default 20000; the directory is built once and cached)
# Prints: ldapsearch paging the same attributes vs. agent+coordinator full
# sync wall time (median of 3), the agent's peak RSS, then the latency from
# modifying an account on the DC to the new mapping arriving in panel-sim,
# p50/p99 over 50 changes.
# With ADSYNC_BENCH_WINDOWS=1 it also runs adsync-agent.exe (scripts/build_windows.sh)
# under Wine for the same full sync and prints its peak RSS, and Wine's own
# footprint (the exe printing its version) for comparison.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
users=${1:-20000}
scripts/build.sh build > /dev/null
B=$ROOT/build/bench-run
DC=$ROOT/build/bench-dc
S=$ROOT/scripts/samba_dc.sh
mkdir -p "$B"
export SAMBA_NS=
$S provision "$DC" BENCH.TEST BENCH 127.0.0.91 benchdc
$S start "$DC"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; $S stop "$DC"; }
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

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "ldapsearch, paged (1000), same attributes:"
for r in 1 2 3; do
  /usr/bin/time -f "%e" -o "$B/t" $S ldap "$DC" ldapsearch -LLL -E pr=1000/noprompt \
    -b "$BASE_DN" "(&(objectCategory=person)(objectClass=user))" $ATTRS > "$B/ldif.out"
  cat "$B/t"
done | tee "$B/ldapsearch.times"
entries=$(grep -c '^dn: ' "$B/ldif.out")
echo "  entries: $entries, median $(median < "$B/ldapsearch.times") s"

umask 077; printf 'bench-token' > "$B/token"; printf 'bench-panel' > "$B/panel.token"; umask 022
cp "$DC/admin.password" "$B/ldap.pw"
"$ROOT/build/panel/panel-sim" --listen=127.0.0.1:28480 --db="$B/panel.db" --token_file="$B/panel.token" > "$B/panel.log" 2>&1 &
PIDS+=($!)
run_coordinator() {
  rm -f "$B"/coordinator.db*
  cat > "$B/coordinator.textproto" <<CONF
agent_listen: "127.0.0.1:27443"
admin_listen: "127.0.0.1:27444"
database_path: "$B/coordinator.db"
admin_token_file: "$B/token"
panel { base_url: "http://127.0.0.1:28480" token_file: "$B/panel.token" push_interval_ms: 50 disable_periodic_pull: true }
CONF
  "$ROOT/build/coordinator/adsync-coordinator" --config "$B/coordinator.textproto" > "$B/coordinator.log" 2>&1 &
  COORD=$!
  PIDS+=($COORD)
  CTL="$ROOT/build/ctl/adsyncctl --admin 127.0.0.1:27444 --token-file $B/token"
  for _ in $(seq 1 100); do $CTL org list > /dev/null 2>&1 && break; sleep 0.1; done
  ORG=$($CTL org create --name Bench --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["org_id"])')
  $CTL sync add --org "$ORG" --domain BENCH --ip 127.0.0.1 | awk '/AD Sync key/ {print $4}' > "$B/sync.key"
  chmod 600 "$B/sync.key"
  cat > "$B/agent.textproto" <<CONF
coordinator: "127.0.0.1:27443"
org_id: "$ORG"
sync_key_file: "$B/sync.key"
domain: "BENCH"
poll_interval_seconds: 1
ldap { uri: "ldaps://$IP" ca_file: "$DC/tls/ca.pem" bind_dn: "$ADMIN_DN" password_file: "$B/ldap.pw" }
CONF
}

echo "agent + coordinator full sync (fresh coordinator each run):"
for r in 1 2 3; do
  run_coordinator
  /usr/bin/time -f "%e %M" -o "$B/t" "$ROOT/build/agent/adsync-agent" --config "$B/agent.textproto" --once > "$B/agent.log" 2>&1
  cat "$B/t"
  kill "$COORD"; wait "$COORD" 2>/dev/null || true
done | tee "$B/agent.times"
agent_median=$(awk '{print $1}' "$B/agent.times" | median)
ldap_median=$(median < "$B/ldapsearch.times")
echo "  median $agent_median s = $(echo "scale=2; $agent_median / $ldap_median" | bc)x ldapsearch; agent peak RSS $(awk '{print $2}' "$B/agent.times" | sort -n | tail -1) KiB"

if [[ -n "${ADSYNC_BENCH_WINDOWS:-}" ]]; then
  # Wine's wldap32 with its TLS read fixed (tests/windows/wine/), as in the tests.
  export WINEPREFIX="$B/wine" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml=;wldap32=n"
  wineboot --init > /dev/null 2>&1; wineserver -w
  cp "$ROOT/build-windows/wine/wldap32.dll" "$WINEPREFIX/drive_c/windows/system32/"
  /usr/bin/time -f "%M" -o "$B/t" wine "$ROOT/build-windows/adsync-agent.exe" --version > /dev/null 2>&1
  echo "adsync-agent.exe under Wine: Wine's own footprint (--version) $(cat "$B/t") KiB"
  echo "adsync-agent.exe under Wine, full sync (fresh coordinator each run):"
  for r in 1 2 3; do
    run_coordinator
    # The same agent config, with the paths as Windows sees them (Z:) and the
    # DC's certificate checked by a handshake of its own (as in the tests).
    cat > "$B/agent-windows.textproto" <<CONF
coordinator: "127.0.0.1:27443"
org_id: "$ORG"
sync_key_file: "Z:$B/sync.key"
domain: "BENCH"
poll_interval_seconds: 1
ldap { uri: "ldaps://$IP" ca_file: "Z:$DC/tls/ca.pem" bind_dn: "$ADMIN_DN" password_file: "Z:$B/ldap.pw" separate_certificate_check: true }
CONF
    /usr/bin/time -f "%e %M" -o "$B/t" wine "$ROOT/build-windows/adsync-agent.exe" \
      --config "Z:$B/agent-windows.textproto" --once > "$B/agent-windows.log" 2>&1 ||
      { cat "$B/agent-windows.log" >&2; exit 1; }
    cat "$B/t"
    kill "$COORD"; wait "$COORD" 2>/dev/null || true
  done | tee "$B/agent-windows.times"
  echo "  median $(awk '{print $1}' "$B/agent-windows.times" | median) s; peak RSS $(awk '{print $2}' "$B/agent-windows.times" | sort -n | tail -1) KiB"
  wineserver -k || true
fi

echo "change latency (modify mail on the DC -> new mapping in panel-sim), 50 changes:"
run_coordinator
people='{"people":['
for i in $(seq 0 49); do people+="{\"id\":\"p$i\",\"emails\":[\"moved$i@staff.bench.test\"]},"; done
people="${people%,}]}"
curl -s -X POST "http://127.0.0.1:28480/sim/orgs/$ORG/people" -d "$people" > /dev/null
$CTL people pull --org "$ORG" > /dev/null
"$ROOT/build/agent/adsync-agent" --config "$B/agent.textproto" > "$B/agent-follow.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 600); do grep -q "following changes" "$B/agent-follow.log" && break; sleep 0.2; done
grep -q "following changes" "$B/agent-follow.log" || { echo "agent did not start following changes" >&2; exit 1; }
for i in $(seq 0 49); do
  start=$(date +%s.%N)
  printf 'dn: CN=u%s,OU=School0,DC=bench,DC=test\nchangetype: modify\nreplace: mail\nmail: moved%s@staff.bench.test\n' "$i" "$i" |
    $S ldap "$DC" ldapmodify > /dev/null
  while true; do
    state=$(curl -s "http://127.0.0.1:28480/sim/orgs/$ORG/state")
    grep -q "\"p$i\",\"version\":[0-9]*,\"identities\":\[{" <<< "$state" && break
    sleep 0.02
  done
  echo "$(date +%s.%N) - $start" | bc
done > "$B/latency"
sort -n "$B/latency" | awk '{a[NR]=$1} END {printf "  p50 %.2f s, p99 %.2f s, max %.2f s over %d changes\n", a[int(NR*0.5+0.5)], a[int(NR*0.99+0.5)], a[NR], NR}'
