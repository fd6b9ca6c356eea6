#!/usr/bin/env bash
# Builds the relaykit wheel and runs every check of the Python binding, from a clean clone:
# a fresh venv under target/, the wheel built by maturin and installed into it, then the Rust
# unit test, mypy.stubtest on the native module, mypy --strict on the package, a typed usage
# example and the tests, pytest (vectors, exceptions, reprs, attachments, runtime, and Test/Send
# against the real servers), the conformance cases through the Python API (run and judged by
# relaykit-conformance, tests/conformance/README.md), and the README example in a second fresh
# venv holding nothing but the wheel.
# Exits non-zero on the first failure.
#
# The server tests need the servers of tests/servers/ running (tests/run_all.sh starts them)
# and find them through $RELAYKIT_STATE/servers.env (default: <repo>/tests/.state). Without
# that file they are skipped, and said to be.
#
# Usage: bash bindings-python/run_tests.sh
#   PYTHON=python3.12 ...   the interpreter for the venv (default: python3, >= 3.9)
#   RELAYKIT_PY_RELEASE=1   build the wheel with --release (default: debug, see below)
set -euo pipefail
cd "$(dirname "$0")"
HERE=$(pwd)
ROOT=$(cd .. && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
VENV=$TARGET/py-venv
WHEELS=$TARGET/wheels
PYTHON=${PYTHON:-python3}
STATE=${RELAYKIT_STATE:-$ROOT/tests/.state}
SERVERS_ENV=$STATE/servers.env

step() { printf '\n==> %s\n' "$*"; }
t0=$SECONDS

step "venv ($VENV)"
command -v "$PYTHON" >/dev/null || { echo "$PYTHON is required"; exit 1; }
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
# Versions the stubs were checked with; stubtest's rules change between mypy releases.
"$VENV/bin/pip" install --quiet --disable-pip-version-check "maturin>=1.9.4,<2" "pytest>=8,<10" "mypy==2.4.1"

# Debug by default: the tests exercise translation, not speed, and a debug build reuses the
# core's artefacts from `cargo test` (a release build compiles the whole tree again, minutes on
# two cores). Set RELAYKIT_PY_RELEASE=1 to build the wheel that would be shipped.
mode=()
[ "${RELAYKIT_PY_RELEASE:-0}" = 1 ] && mode=(--release)
step "wheel (maturin build ${mode[*]:-debug})"
rm -f "$WHEELS"/relaykit-*.whl
tb=$SECONDS
"$VENV/bin/maturin" build "${mode[@]}" --locked --interpreter "$VENV/bin/python" -o "$WHEELS"
echo "wheel built in $((SECONDS - tb)) s"
"$VENV/bin/pip" install --quiet --disable-pip-version-check --force-reinstall "$WHEELS"/relaykit-*.whl

step "Rust tests (every error kind has its own class; tests/stubs.rs: the generated annotations are current)"
cargo test --quiet --locked -p relaykit-python

step "stubtest relaykit._native"
"$VENV/bin/python" -m mypy.stubtest relaykit._native

step "mypy --strict (package and typed usage example)"
"$VENV/bin/mypy" --strict --no-incremental -p relaykit
"$VENV/bin/mypy" --strict --no-incremental "$HERE/tests/typed_usage.py"
"$VENV/bin/mypy" --strict --no-incremental "$HERE/tests/servers.py" "$HERE/tests/test_servers.py" "$HERE/tests/test_mailer.py" "$HERE/tests/test_oauth.py" "$HERE/tests/test_exit.py" "$HERE/tests/exit_child.py" "$HERE/tests/test_mtls.py" "$HERE/tests/test_reach.py" "$HERE/tests/test_capture.py" "$HERE/tests/test_progress.py" \
  "$ROOT/tests/conformance/run_python.py"

step "pytest"
tp=$SECONDS
"$VENV/bin/python" -m pytest -q -p no:cacheprovider "$HERE/tests"
echo "pytest ran in $((SECONDS - tp)) s"

if [ ! -f "$SERVERS_ENV" ]; then
  step "conformance cases and README example: SKIPPED (no $SERVERS_ENV; tests/servers/start.sh)"
else
  step "conformance cases (tests/conformance/run_python.py, judged by tests/conformance/judge)"
  RELAYKIT_STATE=$STATE cargo run --quiet --locked -p relaykit-conformance -- \
    run --lang python -- "$VENV/bin/python" "$ROOT/tests/conformance/run_python.py"

  step "README example in a fresh venv with only the wheel"
  README_VENV=$TARGET/py-readme-venv
  rm -rf "$README_VENV"
  "$PYTHON" -m venv "$README_VENV"
  "$README_VENV/bin/pip" install --quiet --disable-pip-version-check --no-index "$WHEELS"/relaykit-*.whl
  # The block after the marker comment is the example; it reads the server from SMTP_*.
  awk '/<!-- example: run by run_tests.sh -->/ {m=1; next} m && /^```python$/ {p=1; next} p && /^```$/ {exit} p' \
    "$HERE/README.md" > "$TARGET/readme_example.py"
  [ -s "$TARGET/readme_example.py" ] || { echo "no example block found in README.md"; exit 1; }
  sv() { sed -n "s/^$1=//p" "$SERVERS_ENV"; }
  ( cd "$(mktemp -d)" && env -i PATH="$PATH" HOME="${HOME:-/tmp}" \
      SMTP_HOST="$(sv RK_HOST)" SMTP_PORT="$(sv RK_DOVECOT_STARTTLS_PORT)" SMTP_CA_FILE="$(sv RK_CA_FILE)" \
      SMTP_USER="$(sv RK_USER)" SMTP_PASSWORD="$(sv RK_PASS)" SMTP_TO="$(sv RK_RCPT)" \
      "$README_VENV/bin/python" "$TARGET/readme_example.py" )
fi

echo
echo "python binding: all checks passed in $((SECONDS - t0)) s"
