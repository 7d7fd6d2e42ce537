#!/usr/bin/env bash
# Full sync against a real Samba DC (issue 7).
#   bench/fullsync.sh [USERS]     (default 20000; the directory is built once and cached)
# Prints: ldapsearch paging the same attributes vs. agent+coordinator full
# sync wall time (median of 3) and the agent's peak RSS. Change latency is
# bench/change_latency.sh's.
# With ADSYNC_BENCH_WINDOWS=1 it also runs adsync-agent.exe (scripts/build_windows.sh)
# under Wine for the same full sync and prints its peak RSS, and Wine's own
# footprint (the exe printing its version) for comparison.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
users=${1:-20000}
scripts/build.sh build > /dev/null
. bench/bench_dc.sh

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "ldapsearch, paged (1000), same attributes:"
for r in 1 2 3; do
  /usr/bin/time -f "%e" -o "$B/t" $S ldap "$DC" ldapsearch -LLL -E pr=1000/noprompt \
    -b "$BASE_DN" "(&(objectCategory=person)(objectClass=user))" $ATTRS > "$B/ldif.out"
  cat "$B/t"
done | tee "$B/ldapsearch.times"
entries=$(grep -c '^dn: ' "$B/ldif.out")
echo "  entries: $entries, median $(median < "$B/ldapsearch.times") s"

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
