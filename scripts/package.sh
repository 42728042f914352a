#!/usr/bin/env bash
# Builds the Debian package of wavelb and prints its path.
# Usage: scripts/package.sh [--profile release|dev | --binary PATH] [--out DIR] [--fast]
#
# Debian's own tools do the work (dpkg-shlibdeps, dpkg-gencontrol, dpkg-deb), as debhelper does
# underneath, from the files in deploy/debian/. Not cargo-deb: it would have to be compiled first
# (3 minutes on a 2-core machine), which the test command's 30-minute budget from a fresh clone
# cannot spare, and the package is small enough to lay out here. The layout:
#   /usr/bin/wavelb                                   the binary, stripped
#   /lib/systemd/system/wavelb-{agent,health,resolver}.service   (enabled and started by nobody)
#   /usr/lib/sysusers.d/wavelb.conf                   the `wavelb` system user (systemd/wavelb.sysusers)
#   /usr/share/man/man1/wavelb*.1.gz                  `wavelb manpages` (clap_mangen)
#   /usr/share/{bash-completion,zsh,fish}/…           `wavelb completions <shell>` (clap_complete)
#   /usr/share/doc/wavelb/*.md                        README.md and the user docs of docs/ (the
#                                                     configuration reference, …), which the man
#                                                     pages and --help name by these paths
#   /usr/share/doc/wavelb/examples/                   systemd/*.toml.example (+ monitoring files)
# --binary packages a binary already built instead of building one, and --fast compresses with
# gzip -1 instead of xz -6 (40 s less for a 45 MB debug binary): scripts/check-package.sh packages
# the binary the test-suite just tested that way, to spare CI a release build (and a second build
# of the workspace: `cargo build --bin wavelb` resolves features for the root package alone, not
# as `cargo test --workspace` does, and would compile most crates again). Operators build the
# default: a release build, xz.
set -euo pipefail
cd "$(dirname "$0")/.."
umask 022
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/wavelb/target}"
profile=release bin="" out="" compress=(-Zxz)
usage() { echo "usage: scripts/package.sh [--profile release|dev | --binary PATH] [--out DIR] [--fast]" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) [ $# -ge 2 ] || usage; profile="$2"; shift 2 ;;
    --binary) [ $# -ge 2 ] || usage; bin="$(realpath "$2")"; shift 2 ;;
    --out) [ $# -ge 2 ] || usage; out="$2"; shift 2 ;;
    --fast) compress=(-Zgzip -z1); shift ;;
    *) usage ;;
  esac
done
out="${out:-$CARGO_TARGET_DIR/debian}"
if [ -z "$bin" ]; then
  case "$profile" in dev) dir=debug ;; release) dir=release ;; *) dir="$profile" ;; esac
  cargo build --profile "$profile" --bin wavelb --quiet >&2
  bin="$CARGO_TARGET_DIR/$dir/wavelb"
fi
[ -x "$bin" ] || { echo "scripts/package.sh: no executable wavelb at $bin; build it first" >&2; exit 1; }

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
root="$stage/root"
doc="$root/usr/share/doc/wavelb"
install -d "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" "$root/usr/lib/sysusers.d" \
  "$root/usr/share/man/man1" "$root/usr/share/bash-completion/completions" \
  "$root/usr/share/zsh/vendor-completions" "$root/usr/share/fish/vendor_completions.d" "$doc/examples"

install -m 0755 "$bin" "$root/usr/bin/wavelb"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$root/usr/bin/wavelb"
install -m 0644 systemd/wavelb-agent.service systemd/wavelb-health.service \
  systemd/wavelb-resolver.service "$root/lib/systemd/system/"
install -m 0644 systemd/wavelb.sysusers "$root/usr/lib/sysusers.d/wavelb.conf"
"$bin" manpages "$stage/man" >/dev/null
for page in "$stage"/man/*.1; do gzip -9nc "$page" >"$root/usr/share/man/man1/$(basename "$page").gz"; done
"$bin" completions bash >"$root/usr/share/bash-completion/completions/wavelb"
"$bin" completions zsh >"$root/usr/share/zsh/vendor-completions/_wavelb"
"$bin" completions fish >"$root/usr/share/fish/vendor_completions.d/wavelb.fish"
install -m 0644 deploy/debian/copyright "$doc/copyright"
gzip -9nc deploy/debian/changelog >"$doc/changelog.gz"
# The user docs, uncompressed so that they read and grep as they are (the paths the man pages'
# SEE ALSO and `wavelb --help` give, src/cmd/manpages.rs DOCS).
install -m 0644 README.md docs/configuration.md docs/metrics.md docs/record-protocol.md \
  docs/route53-compatibility.md docs/robustness.md "$doc/"
install -m 0644 systemd/agent.toml.example systemd/health.toml.example systemd/resolver.toml.example "$doc/examples/"
for extra in deploy/prometheus/wavelb-rules.yml deploy/grafana/wavelb.json; do
  [ ! -f "$extra" ] || install -m 0644 "$extra" "$doc/examples/"
done
install -m 0755 deploy/debian/postinst deploy/debian/prerm deploy/debian/postrm "$root/DEBIAN/"

# dpkg-shlibdeps and dpkg-gencontrol read debian/control and debian/changelog of a source tree.
src="$stage/src"
install -d "$src/debian"
cp deploy/debian/control deploy/debian/changelog "$src/debian/"
# A Cargo pre-release (0.2.0-rc.1) sorts before its release in Debian only as 0.2.0~rc.1, and a
# native package's version has no '-'.
version="$("$bin" --version | awk '{print $2}' | tr '-' '~')"
(
  cd "$src"
  dpkg-shlibdeps -Tdebian/substvars -e"$root/usr/bin/wavelb"
  dpkg-gencontrol -pwavelb -v"$version" -Tdebian/substvars -P"$root" -cdebian/control -ldebian/changelog
)
(cd "$root" && find usr lib -type f -print0 | sort -z | xargs -0 md5sum -- >DEBIAN/md5sums)
mkdir -p "$out"
deb="$out/wavelb_${version}_$(dpkg --print-architecture).deb"
dpkg-deb --root-owner-group "${compress[@]}" --build "$root" "$deb" >/dev/null
echo "$deb"
