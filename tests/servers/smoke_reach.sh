#!/usr/bin/env bash
# Run smoke_reach.py (checks of the #15 roles: socks httpproxy lmtp unixsmtp ccert oauth2) against
# servers started by start.sh with those roles in RK_ROLES.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[ -f "$RELAYKIT_STATE/servers.env" ] || rk_die "no $RELAYKIT_STATE/servers.env: run start.sh first"
export RELAYKIT_STATE
exec "$RK_VENV/bin/python" "$RK_SERVERS_DIR/smoke_reach.py" "$@"
