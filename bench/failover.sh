#!/usr/bin/env bash
# Failover time: primary agent killed (kill -9) -> a change made right after
# on the standby's DC is delivered to panel-sim. Runs the failover
# end-to-end test N times (default 5) against real replicating Samba DCs
# and prints each measurement and the median.
#   bench/failover.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-5}
scripts/build.sh build > /dev/null
forest=$PWD/build/e2e/forest
export SAMBA_NS=$forest
S=scripts/samba_dc.sh
$S ns-start "$forest"
$S provision "$forest/a1" DISTRICT.TEST DISTRICT 127.0.0.21 dca1 && $S start "$forest/a1"
$S join "$forest/a2" DISTRICT.TEST DISTRICT 127.0.0.22 dca2 "$forest/a1" && $S start "$forest/a2"
$S provision "$forest/b1" STAFF.TEST STAFF 127.0.0.31 dcb1 && $S start "$forest/b1"
trap '$S ns-stop "$forest"' EXIT
times=()
for i in $(seq 1 "$n"); do
  out=$(build/tests/e2e/failover_e2e_test 2>&1) || true
  t=$(sed -n 's/.*panel-sim: \([0-9.]*\) s/\1/p' <<< "$out")
  [[ -n "$t" ]] || { echo "$out" | tail -40 >&2; echo "run $i failed" >&2; exit 1; }
  echo "run $i: ${t} s"
  times+=("$t")
done
printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "median %.2f s, min %.2f s, max %.2f s over %d runs\n", a[int((NR+1)/2)], a[1], a[NR], NR}'
