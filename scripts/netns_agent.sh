#!/usr/bin/env bash
# A network namespace for one agent, whose path to its DC can be cut so that
# the DC stops answering without refusing: packets are dropped by the
# kernel, no RST, no FIN, no ICMP reaches the agent. (The failover tests and
# bench/failover.sh --mode=unreachable; root only.)
#
# The DCs and the coordinator listen on 127.0.0.x in the root namespace.
# The namespace reaches them over two veth pairs, with route_localnet so
# that 127.0.0.x may cross them:
#   coordinator path  10.231.N.2 (ns) -- 10.231.N.1 (root): 127.0.0.0/8
#   DC path           10.232.N.2 (ns) -- 10.232.N.1 (root): DC_IP/32
# The agent dials its coordinator from 10.231.N.2 (register the AD Sync
# with that address) and its DC from 10.232.N.2. `cut` takes the root end
# of the DC pair down: the agent's packets to the DC vanish on the dead
# link and the DC's replies to it into a blackhole route, while the
# coordinator path carries on. (tc netem is not available on the test
# machines; a downed veth drops as silently.)
#
#   scripts/netns_agent.sh up NAME N DC_IP   # N in 1..250; prints 10.231.N.2
#   scripts/netns_agent.sh exec NAME CMD...  # runs CMD inside (execs it)
#   scripts/netns_agent.sh cut NAME          # the DC stops answering
#   scripts/netns_agent.sh restore NAME      # and answers again
#   scripts/netns_agent.sh down NAME         # removes it all (idempotent)
set -euo pipefail
cmd=${1:?command}
name=${2:?NAME}
[[ $name =~ ^[A-Za-z0-9-]{1,32}$ ]] || { echo "netns_agent.sh: NAME must be 1-32 letters, digits or dashes" >&2; exit 2; }
state=/run/adsync-netns-$name  # N, for the interface names

ifs() {  # the interface names of namespace N
  c0=adn$1c0 c1=adn$1c1 d0=adn$1d0 d1=adn$1d1
}

down() {
  if [[ -f $state ]]; then
    ifs "$(cat "$state")"
    ip link del "$c0" 2>/dev/null || true
    ip link del "$d0" 2>/dev/null || true
    ip route del blackhole "10.232.$(cat "$state").0/30" 2>/dev/null || true
    rm -f "$state"
  fi
  ip netns del "$name" 2>/dev/null || true
}

case $cmd in
  up)
    n=${3:?N} dc=${4:?DC_IP}
    down
    ifs "$n"
    ip netns add "$name"
    echo "$n" > "$state"
    ip link add "$c0" type veth peer name "$c1" netns "$name"
    ip link add "$d0" type veth peer name "$d1" netns "$name"
    ip addr add "10.231.$n.1/30" dev "$c0"
    ip addr add "10.232.$n.1/30" dev "$d0"
    sysctl -qw "net.ipv4.conf.$c0.route_localnet=1" \
      "net.ipv4.conf.$d0.route_localnet=1"
    ip link set "$c0" up
    ip link set "$d0" up
    # While the DC path is cut, the DC's replies must not leave by the
    # default route.
    ip route add blackhole "10.232.$n.0/30" metric 4000
    ip -n "$name" addr add "10.231.$n.2/30" dev "$c1"
    ip -n "$name" addr add "10.232.$n.2/30" dev "$d1"
    # lo stays down: 127.0.0.0/8 is not local in here but routed out.
    ip netns exec "$name" sysctl -qw net.ipv4.conf.all.route_localnet=1 \
      "net.ipv4.conf.$c1.route_localnet=1" "net.ipv4.conf.$d1.route_localnet=1"
    ip -n "$name" link set "$c1" up
    ip -n "$name" link set "$d1" up
    ip -n "$name" route add 127.0.0.0/8 via "10.231.$n.1" dev "$c1" \
      src "10.231.$n.2"
    ip -n "$name" route add "$dc/32" via "10.232.$n.1" dev "$d1" \
      src "10.232.$n.2"
    echo "10.231.$n.2"
    ;;
  exec)
    shift 2
    exec ip netns exec "$name" "$@"
    ;;
  cut | restore)
    ifs "$(cat "$state")"
    ip link set "$d0" "$([[ $cmd == cut ]] && echo down || echo up)"
    ;;
  down) down ;;
  *) echo "netns_agent.sh: unknown command $cmd" >&2; exit 2 ;;
esac
