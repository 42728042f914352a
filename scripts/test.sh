#!/usr/bin/env bash
# The one test command (README, .ci/run). Installs what the tests need, idempotently, starts the
# emulators on loopback, runs formatting, lints and the whole test-suite, and stops what it started.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/wavelb/target}"
export WAVELB_VENV="${WAVELB_VENV:-$HOME/.cache/wavelb/venv}"
export AWS_EC2_METADATA_DISABLED=true

echo "== installing test dependencies"
scripts/ensure-packages.sh
scripts/ensure-venv.sh "$WAVELB_VENV"

echo "== starting moto server"
logdir="$(mktemp -d)"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$WAVELB_VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$logdir/moto.log" 2>&1 &
moto_pid=$!
cleanup() {
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

echo "== cargo fmt --check"
cargo fmt --all -- --check
for src in registry/src agent/src health/src probe/src resolver/src src; do scripts/check-cycles.py "$src"; done  # no import cycles between modules
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo test"
cargo test --workspace "$@" 2>&1 | tee "$logdir/test.log"
echo "== fuzz smoke (fuzz/run.sh all 5: every libFuzzer target 5 s on its corpus)"
cargo fmt --manifest-path fuzz/Cargo.toml -- --check
fuzz/run.sh all 5
echo "== systemd units"
scripts/check-units.sh "$CARGO_TARGET_DIR/debug/wavelb"
echo "== deploy (IAM policy, CloudFormation with cfn-lint)"
scripts/check-deploy.sh
echo "== benchmarks build (criterion)"
cargo bench --workspace --no-run
echo "== benchmarks smoke (benches/run.sh --smoke)"
benches/run.sh --smoke
# One closing line for the whole suite, summed over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1); if ($i ~ /^ignored;?$/) s += $(i-1) } }
     END { printf "%d passed, %d failed, %d skipped\n", p, f, s }' "$logdir/test.log"
