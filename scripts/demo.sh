#!/usr/bin/env bash
# The adsync demo, start to finish on a fresh Debian 12 machine (as root):
# real Samba AD DCs (two replicating DCs of DISTRICT plus one of STAFF),
# panel-sim with sample People, the coordinator, one agent per DC, then the
# status table, a few resolved logins, a live change and a failover.
# Everything it starts is stopped on exit (Ctrl-C included).
#   scripts/demo.sh              # run the demo (the coordinator on SQLite)
#   scripts/demo.sh --postgres   # two coordinators on one PostgreSQL
#                                # database; at the end one is killed
#   KEEP=1 scripts/demo.sh       # leave everything running at the end
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
POSTGRES=0
case "${1:-}" in
  "") ;;
  --postgres) POSTGRES=1 ;;
  *) echo "usage: scripts/demo.sh [--postgres]" >&2; exit 2 ;;
esac
scripts/install_deps.sh
scripts/build.sh build > /dev/null

DEMO=$ROOT/build/demo
SAMBA=$ROOT/scripts/samba_dc.sh
CTL="$ROOT/build/ctl/adsyncctl --admin 127.0.0.1:17444 --token-file $DEMO/admin.token"
CTL2="$ROOT/build/ctl/adsyncctl --admin 127.0.0.1:17454 --token-file $DEMO/admin.token"
PG=$ROOT/scripts/postgres.sh
export SAMBA_NS=$DEMO/forest
PIDS=()

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
cleanup() {
  [[ "${KEEP:-0}" == 1 ]] && { echo "KEEP=1: leaving everything running (see $DEMO)"; return; }
  say "cleaning up"
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [[ "$POSTGRES" == 1 ]] && { "$PG" stop "$DEMO/pg" || true; }
  "$SAMBA" ns-stop "$SAMBA_NS" || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$DEMO"
rm -f "$DEMO"/coordinator.db* "$DEMO"/panel.db* "$DEMO"/*.log

say "starting three Samba AD DCs (DISTRICT: dc1 + replica dc2; STAFF: dc3)"
"$SAMBA" ns-start "$SAMBA_NS"
"$SAMBA" provision "$SAMBA_NS/dc1" DISTRICT.DEMO DISTRICT 127.0.0.61 dc1
"$SAMBA" start "$SAMBA_NS/dc1"
"$SAMBA" join "$SAMBA_NS/dc2" DISTRICT.DEMO DISTRICT 127.0.0.62 dc2 "$SAMBA_NS/dc1"
"$SAMBA" start "$SAMBA_NS/dc2"
"$SAMBA" provision "$SAMBA_NS/dc3" STAFF.DEMO STAFF 127.0.0.71 dc3
"$SAMBA" start "$SAMBA_NS/dc3"

say "filling the directory: schools as OUs, staff and students"
PW=$(python3 -c 'import base64; print(base64.b64encode("\"Demo-pass1\"".encode("utf-16-le")).decode())')
ldif_user() {  # dn sam mail uac
  printf 'dn: %s\nobjectClass: user\nsAMAccountName: %s\n' "$1" "$2"
  [[ -n "$3" ]] && printf 'mail: %s\n' "$3"
  printf 'userPrincipalName: %s@district.demo\nunicodePwd:: %s\nuserAccountControl: %s\n\n' "$2" "$PW" "$4"
}
people_json="["
add_person() { people_json+="{\"id\":\"$1\",\"name\":\"$2\",\"emails\":[$3]},"; }
{
  printf 'dn: OU=Schools,DC=district,DC=demo\nobjectClass: organizationalUnit\n\n'
  for school in Lincoln Washington Jefferson; do
    printf 'dn: OU=%s,OU=Schools,DC=district,DC=demo\nobjectClass: organizationalUnit\n\n' "$school"
    for kind in Staff Students; do
      printf 'dn: OU=%s,OU=%s,OU=Schools,DC=district,DC=demo\nobjectClass: organizationalUnit\n\n' "$kind" "$school"
    done
    s=${school,,}
    for i in $(seq 1 4); do
      ldif_user "CN=${s}.teacher$i,OU=Staff,OU=$school,OU=Schools,DC=district,DC=demo" \
        "${s:0:4}t$i" "${s}.teacher$i@springfield.k12.demo" 512
    done
    for i in $(seq 1 12); do
      mail="${s}.student$i@students.springfield.k12.demo"
      uac=512
      [[ $i == 12 ]] && mail=""            # an account without email
      [[ $school == Lincoln && $i == 11 ]] && uac=514   # a disabled account
      ldif_user "CN=${s}.student$i,OU=Students,OU=$school,OU=Schools,DC=district,DC=demo" \
        "${s:0:4}s$i" "$mail" "$uac"
    done
  done
  # Two accounts for the front office, sharing one mailbox.
  ldif_user "CN=frontdesk1,OU=Staff,OU=Lincoln,OU=Schools,DC=district,DC=demo" frontdesk1 office@springfield.k12.demo 512
} > "$DEMO/district.ldif"
"$SAMBA" ldap "$SAMBA_NS/dc1" ldapadd -c < "$DEMO/district.ldif" > /dev/null 2>&1 || true
{
  printf 'dn: OU=DistrictOffice,DC=staff,DC=demo\nobjectClass: organizationalUnit\n\n'
  for i in 1 2 3; do  # Lincoln teachers who also have district-office accounts
    printf 'dn: CN=lincoln.teacher%s,OU=DistrictOffice,DC=staff,DC=demo\nobjectClass: user\nsAMAccountName: lt%s\nmail: lincoln.teacher%s@springfield.k12.demo\nunicodePwd:: %s\nuserAccountControl: 512\n\n' "$i" "$i" "$i" "$PW"
  done
} > "$DEMO/staff.ldif"
"$SAMBA" ldap "$SAMBA_NS/dc3" ldapadd -c < "$DEMO/staff.ldif" > /dev/null 2>&1 || true
"$SAMBA" replicate "$SAMBA_NS/dc2" "$SAMBA_NS/dc1"

for school in lincoln washington jefferson; do
  for i in $(seq 1 4); do add_person "t-$school-$i" "${school^} Teacher $i" "\"$school.teacher$i@springfield.k12.demo\""; done
  for i in $(seq 1 11); do add_person "s-$school-$i" "${school^} Student $i" "\"$school.student$i@students.springfield.k12.demo\""; done
done
# The shared mailbox belongs to two People: adsync must not guess.
add_person "t-office-a" "Office Manager" "\"office@springfield.k12.demo\""
add_person "t-office-b" "Office Assistant" "\"office@springfield.k12.demo\""
people_json="${people_json%,}]"

say "starting panel-sim (K12Panel stand-in) and the coordinator"
umask 077
printf 'demo-panel-token' > "$DEMO/panel.token"
printf 'demo-admin-token' > "$DEMO/admin.token"
printf 'demo-status-token' > "$DEMO/status.token"
umask 022
# The gateway speaks TLS with the demo's own CA; every agent verifies it.
"$ROOT/scripts/make_certs.sh" "$DEMO/tls" 127.0.0.1 127.0.0.81 127.0.0.82 127.0.0.83 > /dev/null
"$ROOT/build/panel/panel-sim" --listen=127.0.0.1:18480 --db="$DEMO/panel.db" \
  --token_file="$DEMO/panel.token" > "$DEMO/panel-sim.log" 2>&1 &
PIDS+=($!)
if [[ "$POSTGRES" == 1 ]]; then
  # A PostgreSQL server of the demo's own (as the user adsync-pg, unix
  # socket only), a fresh database each run.
  "$PG" stop "$DEMO/pg" > /dev/null 2>&1 || true
  rm -rf "$DEMO/pg"
  "$PG" init "$DEMO/pg" 5432 > /dev/null
  "$PG" start "$DEMO/pg" > /dev/null
  STORE="postgres: \"$("$PG" conninfo "$DEMO/pg")\""
else
  STORE="database_path: \"$DEMO/coordinator.db\""
fi
cat > "$DEMO/coordinator.textproto" <<CONF
agent_listen: "0.0.0.0:17443"
agent_tls {
  cert_file: "$DEMO/tls/server.pem"
  key_file: "$DEMO/tls/server.key"
}
admin_listen: "127.0.0.1:17444"
$STORE
admin_token_file: "$DEMO/admin.token"
metrics_listen: "127.0.0.1:19464"
status_token_file: "$DEMO/status.token"
heartbeat_interval_ms: 1000
lease_ttl_ms: 3000
panel {
  base_url: "http://127.0.0.1:18480"
  token_file: "$DEMO/panel.token"
  push_interval_ms: 200
  report_interval_seconds: 60
}
CONF
"$ROOT/build/coordinator/adsync-coordinator" --config "$DEMO/coordinator.textproto" \
  > "$DEMO/coordinator.log" 2>&1 &
PIDS+=($!)
echo "$!" > "$DEMO/coordinator.pid"
AGENT_PORTS=17443
if [[ "$POSTGRES" == 1 ]]; then
  # The second coordinator: same database, its own ports.
  sed -e 's/:17443"/:17453"/; s/:17444"/:17454"/; s/:19464"/:19474"/' \
    "$DEMO/coordinator.textproto" > "$DEMO/coordinator2.textproto"
  "$ROOT/build/coordinator/adsync-coordinator" --config "$DEMO/coordinator2.textproto" \
    > "$DEMO/coordinator2.log" 2>&1 &
  PIDS+=($!)
  AGENT_PORTS="17443 17453"
  echo "two coordinators on PostgreSQL: agents 17443 and 17453, admin 17444 and 17454"
fi
for _ in $(seq 1 100); do $CTL org list > /dev/null 2>&1 && break; sleep 0.1; done

ORG=5e1c3d4a-6f1b-4d7e-9a0c-1f2e3d4c5b6a
echo "status page: http://127.0.0.1:19464/status (sign in with the token in $DEMO/status.token)"
$CTL org create --name "Springfield Public Schools" --id "$ORG" --match-proxy-addresses
curl -s -X POST "http://127.0.0.1:18480/sim/orgs/$ORG/people" -d "{\"people\":$people_json}" > /dev/null
$CTL people pull --org "$ORG"
# What the hourly PowerShell script left in K12Panel: a teacher's old login
# (an account since renamed) and a student who has left.
old_identity() {  # person sam guid
  printf '{"person_id":"%s","version":3,"identities":[{"domain":"DISTRICT","sam_account_name":"%s","object_guid":"%s","enabled":true}]}' "$1" "$2" "$3"
}
curl -s -X POST "http://127.0.0.1:18480/api/v1/orgs/$ORG/ad-identities:batchUpdate" \
  -H "Authorization: Bearer $(cat "$DEMO/panel.token")" -H "Idempotency-Key: old-script-run-1" \
  -d "{\"updates\":[$(old_identity t-lincoln-1 lteacher1.old 0f0e0d0c-0b0a-0908-0706-050403020100),$(old_identity s-jefferson-11 jstudent11.left 1f0e0d0c-0b0a-0908-0706-050403020100)]}" > /dev/null

say "registering one AD Sync per DC (each agent connects from its own address)"
start_agent() {  # name dc-dir domain ip priority
  local name=$1 dc=$2 domain=$3 ip=$4 priority=$5
  ip route replace local "$ip/32" dev lo src "$ip" table local
  $CTL sync add --org "$ORG" --domain "$domain" --ip "$ip" --priority "$priority" > "$DEMO/$name.sync"
  awk '/AD Sync key/ {print $4}' "$DEMO/$name.sync" > "$DEMO/$name.key"
  chmod 600 "$DEMO/$name.key"
  # shellcheck disable=SC1091
  local dcip; dcip=$(. "$dc/env"; echo "$IP")
  # Every coordinator, separated by commas: the agent uses the first that
  # answers and moves to the next when it fails.
  local coordinators="" port
  for port in $AGENT_PORTS; do coordinators+="${coordinators:+,}$ip:$port"; done
  cat > "$DEMO/$name.textproto" <<CONF
coordinator: "$coordinators"
coordinator_ca_file: "$DEMO/tls/ca.pem"
org_id: "$ORG"
sync_key_file: "$DEMO/$name.key"
domain: "$domain"
poll_interval_seconds: 2
ldap {
  uri: "ldaps://$dcip"
  ca_file: "$dc/tls/ca.pem"
  bind_dn: "$(. "$dc/env"; echo "$ADMIN_DN")"
  password_file: "$dc/admin.password"
}
CONF
  "$ROOT/build/agent/adsync-agent" --config "$DEMO/$name.textproto" > "$DEMO/$name.log" 2>&1 &
  PIDS+=($!)
  echo "$!" > "$DEMO/$name.pid"
  echo "agent $name -> $dcip ($domain), connecting from $ip"
}
start_agent agent-dc1 "$SAMBA_NS/dc1" DISTRICT 127.0.0.81 10
sleep 1
start_agent agent-dc2 "$SAMBA_NS/dc2" DISTRICT 127.0.0.82 5
start_agent agent-dc3 "$SAMBA_NS/dc3" STAFF 127.0.0.83 0

say "preview: the org is new, so the agents sync and nothing is written to K12Panel"
for _ in $(seq 1 120); do
  # Every domain's first full sync done: going live needs all accounts read.
  synced=$($CTL status --org "$ORG" --json | python3 -c '
import json, sys
o = json.load(sys.stdin)["orgs"][0]
done = {}
for s in o.get("syncs", []):
    d = s["sync"]["domain"]
    done[d] = done.get(d, False) or (int(s.get("last_full_sync_unix", 0)) > 0 and not s.get("full_sync_in_progress", False))
print(int(o["counts"]["profiles"]) >= 50 and len(done) == 2 and all(done.values()))')
  [[ "$synced" == True ]] && break
  sleep 0.5
done
echo "\$ adsyncctl preview --org $ORG"
preview=$($CTL preview --org "$ORG")
head -n 14 <<<"$preview"  # (not a pipe: head would cut adsyncctl off, and pipefail stop the demo)
echo "... ($($CTL preview --org "$ORG" --csv | wc -l) CSV lines with: adsyncctl preview --org ORG --csv)"
echo "K12Panel still holds only what the old script wrote: $(curl -s "http://127.0.0.1:18480/sim/orgs/$ORG/state" | python3 -c 'import json,sys; print(len(json.load(sys.stdin).get("people",[])))') People"

say "going live: adsyncctl org go-live"
$CTL org go-live --org "$ORG"
for _ in $(seq 1 120); do
  depth=$($CTL status --org "$ORG" --json | python3 -c 'import json,sys; o=json.load(sys.stdin)["orgs"][0]; print(int(o["push"]["queue_depth"]) == 0 and int(o["push"]["delivered"]) > 0)')
  [[ "$depth" == True ]] && break
  sleep 0.5
done
$CTL status --org "$ORG"
echo "the preview now shows nothing left to change:"
$CTL preview --org "$ORG" | sed -n 4,5p

say "resolving logins the way a school computer reports them"
for login in 'DISTRICT\lincs3' 'lincs3@district.demo' 'STAFF\lt1' 'DISTRICT\frontdesk1' 'DISTRICT\jeffs12' 'DISTRICT\lincs11'; do
  echo "\$ adsyncctl resolve --org ... '$login'"
  $CTL resolve --org "$ORG" "$login" || true
  echo
done
echo "K12Panel now holds for t-lincoln-1 (one Person, two domains):"
curl -s "http://127.0.0.1:18480/sim/orgs/$ORG/state" | python3 -c '
import json,sys
for p in json.load(sys.stdin).get("people", []):
    if p["person_id"] == "t-lincoln-1":
        for i in p["identities"]: print("  ", i["domain"] + "\\" + i["sam_account_name"], i["sid"])'

say "a change on dc1: Washington student 5 gets a new email address"
add_person_new="{\"id\":\"s-washington-5b\",\"name\":\"Washington Student 5 (new)\",\"emails\":[\"w.student5@students.springfield.k12.demo\"]}"
curl -s -X POST "http://127.0.0.1:18480/sim/orgs/$ORG/people" -d "{\"people\":${people_json%]},$add_person_new]}" > /dev/null
$CTL people pull --org "$ORG" > /dev/null
start=$(date +%s.%N)
"$SAMBA" ldap "$SAMBA_NS/dc1" ldapmodify > /dev/null <<LDIF
dn: CN=washington.student5,OU=Students,OU=Washington,OU=Schools,DC=district,DC=demo
changetype: modify
replace: mail
mail: w.student5@students.springfield.k12.demo
LDIF
for _ in $(seq 1 100); do
  curl -s "http://127.0.0.1:18480/sim/orgs/$ORG/state" | grep -q '"s-washington-5b".*wash' && break
  curl -s "http://127.0.0.1:18480/sim/orgs/$ORG/state" | python3 -c '
import json,sys
ok=any(p["person_id"]=="s-washington-5b" and p["identities"] for p in json.load(sys.stdin).get("people",[]))
sys.exit(0 if ok else 1)' && break
  sleep 0.1
done
printf 'the new mapping reached K12Panel %.1f s after the change on the DC\n' "$(echo "$(date +%s.%N) - $start" | bc)"
$CTL resolve --org "$ORG" 'DISTRICT\washs5' || true

# Sets jefferson.student2's userAccountControl on a DC (512 enabled, 514
# disabled) and waits until K12Panel shows the account that way.
set_jeffs2_uac() {  # dc-dir uac
  local enabled=False
  [[ "$2" == 512 ]] && enabled=True
  "$SAMBA" ldap "$1" ldapmodify > /dev/null <<LDIF
dn: CN=jefferson.student2,OU=Students,OU=Jefferson,OU=Schools,DC=district,DC=demo
changetype: modify
replace: userAccountControl
userAccountControl: $2
LDIF
  for _ in $(seq 1 150); do
    curl -s "http://127.0.0.1:18480/sim/orgs/$ORG/state" | python3 -c "
import json,sys
ok=any(i['sam_account_name']=='jeffs2' and bool(i.get('enabled', False)) == $enabled
       for p in json.load(sys.stdin).get('people',[]) for i in p['identities'])
sys.exit(0 if ok else 1)" && return
    sleep 0.1
  done
}

say "failover: the primary agent (dc1) stops; the standby on dc2 takes over"
kill "$(cat "$DEMO/agent-dc1.pid")"
start=$(date +%s.%N)
set_jeffs2_uac "$SAMBA_NS/dc2" 514
printf 'a change made on dc2 during the failover reached K12Panel %.1f s after the primary stopped\n' \
  "$(echo "$(date +%s.%N) - $start" | bc)"
$CTL status --org "$ORG"
if [[ "$POSTGRES" == 1 ]]; then
  say "a coordinator dies: kill -9 the first one; agents move to the second"
  kill -9 "$(cat "$DEMO/coordinator.pid")"
  start=$(date +%s.%N)
  set_jeffs2_uac "$SAMBA_NS/dc2" 512
  printf 'a change made right after the kill reached K12Panel %.1f s later, through the second coordinator\n' \
    "$(echo "$(date +%s.%N) - $start" | bc)"
  grep -h " connected " "$DEMO"/agent-dc*.log | grep ":17453" | tail -n 2
  echo "\$ adsyncctl --admin 127.0.0.1:17454 status   (the second coordinator answers for both)"
  $CTL2 status --org "$ORG"
fi
say "sync reports K12Panel received (one per AD Sync, after each full sync and every minute here)"
for _ in $(seq 1 40); do
  n=$(curl -s "http://127.0.0.1:18480/sim/orgs/$ORG/reports" | python3 -c 'import json,sys; print(len(json.load(sys.stdin).get("reports",[])))')
  (( n >= 3 )) && break
  sleep 0.5
done
curl -s "http://127.0.0.1:18480/sim/orgs/$ORG/reports" | python3 -c '
import json, sys
for r in json.load(sys.stdin).get("reports", [])[:6]:
    p = r["report"]
    print("%s  %-20s %s  profiles %s, matched %s, unmatched %s, ambiguous %s, errors %d, rejections %d" % (
        r["sync_id"][:8], p.get("controller", ""), p["finished_at"], p.get("profiles", 0), p.get("matched", 0),
        p.get("unmatched", 0), p.get("ambiguous", 0), len(p.get("errors", [])), len(p.get("rejections", []))))
'
echo "status page: http://127.0.0.1:19464/status (token: $DEMO/status.token); its org list, fetched with curl:"
page=$(curl -s -H "Authorization: Bearer $(cat "$DEMO/status.token")" http://127.0.0.1:19464/status)
python3 -c 'import re, sys; [print("  health:", m) for m in re.findall(r"badge [a-z]+\">([a-z]+)", sys.stdin.read())[:3]]' <<<"$page"

say "a few of the coordinator's Prometheus metrics"
METRICS_PORT=19464
[[ "$POSTGRES" == 1 ]] && METRICS_PORT=19474  # the first coordinator is gone
curl -s "http://127.0.0.1:$METRICS_PORT/metrics" | grep -E "^adsync_(deltas_total|failovers_total|push_people_total|accounts)" | head -8
say "demo complete (logs in $DEMO)"
