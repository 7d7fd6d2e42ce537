#!/usr/bin/env bash
# Failover time against real replicating Samba DCs: the primary agent of
# DISTRICT is lost, a change is made right after on the standby's DC, and
# the time until panel-sim has it is measured. Runs one failover end-to-end
# test N times (default 5), printing each run and the median, min and max.
#   bench/failover.sh [--mode=kill|stop|unreachable] [--lease=default|short] [N]
# Modes (tests/e2e/failover_e2e_test.cc):
#   kill         kill -9 of the primary agent: its connection closes and
#                the coordinator releases the lease at once
#   stop         SIGSTOP of the primary agent: its stream stays open and
#                silent until the lease TTL lapses
#   unreachable  the primary's DC drops its packets (no RST/FIN), in a
#                network namespace (scripts/netns_agent.sh; needs root)
# --lease=default (the default) runs the coordinator with its default
# heartbeat_interval_ms 2000 and lease_ttl_ms 6000; --lease=short with the
# tests' 500 and 2000 (stop and unreachable only: the kill test always runs
# with the defaults, as a killed agent's lease is released at once).
# The DCs use fixed loopback addresses: hold the shared lock, e.g.
#   flock /tmp/adsync-heavy.lock bench/failover.sh --mode=stop 5
set -euo pipefail
cd "$(dirname "$0")/.."
mode=kill lease=default n=5
for arg in "$@"; do
  case $arg in
    --mode=*) mode=${arg#--mode=} ;;
    --lease=*) lease=${arg#--lease=} ;;
    *) n=$arg ;;
  esac
done
case $mode in
  kill) test=KillingThePrimaryAgentThenItsDcLosesNothingAndNeverRegresses ;;
  stop) test=AStoppedPrimaryIsReplacedAndFencedWhenContinued ;;
  unreachable) test=APrimaryWhoseDcStopsAnsweringGivesTheLeaseUp ;;
  *) echo "bench/failover.sh: --mode is kill, stop or unreachable" >&2; exit 2 ;;
esac
case $lease in
  default) export ADSYNC_FAILOVER_DEFAULT_LEASE=1 ;;
  short) unset ADSYNC_FAILOVER_DEFAULT_LEASE ;;
  *) echo "bench/failover.sh: --lease is default or short" >&2; exit 2 ;;
esac
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
ninja -C build failover_e2e_test > /dev/null
forest=$PWD/build/e2e/forest
export SAMBA_NS=$forest
S=scripts/samba_dc.sh
$S ns-start "$forest"
$S provision "$forest/a1" DISTRICT.TEST DISTRICT 127.0.0.21 dca1 && $S start "$forest/a1"
$S join "$forest/a2" DISTRICT.TEST DISTRICT 127.0.0.22 dca2 "$forest/a1" && $S start "$forest/a2"
$S provision "$forest/b1" STAFF.TEST STAFF 127.0.0.31 dcb1 && $S start "$forest/b1"
trap '$S ns-stop "$forest"' EXIT
echo "mode $mode, lease $lease"
times=()
for i in $(seq 1 "$n"); do
  out=$(build/tests/e2e/failover_e2e_test --gtest_filter="*.$test" 2>&1) || true
  t=$(sed -n 's/.*panel-sim: \([0-9.]*\) s.*/\1/p' <<< "$out")
  [[ -n "$t" ]] || { echo "$out" | tail -40 >&2; echo "run $i failed" >&2; exit 1; }
  grep -q '^\[  PASSED  \] 1 test' <<< "$out" || { echo "$out" | tail -40 >&2; echo "run $i: ${t} s, but the test failed" >&2; exit 1; }
  echo "run $i: ${t} s"
  times+=("$t")
done
printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "median %.2f s, min %.2f s, max %.2f s over %d runs\n", a[int((NR+1)/2)], a[1], a[NR], NR}'
