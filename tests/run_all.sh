#!/usr/bin/env bash
# Runs every check and test relaykit has, from a clean clone on a fresh machine.
# Exits non-zero on the first failure. Usage: bash tests/run_all.sh
set -euo pipefail
cd "$(dirname "$0")/.."

CBINDGEN_VERSION=0.29.4
step() { printf '\n==> %s\n' "$*"; }

step "toolchain"
command -v cargo >/dev/null || { echo "cargo is required (https://rustup.rs)"; exit 1; }
rustup component add rustfmt clippy >/dev/null 2>&1 || true
cargo --version

step "format"
cargo fmt --all --check

step "clippy (pedantic, no warnings)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "docs (-D warnings)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet

step "C header is current (cbindgen $CBINDGEN_VERSION)"
if [ "$(cbindgen --version 2>/dev/null)" != "cbindgen $CBINDGEN_VERSION" ]; then
  cargo install cbindgen --version "$CBINDGEN_VERSION" --locked --quiet
fi
cbindgen --quiet --config ffi/cbindgen.toml --crate relaykit-ffi --output target/relaykit.h.check
diff -u include/relaykit.h target/relaykit.h.check || { echo "include/relaykit.h is stale: regenerate it with cbindgen"; exit 1; }

step "real SMTP servers (install, start on loopback)"
export RELAYKIT_STATE="${RELAYKIT_STATE:-$PWD/tests/.state}"
bash tests/servers/install.sh
trap 'bash tests/servers/stop.sh >/dev/null 2>&1 || true' EXIT
bash tests/servers/start.sh
bash tests/servers/smoke.sh | tail -1
bash tests/servers/smoke_reach.sh | tail -1

step "unit, vector, property, real-server and conformance tests"
cargo test --workspace --locked

step "the configuration page in Chromium (relaykit dialog; playwright-core, Debian's chromium)"
bash cli/tests/browser/run.sh

step "fault soak: 10,000 messages through injected faults, reconciled against the Maildir (#12)"
cargo test --locked -p relaykit --test soak -- --ignored --nocapture --test-threads=1

step "C ABI tests (ASan+UBSan, then valgrind)"
bash tests/c/run.sh

step "fuzz targets (cargo-fuzz on nightly, 60 s each, fuzz/README.md)"
bash fuzz/run.sh "${RELAYKIT_FUZZ_SECS:-60}"

step "Python binding (wheel in a fresh venv, stubtest, mypy --strict, pytest)"
bash bindings-python/run_tests.sh

step "Node binding (napi addon, tsc --noEmit, node --test)"
bash bindings-node/run_tests.sh

step "release artifacts (dist/build.sh: wheel, sdist, npm packages, C SDK, crates; dist/check.sh: each installed without Rust, README examples run)"
bash dist/build.sh
bash dist/check.sh

step "demo"
cargo run --quiet --locked -p relaykit --example demo >/dev/null

echo
echo "all checks passed"
