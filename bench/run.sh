#!/usr/bin/env bash
# The mailer benchmark, one command, from a clean clone, as root (Debian):
#
#   bash bench/run.sh                  # the full run (~15 min on 2 cores)
#   BENCH_QUICK=1 bash bench/run.sh    # a smoke run (a few minutes)
#
# Installs what it needs, builds relaykit in release for Rust, C, Python and Node, starts
# smtp-sink, a stunnel4 TLS front, two delaying proxies and a Postfix smtpd (CHUNKING,
# discard) on 127.0.0.1, runs every client beside its peers (bench/driver.py), prints the table,
# writes bench/results/latest.json, stops everything it started and exits non-zero if any
# client failed. Environment: see bench/README.md (BENCH_MESSAGES, BENCH_MAX_SECS, BENCH_QUICK,
# BENCH_*_PORT, BENCH_CLIENT_CPU/BENCH_SERVER_CPU, BENCH_STATE, CARGO_TARGET_DIR).
set -euo pipefail
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$BENCH_DIR/.." && pwd)"
source "$REPO/tests/servers/common.sh"
export BENCH_STATE="${BENCH_STATE:-$BENCH_DIR/.state}"
export BENCH_TARGET="${CARGO_TARGET_DIR:-$REPO/target}"
export BENCH_VENV="${BENCH_VENV:-$BENCH_DIR/.venv}"
source "$BENCH_DIR/servers.sh"
[ "$(id -u)" = 0 ] || rk_die "run as root (apt-get, Postfix, smtp-sink -u)"
t0=$(date +%s)

# ---------------------------------------------------------------- install ----
APT_PKGS=(postfix stunnel4 libcurl4-openssl-dev openssl gcc libc6-dev util-linux time python3-venv)
missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if ((${#missing[@]})); then
  rk_log "apt-get install: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  # Package scripts must not start system daemons (stunnel4, postfix): we run our own.
  added_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; added_policy=1
  fi
  apt-get install -y -q --no-install-recommends "${missing[@]}" || { apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"; }
  [ "$added_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
fi
if [ ! -x "$BENCH_VENV/bin/python" ] || ! cmp -s "$BENCH_DIR/python/requirements.txt" "$BENCH_VENV/.bench-req"; then
  rk_log "venv $BENCH_VENV (maturin, aiosmtplib)"
  python3 -m venv "$BENCH_VENV"
  "$BENCH_VENV/bin/pip" install -q --disable-pip-version-check -r "$BENCH_DIR/python/requirements.txt"
  cp "$BENCH_DIR/python/requirements.txt" "$BENCH_VENV/.bench-req"
fi
(cd "$BENCH_DIR/node" && npm ci --no-audit --no-fund --loglevel=error) >&2
[ -d "$REPO/bindings-node/node_modules/@napi-rs/cli" ] || (cd "$REPO/bindings-node" && npm ci --no-audit --no-fund --loglevel=error >&2)

# ---------------------------------------------------------------- build ------
mkdir -p "$BENCH_STATE/logs"
rk_log "building relaykit (release): C library, Rust clients, Python module, Node addon"
(cd "$REPO" && cargo build --release --locked -q -p relaykit-ffi -p relaykit-bench)
(cd "$REPO/bindings-python" && VIRTUAL_ENV="$BENCH_VENV" PATH="$BENCH_VENV/bin:$PATH" \
  maturin develop --release --locked -q >"$BENCH_STATE/logs/maturin.log" 2>&1) ||
  { cat "$BENCH_STATE/logs/maturin.log" >&2; rk_die "maturin develop --release failed"; }
# napi also regenerates index.js and index.d.ts: keep the tree's own (the bench changes no file).
cp "$REPO/bindings-node/index.js" "$REPO/bindings-node/index.d.ts" "$BENCH_STATE/logs/"
napi_ok=1
(cd "$REPO/bindings-node" && npx napi build --platform --release >"$BENCH_STATE/logs/napi.log" 2>&1) || napi_ok=0
cp "$BENCH_STATE/logs/index.js" "$BENCH_STATE/logs/index.d.ts" "$REPO/bindings-node/"
[ "$napi_ok" = 1 ] || { cat "$BENCH_STATE/logs/napi.log" >&2; rk_die "napi build --release failed"; }
mkdir -p "$BENCH_STATE/bin"
CFLAGS=(-std=c11 -O2 -Wall -Wextra -Wpedantic -Werror -I"$REPO/include")
LIB=(-L"$BENCH_TARGET/release" -lrelaykit -Wl,-rpath,"$BENCH_TARGET/release")
gcc "${CFLAGS[@]}" "$BENCH_DIR/c/bench_c.c" -o "$BENCH_STATE/bin/bench_c" "${LIB[@]}" -lcurl -lpthread
gcc "${CFLAGS[@]}" "$BENCH_DIR/c/first_test.c" -o "$BENCH_STATE/bin/first_test" "${LIB[@]}"
gcc -O2 -Wall -Wextra -Werror -shared -fPIC "$BENCH_DIR/c/nodelay_preload.c" -o "$BENCH_STATE/bin/nodelay.so" -ldl
rk_log "installed and built in $(( $(date +%s) - t0 )) s"

# ---------------------------------------------------------------- run --------
trap bench_stop_servers EXIT
bench_stop_servers   # what an interrupted earlier run in this state dir may have left running
bench_start_servers
mkdir -p "$BENCH_DIR/results"
export BENCH_SINK_PORT BENCH_TLS_PORT BENCH_DELAY_PORT BENCH_SMTPD_PORT BENCH_SMTPD_DELAY_PORT BENCH_QUEUE_DIR
rc=0
"$BENCH_VENV/bin/python" "$BENCH_DIR/driver.py" --out "$BENCH_DIR/results/latest.json" || rc=$?
rk_log "done in $(( $(date +%s) - t0 )) s (exit $rc)"
exit "$rc"
