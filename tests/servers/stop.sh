#!/usr/bin/env bash
# Stop every relaykit test server started by start.sh. Safe when nothing runs.
# All servers get SIGTERM at once; the wait is bounded (RK_STOP_SECS, default
# 10 s), after which stragglers get SIGKILL.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
S="$RELAYKIT_STATE"
[ -d "$S" ] || exit 0
S="$(cd "$S" && pwd)"

alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }
names=(); pids=()
add() { alive "$2" || return 0; names+=("$1"); pids+=("$2"); }

# Postfix instances: SIGTERM to master is what "postfix stop" does (minus its
# 1 s polling loop).
for conf in "$S"/postfix-*/conf; do
  [ -f "$conf/main.cf" ] || continue
  pid=$(tr -d ' \n' 2>/dev/null < "$(dirname "$conf")/queue/pid/master.pid" || true)
  # guard against pid reuse: must be a postfix master
  if alive "$pid" && grep -qa 'master' "/proc/$pid/cmdline" 2>/dev/null; then
    add "postfix $(basename "$(dirname "$conf")")" "$pid"
  fi
done

# Dovecot masters (the dovecot role's, and dovecot-lmtp / dovecot-oauth2 of the #15 roles)
for d in "$S"/dovecot "$S"/dovecot-*; do
  pid=$(cat "$d/run/master.pid" 2>/dev/null || true)
  if alive "$pid" && grep -qa 'dovecot' "/proc/$pid/cmdline" 2>/dev/null; then add "$(basename "$d")" "$pid"; fi
done

# Background daemons started by start.sh (maildev; aiosmtpd, ntlm and badscram are all
# aiosmtpd_server.py; faults is tests/faults/fake_smtp.py, hostile tests/faults/hostile.py,
# soak-policy tests/faults/soak_policy.py; of #15: socks is danted, httpproxy tinyproxy, oauth2
# oauth2_server.py) via pids/*.pid
for pidf in "$S"/pids/*.pid; do
  [ -f "$pidf" ] || continue
  pid=$(cat "$pidf" 2>/dev/null || true)
  if alive "$pid" && grep -qaE 'maildev|aiosmtpd_server|fake_smtp|hostile\.py|soak_policy|danted|tinyproxy|oauth2_server' "/proc/$pid/cmdline" 2>/dev/null; then
    add "$(basename "$pidf" .pid)" "$pid"
  fi
done

for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
deadline=$(( $(date +%s) + ${RK_STOP_SECS:-10} ))
for i in "${!pids[@]}"; do
  while alive "${pids[$i]}" && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.1; done
  if alive "${pids[$i]}"; then
    rk_log "${names[$i]} (${pids[$i]}) ignored SIGTERM; sending SIGKILL"
    kill -KILL "${pids[$i]}" 2>/dev/null
  else
    rk_log "stopped ${names[$i]} (${pids[$i]})"
  fi
done
# The socks role's system user (Dante checks proxy passwords against the system's database).
u=$(cat "$S/socks/user" 2>/dev/null || true)
case "$u" in
  rksocks-????????) if id "$u" >/dev/null 2>&1; then userdel "$u" && rk_log "removed user $u"; fi ;;
esac
rm -f "$S"/pids/*.pid "$S/servers.env" "$S/socks/user"
exit 0
