#!/usr/bin/env bash
# Two hosts on one machine (README "Two hosts"): host A is the root namespace, host B the namespace
# mt2h-host-b; an underlay veth joins them (10.250.0.1 ↔ 10.250.0.2, VXLAN on UDP 6677); each host has a
# VM namespace behind a veth bound to its port:
#   mt2h-vm-a  10.0.1.2/24 gw 10.0.1.1  on host A, bridge net-a
#   mt2h-vm-b  10.0.2.2/24 gw 10.0.2.1  on host B, bridge net-b
# `up.sh` builds it and starts host B's daemon in its namespace (log in /tmp/midotrace-2h/b.log); start
# host A's yourself: midotrace daemon --config examples/two-hosts/host-a.yaml
# `up.sh down` stops host B's daemon and removes everything. Needs root, from the repository root.
set -euo pipefail
MIDOTRACE=${MIDOTRACE:-"node $(pwd)/dist/cli/main.js"}

down() {
  if [[ -f /tmp/midotrace-2h/b.pid ]]; then kill "$(cat /tmp/midotrace-2h/b.pid)" 2>/dev/null || true; rm -f /tmp/midotrace-2h/b.pid; fi
  for ns in mt2h-host-b mt2h-vm-a mt2h-vm-b; do ip netns del "$ns" 2>/dev/null || true; done
  ip link del mt2h-ula 2>/dev/null || true
  ip link del mt2h-vma 2>/dev/null || true
}

if [[ "${1:-}" == "down" ]]; then down; exit 0; fi
down
mkdir -p /tmp/midotrace-2h
for ns in mt2h-host-b mt2h-vm-a mt2h-vm-b; do ip netns add "$ns"; done
ip -n mt2h-host-b link set lo up

# The underlay.
ip link add mt2h-ula type veth peer name mt2h-ulb netns mt2h-host-b
ip addr add 10.250.0.1/30 dev mt2h-ula && ip link set mt2h-ula up
ip -n mt2h-host-b addr add 10.250.0.2/30 dev mt2h-ulb && ip -n mt2h-host-b link set mt2h-ulb up

# vm-a behind host A (root namespace); vm-b behind host B.
vm() { # vm NS HOSTSIDE_NS IFNAME MAC CIDR GW
  local ns=$1 hostns=$2 ifname=$3 mac=$4 cidr=$5 gw=$6
  if [[ -z "$hostns" ]]; then ip link add "$ifname" type veth peer name eth0 netns "$ns"; ip link set "$ifname" up
  else ip -n "$hostns" link add "$ifname" type veth peer name eth0 netns "$ns"; ip -n "$hostns" link set "$ifname" up; fi
  ip -n "$ns" link set lo up
  ip -n "$ns" link set eth0 address "$mac"
  ip -n "$ns" addr add "$cidr" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" route add default via "$gw"
}
vm mt2h-vm-a "" mt2h-vma 02:6d:74:00:0a:02 10.0.1.2/24 10.0.1.1
vm mt2h-vm-b mt2h-host-b mt2h-vmb 02:6d:74:00:0b:02 10.0.2.2/24 10.0.2.1

ip netns exec mt2h-host-b $MIDOTRACE daemon --config examples/two-hosts/host-b.yaml >/tmp/midotrace-2h/b.log 2>&1 &
echo $! >/tmp/midotrace-2h/b.pid
echo "host B's daemon started in mt2h-host-b. Next, on host A:"
echo "  $MIDOTRACE daemon --config examples/two-hosts/host-a.yaml &"
echo "  $MIDOTRACE add trace-condition name cross proto icmp src 10.0.1.2"
echo "  ip netns exec mt2h-vm-a ping -c 3 10.0.2.2"
echo "  $MIDOTRACE show trace \$($MIDOTRACE list trace --condition cross -o jsonl | head -1 | sed 's/.*\"id\":\"\\([^\"]*\\)\".*/\\1/')"
