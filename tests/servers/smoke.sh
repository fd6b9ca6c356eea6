#!/usr/bin/env bash
# Run smoke.py against servers started by start.sh (uses the venv for pyspnego).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[ -f "$RELAYKIT_STATE/servers.env" ] || rk_die "no $RELAYKIT_STATE/servers.env: run start.sh first"
export RELAYKIT_STATE
exec "$RK_VENV/bin/python" "$RK_SERVERS_DIR/smoke.py" "$@"
