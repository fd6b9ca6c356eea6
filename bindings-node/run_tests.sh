#!/usr/bin/env bash
# Builds the Node addon and runs its checks and tests, from a clean clone on a fresh machine.
# Exits non-zero on the first failure. Usage: bash bindings-node/run_tests.sh
#
# The addon is built in debug mode: the tests check translation, not speed, and a debug build
# of the core and its dependencies takes about half as long as a release one on two cores.
# RELAYKIT_NODE_RELEASE=1 builds the release addon instead (what `npm run build` does).
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
node --test test/*.test.mjs

echo
echo "node: all checks passed"
