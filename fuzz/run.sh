#!/usr/bin/env bash
# Builds every fuzz target once (cargo-fuzz, libFuzzer; nightly Rust: `cargo +nightly fuzz`),
# replays the committed regressions, then runs each target for SECONDS (default 60), two at a
# time (two cores), from a copy of its seed corpus, with bounded memory. Prints one line per
# target with libFuzzer's executions count; exits non-zero on any crash, naming its file.
#
# Usage: bash fuzz/run.sh [SECONDS]
#   FUZZ_JOBS=2          targets run at once
#   FUZZ_RSS_MB=1024     libFuzzer's -rss_limit_mb per target
#   FUZZ_TARGETS="a b"   only these targets
#   FUZZ_SEED=1          libFuzzer's -seed (a gate in CI: the same inputs in the same order each run,
#                        so a failure is the code's, not the dice's); FUZZ_SEED=0 draws a new one
# Work (grown corpora, crash files, logs) goes to $CARGO_TARGET_DIR/fuzz-run or
# fuzz/target/fuzz-run, never into the committed corpus/.
set -uo pipefail
cd "$(dirname "$0")"
HERE=$(pwd)
SECS=${1:-60}
JOBS=${FUZZ_JOBS:-2}
RSS=${FUZZ_RSS_MB:-1024}
SEED=${FUZZ_SEED:-1}
# The fuzz build has its own target dir: nightly and the sanitizer flags share nothing with
# the workspace's build.
export CARGO_TARGET_DIR=$HERE/target
WORK=$CARGO_TARGET_DIR/fuzz-run
TOOLCHAIN=${FUZZ_TOOLCHAIN:-nightly}

echo "fuzz: cargo-fuzz with the $TOOLCHAIN toolchain (libFuzzer needs nightly's -Z flags), $SECS s per target"
rustup run "$TOOLCHAIN" rustc --version >/dev/null 2>&1 || { echo "fuzz: no $TOOLCHAIN toolchain (rustup toolchain install $TOOLCHAIN)"; exit 1; }
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz"
  cargo install cargo-fuzz --locked || exit 1
fi

TARGETS=${FUZZ_TARGETS:-$(cargo "+$TOOLCHAIN" fuzz list)}
tb=$SECONDS
cargo "+$TOOLCHAIN" fuzz build -O 2>&1 | tail -n 3 || exit 1
echo "fuzz: built in $((SECONDS - tb)) s"
BIN=$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release

rm -rf "$WORK"
mkdir -p "$WORK"
fail=0

# Regressions first: each committed input must run clean.
for t in $TARGETS; do
  [ -d "regressions/$t" ] || continue
  if ! "$BIN/$t" -rss_limit_mb="$RSS" -runs=0 -artifact_prefix="$WORK/$t.regression-" "regressions/$t" >"$WORK/$t.regressions.log" 2>&1; then
    echo "FAIL $t: a regression input fails again (log: $WORK/$t.regressions.log)"
    grep -a -m3 -E "panicked|ERROR: libFuzzer" "$WORK/$t.regressions.log"
    fail=1
  fi
done

run_one() {
  local t=$1 dir=$WORK/$t
  mkdir -p "$dir/corpus" "$dir/artifacts"
  cp -r "corpus/$t/." "$dir/corpus/" 2>/dev/null
  "$BIN/$t" "$dir/corpus" -max_total_time="$SECS" -seed="$SEED" -rss_limit_mb="$RSS" -max_len=65536 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$dir/artifacts/" >"$dir/log" 2>&1
  local rc=$? execs crash
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -n 1)
  crash=$(ls "$dir"/artifacts/* 2>/dev/null | head -n 1)
  if [ "$rc" -ne 0 ] || [ -n "$crash" ]; then
    printf 'FAIL %-13s %12s execs  crash: %s  (log: %s)\n' "$t" "${execs:-?}" "${crash:-none}" "$dir/log"
    grep -a -m3 -E "panicked|ERROR: libFuzzer|SUMMARY" "$dir/log" | sed 's/^/    /'
    echo fail >"$dir/status"
    return 1
  fi
  echo ok >"$dir/status"
  printf 'ok   %-13s %12s execs in %s s\n' "$t" "${execs:-?}" "$SECS"
}

tr0=$SECONDS
for t in $TARGETS; do
  run_one "$t" &
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
done
wait
for t in $TARGETS; do
  [ "$(cat "$WORK/$t/status" 2>/dev/null)" = ok ] || fail=1
done
echo "fuzz: ran $(echo $TARGETS | wc -w) targets in $((SECONDS - tr0)) s"
exit $fail
