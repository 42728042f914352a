#!/usr/bin/env bash
# Checks every systemd unit in systemd/: `systemd-analyze verify` is clean, `systemd-analyze
# security --offline=yes` rates it 2.0 or better, and its example configuration passes
# `wavelb <cmd> --check-config`. Usage: scripts/check-units.sh PATH/TO/wavelb
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$(realpath "$1")"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# verify also runs `man` for each Documentation=man: page: give it the binary's own pages.
"$bin" manpages "$tmp/man/man1" >/dev/null
export MANPATH="$tmp/man:"
status=0
for unit in systemd/*.service; do
  name="$(basename "$unit")"
  cmd="${name#wavelb-}"; cmd="${cmd%.service}"
  # verify needs the ExecStart binary to exist: point it at the one just built.
  sed "s#/usr/bin/wavelb#$bin#" "$unit" > "$tmp/$name"
  if ! out="$(systemd-analyze verify "$tmp/$name" 2>&1)" || [ -n "$out" ]; then
    echo "FAIL $name: systemd-analyze verify: $out"; status=1
  fi
  level="$(systemd-analyze security --offline=yes "$tmp/$name" 2>&1 | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')"
  if [ -z "$level" ] || ! awk -v l="$level" 'BEGIN { exit !(l <= 2.0) }'; then
    echo "FAIL $name: exposure level ${level:-unknown}, want 2.0 or better"; status=1
  else
    echo "ok   $name: exposure level $level"
  fi
  example="systemd/$cmd.toml.example"
  if [ ! -f "$example" ]; then
    echo "FAIL $name: no example configuration $example"; status=1
  elif ! "$bin" --config "$example" "$cmd" --check-config >/dev/null; then
    echo "FAIL $example does not pass --check-config"; status=1
  fi
done
exit $status
