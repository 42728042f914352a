#!/usr/bin/env bash
# Installs (idempotently) the Debian packages the test-suite uses: real DNS clients (dig, kdig),
# a real STUN server (coturn's turnserver), a real SRT listener (srt-tools' srt-live-transmit),
# systemd-analyze for the unit checks, tmux (a terminal for the lab console's test), Prometheus
# (`prometheus` and `promtool`) for the metrics, rules and scrape checks, and the tools that
# build, lint and install the Debian package (dpkg-dev, lintian, man-db).
set -euo pipefail
missing=()
command -v dig >/dev/null 2>&1 || missing+=(dnsutils)
command -v kdig >/dev/null 2>&1 || missing+=(knot-dnsutils)
command -v turnserver >/dev/null 2>&1 || missing+=(coturn)
command -v srt-live-transmit >/dev/null 2>&1 || missing+=(srt-tools)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
command -v lintian >/dev/null 2>&1 || missing+=(lintian)            # scripts/check-package.sh
command -v dpkg-shlibdeps >/dev/null 2>&1 || missing+=(dpkg-dev)    # scripts/package.sh
command -v man >/dev/null 2>&1 || missing+=(man-db)                 # man -w in check-package.sh
command -v tmux >/dev/null 2>&1 || missing+=(tmux)                   # the lab's terminal UI test
{ command -v prometheus && command -v promtool; } >/dev/null 2>&1 || missing+=(prometheus)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing packages: ${missing[*]}; install them (apt-get install ${missing[*]}) or run as root" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# The tests start their own servers in the foreground: keep package scripts from starting daemons
# (coturn and prometheus ship system services), and remove the policy again afterwards if we added
# it.
policy=/usr/sbin/policy-rc.d
added_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod +x "$policy"
  added_policy=1
fi
cleanup() { if [ "$added_policy" -eq 1 ]; then rm -f "$policy"; fi; }
trap cleanup EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
if command -v systemctl >/dev/null 2>&1; then
  # On a booted systemd the packages enable their services for the next boot: undo that for the
  # packages installed just now (never for a service the machine already had), one unit per call.
  for unit in coturn prometheus; do
    if [[ " ${missing[*]} " == *" $unit "* ]]; then systemctl disable --now "$unit" >/dev/null 2>&1 || true; fi
  done
fi
