#!/usr/bin/env bash
# Builds the libFuzzer targets on the stable toolchain and runs them for a bounded time.
#
#   fuzz/run.sh TARGET|all SECONDS [LIBFUZZER_ARG...]
#
# Each target runs for SECONDS on its committed corpus (fuzz/corpus/TARGET, read only; new
# inputs go to $CARGO_TARGET_DIR/corpus/TARGET) and prints one line:
#   fuzz-result target=TARGET seconds=S execs=N crashes=C artifact=PATH|-
# A crash, a leak, a timeout (10 s for one input) or running out of memory (2048 MB) stops the
# target, saves the input under fuzz/artifacts/TARGET/, and makes the script exit 1 (after the
# other targets ran). See fuzz/README.md.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
if [ $# -lt 2 ]; then
  echo "usage: $0 TARGET|all SECONDS [LIBFUZZER_ARG...]" >&2
  exit 2
fi
which_target=$1
seconds=$2
shift 2

all_targets=(dns_answer api_xml txt_codec sigv4_header probe_replies imds_chunked geo_table geo_route iam_policy cidr_source)
if [ "$which_target" = all ]; then
  targets=("${all_targets[@]}")
else
  targets=("$which_target")
fi

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR_FUZZ:-$HOME/.cache/wavelb/fuzz-target}
triple=$(rustc -vV | sed -n 's/^host: //p')
# cargo-fuzz's coverage flags, all accepted by a stable rustc; no sanitizer (ASan needs -Z).
# With --target, RUSTFLAGS reach the target crates only, not build scripts or proc macros.
export RUSTFLAGS="-Cpasses=sancov-module \
-Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
-Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares \
-Cllvm-args=-sanitizer-coverage-stack-depth \
--cfg fuzzing"

build_start=$(date +%s)
bin_args=()
for t in "${targets[@]}"; do bin_args+=(--bin "$t"); done
cargo build --manifest-path "$here/Cargo.toml" --release --target "$triple" "${bin_args[@]}"
echo "fuzz-build seconds=$(( $(date +%s) - build_start ))"

# The stack a tokio worker or a std thread gets (2 MiB), which is where these parsers run in
# wavelb; libFuzzer's main thread would otherwise have 8 MiB and hide a deep recursion.
ulimit -s 2048

failed=0
for t in "${targets[@]}"; do
  bin="$CARGO_TARGET_DIR/$triple/release/$t"
  work="$CARGO_TARGET_DIR/corpus/$t"
  artifacts="$here/artifacts/$t"
  log="$CARGO_TARGET_DIR/$t.log"
  mkdir -p "$work" "$artifacts" "$here/corpus/$t"
  status=0
  "$bin" "$work" "$here/corpus/$t" \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -max_len=4200 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" "$@" >"$log" 2>&1 || status=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
  crashes=0
  if [ "$status" -ne 0 ]; then
    crashes=1
    failed=1
    grep -E -m 20 "panicked|Assertion|ERROR:|SUMMARY|deadly signal" "$log" >&2 || tail -n 20 "$log" >&2
  fi
  echo "fuzz-result target=$t seconds=$seconds execs=${execs:-0} crashes=$crashes artifact=${artifact:--}"
done
exit "$failed"
