#!/usr/bin/env bash
# Installs (idempotently) the Debian packages the test-suite uses: real DNS clients (dig, kdig).
set -euo pipefail
missing=()
command -v dig >/dev/null 2>&1 || missing+=(dnsutils)
command -v kdig >/dev/null 2>&1 || missing+=(knot-dnsutils)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing packages: ${missing[*]}; install them (apt-get install ${missing[*]}) or run as root" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
