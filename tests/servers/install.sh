#!/usr/bin/env bash
# Install everything the relaykit test servers need. Idempotent: a second run
# only checks and returns quickly.
#
#   apt:  postfix, dovecot-core, sasl2-bin, libsasl2-modules(-db), openssl, curl; for the #15
#         roles: dovecot-lmtpd, dovecot-submissiond, dante-server, tinyproxy
#   pip:  aiosmtpd, pyspnego  -> venv at $RK_VENV (default tests/servers/.venv)
#   npm:  maildev (package.json/package-lock.json here) -> tests/servers/node_modules
#
# The venv and node_modules live beside the scripts (gitignored), NOT in the
# state dir, so that wiping $RELAYKIT_STATE does not force a reinstall.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

t0=$(date +%s)
APT_PKGS=(postfix dovecot-core sasl2-bin libsasl2-modules libsasl2-modules-db openssl curl ca-certificates
          dovecot-lmtpd dovecot-submissiond dante-server tinyproxy)

missing=()
for p in "${APT_PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  [ "$(id -u)" = 0 ] || rk_die "need root to apt-get install: ${missing[*]}"
  rk_log "apt-get install: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Postfix: do not create a system configuration, do not prompt.
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  echo "postfix postfix/mailname string localhost" | debconf-set-selections
  # Do not let package scripts start the system's own postfix/dovecot: we run
  # private instances. Only add a policy-rc.d if the machine has none.
  added_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    added_policy=1
  fi
  trap '[ "$added_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d' EXIT
  apt_install() {
    apt-get install -y -q --no-install-recommends \
      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"
  }
  if ! apt_install; then
    rk_log "apt-get install failed; running apt-get update and retrying"
    apt-get update -q
    apt_install
  fi
fi

# --- Python venv -------------------------------------------------------------
PY="${RK_PYTHON:-python3}"
req="$RK_SERVERS_DIR/requirements.txt"
stamp="$RK_VENV/.relaykit-req"
if [ ! -x "$RK_VENV/bin/python" ] || ! cmp -s "$req" "$stamp"; then
  rk_log "creating venv $RK_VENV"
  if ! "$PY" -m venv "$RK_VENV" 2>/dev/null; then
    rk_log "python3 -m venv failed; installing python3-venv"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv
    rm -rf "$RK_VENV"
    "$PY" -m venv "$RK_VENV"
  fi
  "$RK_VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$req"
  cp "$req" "$stamp"
fi
"$RK_VENV/bin/python" -c 'import aiosmtpd, spnego' || rk_die "venv $RK_VENV is broken; delete it and rerun"

# --- MailDev -----------------------------------------------------------------
lock="$RK_NODE_DIR/package-lock.json"
nstamp="$RK_NODE_DIR/node_modules/.relaykit-lock"
if [ ! -x "$RK_MAILDEV_BIN" ] || ! cmp -s "$lock" "$nstamp"; then
  command -v npm >/dev/null || rk_die "npm not found (Node >= 20 required)"
  rk_log "npm ci (maildev)"
  (cd "$RK_NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$lock" "$nstamp"
fi

rk_log "install complete in $(( $(date +%s) - t0 ))s"
