#!/usr/bin/env bash
# The browser tests of `relaykit dialog` (#13): installs what they need, then runs them.
#   - Debian's chromium (apt-get, as root) when /usr/bin/chromium is missing;
#   - playwright-core from npm (npm ci, pinned by package-lock.json; it drives the installed
#     chromium: `npx playwright install` downloads a browser build and is never used);
#   - the relaykit binary (cargo build -p relaykit-cli) unless RELAYKIT_BIN names one.
# Needs the test servers running (tests/servers/start.sh) and RELAYKIT_STATE naming their state.
# Screenshots go to $RK_SCREENS (default target/browser-screens). Usage: bash cli/tests/browser/run.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
: "${RELAYKIT_STATE:?set RELAYKIT_STATE to the state dir of the test servers (tests/servers/start.sh writes servers.env there)}"

chromium="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing chromium (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "chromium is missing: run 'apt-get install -y chromium' as root" >&2
    exit 1
  fi
fi

(cd "$here" && npm ci --no-audit --no-fund --loglevel=error)

if [ -z "${RELAYKIT_BIN:-}" ]; then
  (cd "$repo" && cargo build --quiet --locked -p relaykit-cli)
  export RELAYKIT_BIN="${CARGO_TARGET_DIR:-$repo/target}/debug/relaykit"
fi

cd "$here"
exec node --test --test-concurrency=1 dialog.test.mjs
