#!/usr/bin/env bash
# Builds the Debian package (scripts/package.sh) from a wavelb binary already built (default: the
# test build's, the binary the test-suite just tested), inspects it (dpkg-deb --contents,
# lintian), installs it with dpkg -i on this machine, checks that it works (wavelb --version from
# /usr/bin, man -w, the docs the man pages name, the completions, the `wavelb` user and /etc/wavelb, systemd-analyze verify on
# the installed units, the example configurations), that installing started and enabled nothing,
# then purges it and checks that nothing is left behind.
# Needs root (it installs a package). Usage: scripts/check-package.sh [--binary PATH]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/wavelb/target}"
binary="$CARGO_TARGET_DIR/debug/wavelb"
case "$#:${1:-}" in
  0:) ;;
  2:--binary) binary="$2" ;;
  *) echo "usage: scripts/check-package.sh [--binary PATH]" >&2; exit 2 ;;
esac
if [ "$(id -u)" -ne 0 ]; then
  echo "FAIL scripts/check-package.sh installs a package: run it as root" >&2
  exit 1
fi
status=0
fail() { echo "FAIL $*"; status=1; }
ok() { echo "ok   $*"; }

# Whatever happens below (set -e included), the temporary files go, and a package this script
# installed is purged, so that a failed check never leaves wavelb installed on the machine.
before="$(mktemp)" after="$(mktemp)"
installed=0
cleanup() {
  # The /etc/wavelb link cases below put the directory aside: back first.
  if [ -d /etc/wavelb.real ] && [ ! -d /etc/wavelb ] || [ -L /etc/wavelb ]; then
    rm -f /etc/wavelb && mv /etc/wavelb.real /etc/wavelb 2>/dev/null || true
  fi
  if [ "$installed" -eq 1 ]; then dpkg --purge wavelb >/dev/null 2>&1 || true; fi
  # The kept-files case below, interrupted: its file, then what the purge kept for it.
  if [ -f /etc/wavelb/health.toml ] && [ "$(cat /etc/wavelb/health.toml)" = "# an operator's file" ] &&
    ! dpkg-query -W -f='${Status}' wavelb 2>/dev/null | grep -q installed; then
    rm -f /etc/wavelb/health.toml && rmdir /etc/wavelb 2>/dev/null && userdel wavelb 2>/dev/null || true
    groupdel wavelb 2>/dev/null || true
  fi
  rm -f "$before" "$after"
}
trap cleanup EXIT

deb="$(scripts/package.sh --binary "$binary" --fast)"
ok "built $deb"

# What the package holds.
contents="$(dpkg-deb --contents "$deb" | awk '{print $NF}' | sed 's#^\./#/#')"
for path in /usr/bin/wavelb /lib/systemd/system/wavelb-agent.service \
  /lib/systemd/system/wavelb-health.service /lib/systemd/system/wavelb-resolver.service \
  /usr/lib/sysusers.d/wavelb.conf /usr/share/man/man1/wavelb.1.gz \
  /usr/share/man/man1/wavelb-agent.1.gz /usr/share/man/man1/wavelb-health.1.gz \
  /usr/share/man/man1/wavelb-resolver.1.gz /usr/share/bash-completion/completions/wavelb \
  /usr/share/zsh/vendor-completions/_wavelb /usr/share/fish/vendor_completions.d/wavelb.fish \
  /usr/share/doc/wavelb/copyright /usr/share/doc/wavelb/examples/agent.toml.example \
  /usr/share/doc/wavelb/examples/health.toml.example /usr/share/doc/wavelb/examples/resolver.toml.example \
  /usr/share/doc/wavelb/examples/wavelb-rules.yml /usr/share/doc/wavelb/examples/wavelb.json \
  /usr/share/doc/wavelb/README.md /usr/share/doc/wavelb/configuration.md \
  /usr/share/doc/wavelb/metrics.md /usr/share/doc/wavelb/record-protocol.md \
  /usr/share/doc/wavelb/route53-compatibility.md /usr/share/doc/wavelb/robustness.md; do
  grep -qxF "$path" <<<"$contents" || fail "the package has no $path"
