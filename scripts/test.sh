#!/usr/bin/env bash
# The one test command (README, .ci/run). Installs what the tests need, idempotently, starts the
# emulators on loopback, runs formatting, lints and the whole test-suite, and stops what it started.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/wavelb/target}"
export WAVELB_VENV="${WAVELB_VENV:-$HOME/.cache/wavelb/venv}"
export AWS_EC2_METADATA_DISABLED=true

# Every phase is timed; the table is printed at the end (also when a phase fails), for the README's
# Test section and for CI logs.
timings=()
phase_name=
phase_start=$SECONDS
phase() {
  if [ -n "$phase_name" ]; then timings+=("$(printf '%6ds  %s' $((SECONDS - phase_start)) "$phase_name")"); fi
  phase_name="$1"
  phase_start=$SECONDS
  [ -z "$1" ] || echo "== $1"
}
report_timings() {
  phase ""
  echo "== time per phase"
  printf '%s\n' "${timings[@]}"
  printf '%6ds  total\n' "$SECONDS"
}

phase "installing test dependencies"
scripts/ensure-packages.sh
scripts/ensure-venv.sh "$WAVELB_VENV"

phase "starting moto server"
logdir="$(mktemp -d)"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$WAVELB_VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$logdir/moto.log" 2>&1 &
moto_pid=$!
cleanup() {
  report_timings
  kill "$moto_pid" 2>/dev/null || true
  wait "$moto_pid" 2>/dev/null || true
  rm -rf "$logdir"
}
trap cleanup EXIT
export WAVELB_MOTO_URL="http://127.0.0.1:$port"
"$WAVELB_VENV/bin/python" - "$WAVELB_MOTO_URL" <<'PY'
import sys, time, urllib.request
deadline = time.time() + 60
while True:
    try:
        urllib.request.urlopen(sys.argv[1] + "/moto-api/reset", data=b"", timeout=2)
        break
    except Exception as e:
        if time.time() > deadline:
            sys.exit(f"moto server did not come up at {sys.argv[1]}: {e}")
        time.sleep(0.2)
PY

phase "cargo fmt --check"
cargo fmt --all -- --check
for src in vocab/src registry/src aws/src agent/src health/src probe/src dns/src route53-emulator/src aws-auth/src src; do scripts/check-cycles.py "$src"; done  # no import cycles between modules
phase "ruff (lint and format of every Python file: ruff.toml)"
"$WAVELB_VENV/bin/ruff" check .
"$WAVELB_VENV/bin/ruff" format --check .
phase "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
phase "cargo test"
# Four test threads on two cores: the end-to-end tests mostly wait on the processes they start
# (about 1.1 cores busy on average), so e2e takes 79 s instead of 163 s with the default two,
# measured twice at 72715bf. RUST_TEST_THREADS set by the caller wins.
export RUST_TEST_THREADS="${RUST_TEST_THREADS:-4}"
cargo test --workspace "$@" 2>&1 | tee "$logdir/test.log"
phase "fuzz smoke (fuzz/run.sh all 2: every libFuzzer target on its corpus, within 2 s)"
cargo fmt --manifest-path fuzz/Cargo.toml -- --check
# opt-level 1: the smoke checks that every target builds and runs its whole corpus (libFuzzer
# replays the corpus before it checks -max_total_time, which counts from the process's start, and
# fuzzes for what is left of the 2 s); at that a target needs no speed, and the build is about half
# as long. Campaigns (fuzz/run.sh T 1800) use opt-level 3.
CARGO_PROFILE_RELEASE_OPT_LEVEL=1 fuzz/run.sh all 2
phase "systemd units"
scripts/check-units.sh "$CARGO_TARGET_DIR/debug/wavelb"
phase "Debian package (build, lintian, dpkg -i, checks, dpkg --purge)"
scripts/check-package.sh
phase "deploy (IAM policy, CloudFormation with cfn-lint, Prometheus rules with promtool)"
scripts/check-deploy.sh
phase "benchmarks smoke (benches/run.sh --smoke)"
benches/run.sh --smoke
# One closing line for the whole suite, summed over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1); if ($i ~ /^ignored;?$/) s += $(i-1) } }
     END { printf "%d passed, %d failed, %d skipped\n", p, f, s }' "$logdir/test.log"
