# Shared settings for the relaykit test-server scripts. Sourced, not executed.
# shellcheck shell=bash

RK_SERVERS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RK_REPO_DIR="$(cd "$RK_SERVERS_DIR/../.." && pwd)"

# All runtime state (configs, queues, mailboxes, logs, certs, pids).
RELAYKIT_STATE="${RELAYKIT_STATE:-$RK_REPO_DIR/tests/.state}"
# Installed tooling lives beside the scripts (gitignored) so that wiping the
# state dir does not force a reinstall.
RK_VENV="${RK_VENV:-$RK_SERVERS_DIR/.venv}"
RK_NODE_DIR="$RK_SERVERS_DIR"          # node_modules/ lives here
RK_MAILDEV_BIN="$RK_NODE_DIR/node_modules/.bin/maildev"

# Ports (all on 127.0.0.1).
RK_DOVECOT_PLAIN_PORT="${RK_DOVECOT_PLAIN_PORT:-2525}"
RK_DOVECOT_STARTTLS_PORT="${RK_DOVECOT_STARTTLS_PORT:-2587}"
RK_DOVECOT_IMPLICIT_PORT="${RK_DOVECOT_IMPLICIT_PORT:-2465}"
RK_CYRUS_PLAIN_PORT="${RK_CYRUS_PLAIN_PORT:-2526}"
RK_CYRUS_STARTTLS_PORT="${RK_CYRUS_STARTTLS_PORT:-2588}"
RK_MAILDEV_PLAIN_PORT="${RK_MAILDEV_PLAIN_PORT:-1025}"
RK_MAILDEV_PLAIN_WEB_PORT="${RK_MAILDEV_PLAIN_WEB_PORT:-1080}"
RK_MAILDEV_TLS_PORT="${RK_MAILDEV_TLS_PORT:-1465}"
RK_MAILDEV_TLS_WEB_PORT="${RK_MAILDEV_TLS_WEB_PORT:-1081}"
RK_AIOSMTPD_PORT="${RK_AIOSMTPD_PORT:-2527}"
RK_NTLM_PORT="${RK_NTLM_PORT:-2528}"
RK_BADSCRAM_PORT="${RK_BADSCRAM_PORT:-2529}"
# Fault listeners of the postfix-dovecot instance (same Maildir) and the scripted fake.
RK_POSTFIX_IDLE_PORT="${RK_POSTFIX_IDLE_PORT:-2530}"
RK_POSTFIX_CONNLIMIT_PORT="${RK_POSTFIX_CONNLIMIT_PORT:-2531}"
RK_POSTFIX_RATELIMIT_PORT="${RK_POSTFIX_RATELIMIT_PORT:-2532}"
RK_FAULTS_PORT="${RK_FAULTS_PORT:-2533}"
# The hostile server of the fault suite: scenario i of tests/faults/scenarios.json on BASE + i.
RK_HOSTILE_BASE_PORT="${RK_HOSTILE_BASE_PORT:-2600}"
# The soak's policy listener and the policy service it asks (tests/faults/soak_policy.py).
RK_POSTFIX_POLICY_PORT="${RK_POSTFIX_POLICY_PORT:-2534}"
RK_POLICY_SERVICE_PORT="${RK_POLICY_SERVICE_PORT:-2535}"
# Roles of #15 (in the default RK_ROLES since the proxy, LMTP and mTLS work): proxies in front of the Postfix listeners, LMTP,
# client certificates, OAuth2 (Postfix + Dovecot, and the token/introspection server).
RK_SOCKS_PORT="${RK_SOCKS_PORT:-2540}"
RK_HTTP_PROXY_PORT="${RK_HTTP_PROXY_PORT:-2541}"
RK_HTTP_PROXY_AUTH_PORT="${RK_HTTP_PROXY_AUTH_PORT:-2542}"
RK_LMTP_PORT="${RK_LMTP_PORT:-2543}"
RK_CCERT_PORT="${RK_CCERT_PORT:-2544}"
RK_CCERT_IMPLICIT_PORT="${RK_CCERT_IMPLICIT_PORT:-2545}"
RK_OAUTH_PORT="${RK_OAUTH_PORT:-2546}"
RK_OAUTH_TOKEN_PORT="${RK_OAUTH_TOKEN_PORT:-2547}"
RK_CCERT_SUBMISSION_PORT="${RK_CCERT_SUBMISSION_PORT:-2548}"
# Lifetime of the oauth2 role's access tokens (short, so a test sees one expire).
RK_OAUTH_TOKEN_SECS="${RK_OAUTH_TOKEN_SECS:-30}"
# smtpd_timeout of the idle listener; messages per anvil_rate_time_unit of the ratelimit one.
RK_POSTFIX_IDLE_SECS="${RK_POSTFIX_IDLE_SECS:-2}"
RK_POSTFIX_RATE_MESSAGES="${RK_POSTFIX_RATE_MESSAGES:-5}"
RK_POSTFIX_RATE_SECS="${RK_POSTFIX_RATE_SECS:-1}"

RK_HOST=127.0.0.1
RK_WAIT_SECS="${RK_WAIT_SECS:-30}"

rk_log() { printf "[%s %s] %s\n" "$(basename "$0")" "$(date +%T.%3N)" "$*" >&2; }
rk_die() { rk_log "ERROR: $*"; exit 1; }