done
# lintian: no error or warning (informational and pedantic findings are printed, not failed).
lintian_status=0
out="$(lintian --fail-on error,warning --pedantic "$deb" 2>&1)" || lintian_status=$?
out="$(grep -v 'running with root privileges' <<<"$out" || true)"
if [ "$lintian_status" -eq 0 ]; then ok "lintian${out:+ (notes: $out)}"; else fail "lintian: $out"; fi

# A clean slate: a package left by an interrupted run is purged first.
if dpkg-query -W -f='${Status}' wavelb 2>/dev/null | grep -q installed; then dpkg --purge wavelb >/dev/null; fi
snapshot() {
  find /etc /usr /lib /var/lib /opt /srv -xdev \( -path /var/lib/dpkg -o -path /var/lib/apt \
    -o -path /var/lib/ucf -o -path /etc/ld.so.cache \) -prune -o -print 2>/dev/null | sort
  getent passwd wavelb || true
  getent group wavelb || true
}
snapshot >"$before"

installed=1
out="$(dpkg -i "$deb" 2>&1)" && ok "dpkg -i" || fail "dpkg -i: $out"
version="$(/usr/bin/wavelb --version 2>&1 || true)"
[ "$version" = "wavelb $(dpkg-deb -f "$deb" Version)" ] && ok "/usr/bin/wavelb --version: $version" ||
  fail "/usr/bin/wavelb --version says '$version'"
for page in wavelb wavelb-agent wavelb-health wavelb-resolver; do
  where="$(man -w "$page" 2>&1)" && [ "$where" = "/usr/share/man/man1/$page.1.gz" ] && ok "man -w $page: $where" ||
    fail "man -w $page: $where"
done
man "wavelb-health" 2>/dev/null | grep -q -- '--check-config' && ok "man wavelb-health shows its flags" ||
  fail "man wavelb-health does not show --check-config"
# The configuration reference the man pages and --help point to is where they say.
man "wavelb-health" 2>/dev/null | grep -q -- '/usr/share/doc/wavelb/configuration.md' &&
  /usr/bin/wavelb health --help | grep -q -- '/usr/share/doc/wavelb/configuration.md' &&
  grep -q '^## `\[pool\]`' /usr/share/doc/wavelb/configuration.md &&
  ok "man wavelb-health and --help name /usr/share/doc/wavelb/configuration.md, installed" ||
  fail "the configuration reference is not where man wavelb-health and --help say"
bash -c 'source /usr/share/bash-completion/completions/wavelb && complete -p wavelb' >/dev/null &&
  ok "bash completion registers wavelb" || fail "the bash completion does not register wavelb"
getent passwd wavelb >/dev/null && ok "system user: $(getent passwd wavelb)" || fail "no wavelb user"
perm="$(stat -c '%U:%G %a' /etc/wavelb 2>&1 || true)"
[ "$perm" = "root:wavelb 750" ] && ok "/etc/wavelb $perm" || fail "/etc/wavelb is '$perm', want root:wavelb 750"
for unit in /lib/systemd/system/wavelb-*.service; do
  if out="$(systemd-analyze verify "$unit" 2>&1)" && [ -z "$out" ]; then ok "systemd-analyze verify $unit"; else fail "systemd-analyze verify $unit: $out"; fi
done
for cmd in agent health resolver; do
  /usr/bin/wavelb --config "/usr/share/doc/wavelb/examples/$cmd.toml.example" "$cmd" --check-config >/dev/null &&
    ok "the $cmd example passes --check-config" || fail "the $cmd example fails --check-config"
