#!/usr/bin/env bash
# Installs the Debian packages the test suite needs (ZooKeeper for the production-backend tests,
# chromium for the control panel's browser tests, iproute2/ethtool/ping/curl/python3/tcpdump for the
# live-datapath tests in network namespaces, tshark to decode exported pcaps and the VXLAN underlay).
# Idempotent and non-interactive: does nothing when every package is present; otherwise runs
# `apt-get update` once and installs what is missing. Needs root for that. Fails loudly.
#
# To add a package, append "package|file-it-installs" to DEPS (the file proves it is installed, e.g.
# "chromium|/usr/bin/chromium", "systemd|/usr/bin/systemd-analyze").
set -euo pipefail

DEPS=(
  "zookeeper|/usr/share/java/zookeeper.jar"
  "libslf4j-java|/usr/share/java/slf4j-simple.jar"
  "chromium|/usr/bin/chromium"
  "systemd|/usr/bin/systemd-analyze"
  "iproute2|/usr/sbin/ip"
  "ethtool|/usr/sbin/ethtool"
  "iputils-ping|/usr/bin/ping"
  "curl|/usr/bin/curl"
  "python3|/usr/bin/python3"
  "tcpdump|/usr/bin/tcpdump"
  "tshark|/usr/bin/tshark"
)

say() { echo "ensure-deps: $*"; }

missing=()
for dep in "${DEPS[@]}"; do
  pkg=${dep%%|*}
  file=${dep#*|}
  if [ -e "$file" ]; then
    say "$pkg present ($file)"
  else
    say "$pkg missing ($file not found)"
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  say "nothing to install"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  say "ERROR: must run as root to install: ${missing[*]}" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
say "apt-get update"
if ! apt-get update -q </dev/null; then
  say "ERROR: apt-get update failed" >&2
  exit 1
fi
say "apt-get install -y ${missing[*]}"
if ! apt-get install -y -q "${missing[@]}" </dev/null; then
  say "ERROR: apt-get install failed for: ${missing[*]}" >&2
  exit 1
fi

status=0
for dep in "${DEPS[@]}"; do
  pkg=${dep%%|*}
  file=${dep#*|}
  if [ ! -e "$file" ]; then
    say "ERROR: $pkg installed but $file is still missing" >&2
    status=1
  fi
done
[ $status -eq 0 ] && say "done"
exit $status
