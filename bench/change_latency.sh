#!/usr/bin/env bash
# Change latency beside the DC's own notification time (issue 18).
#   bench/change_latency.sh [CHANGES] [PUSH_INTERVAL_MS] [SEARCH_SECONDS]
#     (defaults 100 changes, and the product's 500 ms push scan interval
#     and 60 s backstop: the agent's search for every change since the
#     watermark keeps a single-process Samba busy for about half a second,
#     and a change made meanwhile waits for it)
# Against the benchmark DC (bench_dc.sh: 20,000 users, built once and
# cached), an agent follows changes into a fresh coordinator that pushes to
# panel-sim; beside it a bare LDAP client (ldapsearch, no adsync code) holds
# the same change-notification search on the same DC. For each change (one
# account's mail modified with ldapmodify, a pause of 0.2-0.7 s between
# changes so they do not keep step with the DC's timers) it records when
# the bare client was notified (the floor: the DC's own delivery) and when
# panel-sim held the new mapping, and prints p50/p99/max of both and of the
# time adsync adds on top of the notification.
#   SAMBA_PROCESS_MODEL=single bench/change_latency.sh ...
# runs the DC as one process: Samba wakes a notification search at once only
# when the change was made through the same process; with its default
# prefork model a search on another worker waits for a 5 s timer, which
# then dominates both clients' numbers.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
changes=${1:-100}
push_interval=${2:-500}
agent_search_seconds=${3:-60}
[[ $changes =~ ^[0-9]+$ && $changes -ge 1 && $changes -le 1000 ]] ||
  { echo "CHANGES must be 1 to 1000 (the accounts of OU School0)" >&2; exit 2; }
[[ $push_interval =~ ^[0-9]+$ ]] || { echo "PUSH_INTERVAL_MS must be a number of milliseconds" >&2; exit 2; }
[[ $agent_search_seconds =~ ^[0-9]+$ && $agent_search_seconds -ge 1 && $agent_search_seconds -le 3600 ]] ||
  { echo "SEARCH_SECONDS must be a whole number of seconds, 1 to 3600" >&2; exit 2; }
users=20000
scripts/build.sh build > /dev/null
. bench/bench_dc.sh

run_coordinator "$push_interval"
run=$(date +%s)  # new mail values every run: the cached DC keeps the last run's
people='{"people":['
for i in $(seq 0 $((changes - 1))); do people+="{\"id\":\"p$i\",\"emails\":[\"r$run-u$i@staff.bench.test\"]},"; done
people="${people%,}]}"
curl -s -X POST "http://127.0.0.1:28480/sim/orgs/$ORG/people" -d "$people" > /dev/null
$CTL people pull --org "$ORG" > /dev/null
"$ROOT/build/agent/adsync-agent" --config "$B/agent.textproto" > "$B/agent-follow.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 600); do grep -q "following changes" "$B/agent-follow.log" && break; sleep 0.2; done
grep -q "following changes" "$B/agent-follow.log" || { echo "the agent did not start following changes; see $B/agent-follow.log" >&2; exit 1; }

# The bare client: the change-notification control (and Show Deleted, as
# the agent asks), subtree at the naming context, each entry time-stamped
# as it arrives.
cat > "$B/probe.sh" <<PROBE
#!/usr/bin/env bash
stdbuf -oL "$S" ldap "$DC" ldapsearch -LLL -o ldif-wrap=no \\
  -E '!1.2.840.113556.1.4.528' -E '!1.2.840.113556.1.4.417' \\
  -b "$BASE_DN" -s sub '(objectClass=*)' uSNChanged 2> "$B/probe.err" |
  python3 -u -c '
import sys, time
for line in sys.stdin:
    if line.startswith("dn: "):
        print("%.6f %s" % (time.time(), line[4:].strip()), flush=True)
'
PROBE
chmod +x "$B/probe.sh"
setsid "$B/probe.sh" > "$B/probe.times" &
PIDS+=($!)
sleep 1

python3 - "$ORG" "$changes" "$run" "$S" "$DC" "$B" <<'PY'
import json, random, subprocess, sys, time, urllib.request
org, n, run, samba, dc, b = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]

def panel_has(person):
    with urllib.request.urlopen(f"http://127.0.0.1:28480/sim/orgs/{org}/state") as r:
        state = json.load(r)
    for p in state.get("people", []):
        if p.get("person_id", p.get("personId")) == person and p.get("identities"):
            return True
    return False

def notified(dn, after):
    with open(f"{b}/probe.times") as f:
        for line in f:
            t, d = line.rstrip("\n").split(" ", 1)
            if d.lower() == dn.lower() and float(t) >= after:
                return float(t)
    return None

rows = []
for i in range(n):
    dn = f"CN=u{i},OU=School0,DC=bench,DC=test"
    ldif = f"dn: {dn}\nchangetype: modify\nreplace: mail\nmail: r{run}-u{i}@staff.bench.test\n"
    t0 = time.time()
    subprocess.run([samba, "ldap", dc, "ldapmodify"], input=ldif.encode(),
                   stdout=subprocess.DEVNULL, check=True)
    deadline = t0 + 30
    while not panel_has(f"p{i}"):
        if time.time() > deadline:
            sys.exit(f"change {i} did not reach panel-sim within 30 s; see {b}/agent-follow.log")
        time.sleep(0.005)
    t_panel = time.time()
    t_notify = None
    while t_notify is None and time.time() < deadline:
        t_notify = notified(dn, t0)
        if t_notify is None:
            time.sleep(0.005)
    if t_notify is None:
        sys.exit(f"the bare client was never notified of change {i}; see {b}/probe.err")
    rows.append((t_notify - t0, t_panel - t0, t_panel - t_notify))
    time.sleep(random.uniform(0.2, 0.7))

def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p * (len(v) - 1))))]

with open(f"{b}/latency.tsv", "w") as out:
    out.write("notified_s\tpanel_s\tadded_s\n")
    for r in rows:
        out.write("%.4f\t%.4f\t%.4f\n" % r)
for name, col in (("bare client notified (floor)", 0), ("mapping in panel-sim", 1),
                  ("added by adsync", 2)):
    vals = [r[col] for r in rows]
    print("  %-30s p50 %.3f s  p99 %.3f s  max %.3f s" %
          (name, pct(vals, 0.5), pct(vals, 0.99), max(vals)))
print(f"  {n} changes; every change's times in {b}/latency.tsv")
PY