done
# Installing starts and enables nothing.
links="$(find /etc/systemd/system -lname '*wavelb-*' 2>/dev/null)"
[ -z "$links" ] && ok "no unit enabled" || fail "units enabled by the installation: $links"
running="$(pgrep -a -f '^/usr/bin/wavelb' || true)"
[ -z "$running" ] && ok "nothing started" || fail "processes started by the installation: $running"
if [ -d /run/systemd/system ]; then
  for unit in wavelb-agent wavelb-health wavelb-resolver; do
    ! systemctl -q is-active "$unit" || fail "$unit is active after installation"
  done
fi

# A reinstall runs the upgrade paths of the maintainer scripts (prerm upgrade, postinst configure
# with the old version) and must keep the user and /etc/wavelb as they are.
out="$(dpkg -i "$deb" 2>&1)" && ok "dpkg -i again (upgrade path)" || fail "dpkg -i again: $out"
[ "$(stat -c '%U:%G %a' /etc/wavelb 2>&1)" = "root:wavelb 750" ] || fail "/etc/wavelb changed on reinstall"

# postinst on an operator's /etc/wavelb: it warns about one its group can write, checks the
# directory a symbolic link points to (not the link), and a dangling link does not fail the
# install. The directory is put back before the purge.
chmod 0770 /etc/wavelb
out="$(dpkg -i "$deb" 2>&1)" && grep -q "/etc/wavelb is writable by its group" <<<"$out" &&
  ok "postinst warns about a group-writable /etc/wavelb" || fail "no warning for a group-writable /etc/wavelb: $out"
chmod 0750 /etc/wavelb
mv /etc/wavelb /etc/wavelb.real && ln -s /etc/wavelb.real /etc/wavelb
out="$(dpkg -i "$deb" 2>&1)" && ! grep -q "wavelb: /etc/wavelb" <<<"$out" &&
  ok "postinst accepts /etc/wavelb as a link to a root:wavelb 0750 directory" || fail "/etc/wavelb as a link: $out"
chmod 0777 /etc/wavelb.real
out="$(dpkg -i "$deb" 2>&1)" && grep -q "writable by its group or by everyone (mode 777)" <<<"$out" &&
  ok "postinst checks the directory a link points to" || fail "no warning for a link to a 0777 directory: $out"
chmod 0750 /etc/wavelb.real
rm /etc/wavelb && ln -s /etc/wavelb.gone /etc/wavelb
out="$(dpkg -i "$deb" 2>&1)" && grep -q "does not exist" <<<"$out" &&
  ok "postinst warns about a dangling /etc/wavelb link and installs" || fail "a dangling /etc/wavelb link: $out"
rm /etc/wavelb && mv /etc/wavelb.real /etc/wavelb

# A purge keeps /etc/wavelb and the user while the operator's files remain, and says so.
echo "# an operator's file" >/etc/wavelb/health.toml
out="$(dpkg --purge wavelb 2>&1)" && grep -q "wavelb: kept /etc/wavelb, which still holds files (health.toml)" <<<"$out" &&
  [ -f /etc/wavelb/health.toml ] && getent passwd wavelb >/dev/null &&
  ok "dpkg --purge keeps /etc/wavelb with a file in it, and the user, and says so" ||
  fail "dpkg --purge with /etc/wavelb/health.toml: $out"
installed=0
# The way to finish it says, then the package again for a purge that leaves nothing.
rm -r /etc/wavelb && userdel wavelb && { ! getent group wavelb >/dev/null || groupdel wavelb; }
installed=1
out="$(dpkg -i "$deb" 2>&1)" || fail "dpkg -i after the purge: $out"
out="$(dpkg --purge wavelb 2>&1)" && ok "dpkg --purge" || fail "dpkg --purge: $out"
! grep -q "kept /etc/wavelb" <<<"$out" || fail "dpkg --purge of an empty /etc/wavelb says it kept it: $out"
installed=0
snapshot >"$after"
if left="$(diff "$before" "$after")"; then ok "nothing left behind"; else fail "left behind after purge: $left"; fi
exit $status
