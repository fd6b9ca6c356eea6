#!/usr/bin/env bash
# Builds the Node addon and runs its checks and tests, from a clean clone on a fresh machine.
# Exits non-zero on the first failure. Usage: bash bindings-node/run_tests.sh
#
# The addon is built in debug mode: the tests check translation, not speed, and a debug build
# of the core and its dependencies takes about half as long as a release one on two cores.
# RELAYKIT_NODE_RELEASE=1 builds the release addon instead (what `npm run build` does).
#
# With the test servers running ($RELAYKIT_STATE/servers.env, default tests/.state), it also runs
# the conformance cases through the package (tests/conformance/run_node.mjs, run and judged by
# relaykit-conformance) and the README's example in an empty project where only the `npm pack`
# tarball is installed, with SMTP_HOST, SMTP_PORT, SMTP_CA_FILE, SMTP_USER, SMTP_PASSWORD and
# SMTP_TO set from servers.env.
set -euo pipefail
cd "$(dirname "$0")"

step() { printf '\n==> node: %s\n' "$*"; }

step "toolchain"
for tool in node npm cargo; do
  command -v "$tool" >/dev/null || { echo "$tool is required (Node >= 18 with npm, and Rust)"; exit 1; }
done
node --version
cargo --version

step "npm dependencies"
if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
else
  npm install --no-audit --no-fund --loglevel=error
fi

step "build the addon"
if [ "${RELAYKIT_NODE_RELEASE:-}" = 1 ]; then
  npx napi build --platform --release
else
  npx napi build --platform
fi
test -f relaykit.linux-x64-gnu.node

step "generated index.js and index.d.ts are committed and current"
if git -C . rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git diff --exit-code -- index.js index.d.ts ||
    { echo "index.js/index.d.ts are stale: run 'npx napi build --platform' and commit them"; exit 1; }
fi

step "rust unit tests (error code mapping)"
# napi builds with an explicit --target; testing with the same one reuses its artifacts.
host=$(rustc -vV | sed -n 's/^host: //p')
cargo test --locked -p relaykit-node --target "$host" --quiet

step "typescript example (tsc --noEmit)"
npx tsc --noEmit -p .

step "node tests"
# servers.test.mjs reads $RELAYKIT_STATE/servers.env and skips (saying so) without it.
node --test test/*.test.mjs

ROOT=$(cd .. && pwd)
STATE=${RELAYKIT_STATE:-$ROOT/tests/.state}
SERVERS_ENV=$STATE/servers.env

step "npm pack"
PACK_DIR=$(mktemp -d)
trap 'rm -rf "$PACK_DIR"' EXIT
npm pack --silent --pack-destination "$PACK_DIR" >/dev/null
TARBALL=$(ls "$PACK_DIR"/relaykit-*.tgz)
CONTENTS=$(tar -tzf "$TARBALL" | sort)
echo "$CONTENTS"
grep -qx 'package/relaykit.linux-x64-gnu.node' <<<"$CONTENTS" || { echo "the addon is not in the tarball"; exit 1; }

if [ ! -f "$SERVERS_ENV" ]; then
  step "conformance cases and README example: SKIPPED (no $SERVERS_ENV; tests/servers/start.sh)"
else
  step "conformance cases (tests/conformance/run_node.mjs, judged by tests/conformance/judge)"
  RELAYKIT_STATE=$STATE cargo run --quiet --locked -p relaykit-conformance -- \
    run --lang node -- node "$ROOT/tests/conformance/run_node.mjs"

  step "README example in an empty project with only the packed module"
  PROJECT=$PACK_DIR/project
  mkdir "$PROJECT"
  ( cd "$PROJECT" && npm init -y >/dev/null && npm install --no-audit --no-fund --loglevel=error "$TARBALL" )
  # The js block after the marker comment is the example; it reads the server from SMTP_*.
  awk '/<!-- example: run by run_tests.sh -->/ {m=1; next} m && /^```js$/ {p=1; next} p && /^```$/ {exit} p' \
    README.md > "$PROJECT/example.mjs"
  [ -s "$PROJECT/example.mjs" ] || { echo "no example block found in README.md"; exit 1; }
  sv() { sed -n "s/^$1=//p" "$SERVERS_ENV"; }
  ( cd "$PROJECT" && env -i PATH="$PATH" HOME="${HOME:-/tmp}" \
      SMTP_HOST="$(sv RK_HOST)" SMTP_PORT="$(sv RK_DOVECOT_STARTTLS_PORT)" SMTP_CA_FILE="$(sv RK_CA_FILE)" \
      SMTP_USER="$(sv RK_USER)" SMTP_PASSWORD="$(sv RK_PASS)" SMTP_TO="$(sv RK_RCPT)" \
      node example.mjs )
fi

echo
echo "node: all checks passed"
