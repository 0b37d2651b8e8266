#!/usr/bin/env bash
# Builds the live example (README "Live traffic"): three namespaces, each with a veth whose other end
# stays in the root namespace for the daemon to bind. `examples/live/up.sh down` removes everything.
#   mtlive-vm1  10.0.1.2/24 gw 10.0.1.1   on bridge tenant-a
#   mtlive-vm2  10.0.2.2/24 gw 10.0.2.1   on bridge tenant-b
#   mtlive-up   192.168.100.2/24          the "uplink"; tenants reach it SNATed to 192.168.100.1
# Needs root. Then run the daemon: midotrace daemon --config examples/live/midotrace.yaml
set -euo pipefail
GUESTS="vm1:10.0.1.2/24:10.0.1.1 vm2:10.0.2.2/24:10.0.2.1 up:192.168.100.2/24:"

down() {
  for g in $GUESTS; do
    name=${g%%:*}
    ip netns del "mtlive-$name" 2>/dev/null || true
    ip link del "mtlive-$name" 2>/dev/null || true
  done
}

if [[ "${1:-}" == "down" ]]; then down; exit 0; fi
down
mkdir -p /tmp/midotrace-live
for g in $GUESTS; do
  IFS=: read -r name cidr gw <<<"$g"
  ns="mtlive-$name"
  ip netns add "$ns"
  ip link add "mtlive-$name" type veth peer name eth0 netns "$ns"
  sysctl -qw "net.ipv6.conf.mtlive-$name.disable_ipv6=1"
  ip link set "mtlive-$name" up
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "$cidr" dev eth0
  ip -n "$ns" link set eth0 up
  if [[ -n "$gw" ]]; then ip -n "$ns" route add default via "$gw"; fi
done
echo "namespaces mtlive-vm1, mtlive-vm2, mtlive-up ready. Next:"
echo "  midotrace daemon --config examples/live/midotrace.yaml"
