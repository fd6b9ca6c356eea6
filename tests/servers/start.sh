#!/usr/bin/env bash
# Start every relaykit test SMTP server on 127.0.0.1 and write
# $RELAYKIT_STATE/servers.env.  Run install.sh first.  Safe to re-run: servers
# that are already up are restarted (stop.sh is called first).
#
#   tests/servers/start.sh            # all roles
#   RK_ROLES="aiosmtpd ntlm" tests/servers/start.sh   # a subset
#
# Roles: dovecot (postfix+dovecot SASL), cyrus (postfix+Cyrus SASL), maildev,
# aiosmtpd, ntlm, badscram (a scripted fault server: a wrong SCRAM signature), faults (a
# scripted fake: drop after the final dot, bad pipelining; the dovecot role also starts
# Postfix fault listeners: idle, connlimit, ratelimit), hostile (the fault suite's scripted
# server: one port per scenario of tests/faults/scenarios.json from RK_HOSTILE_BASE_PORT).
# Roles of #15, not started by default (roles_reach.sh): socks (Dante), httpproxy (Tinyproxy),
# unixsmtp (Postfix smtpd on a Unix socket),
# lmtp (Dovecot LMTP), ccert (Postfix relaying by client certificate), oauth2 (Postfix + Dovecot
# passdb oauth2 + tests/servers/oauth2_server.py).  Every wait is bounded by RK_WAIT_SECS (default 30); on
# failure the server's log is printed and the script exits non-zero.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

RK_ROLES="${RK_ROLES:-dovecot cyrus maildev aiosmtpd ntlm badscram faults hostile socks httpproxy lmtp unixsmtp ccert oauth2}"
PY="$RK_VENV/bin/python"
[ -x "$PY" ] || rk_die "venv missing ($RK_VENV): run tests/servers/install.sh"
[ "$(id -u)" = 0 ] || rk_die "must run as root (postfix and dovecot need it)"

t_start=$(date +%s%N)
"$RK_SERVERS_DIR/stop.sh" >/dev/null 2>&1 || true

S="$RELAYKIT_STATE"
mkdir -p "$S"
S="$(cd "$S" && pwd)"            # absolute
chmod 755 "$S"
mkdir -p "$S/pids" "$S/logs" "$S/certs"
# Everything above the state dir must be traversable by the postfix/nobody users.
d="$S"; while [ "$d" != / ]; do d="$(dirname "$d")"
  perm=$(stat -c %A "$d"); [ "${perm:9:1}" = x ] || [ "${perm:9:1}" = t ] || \
    rk_die "$d is not world-traversable (o+x); postfix cannot reach $S"
done

# ---------------------------------------------------------------- users ------
# Values never contain whitespace, quotes, '$', '\' or a leading '~', so
# servers.env can be sourced by sh or split at the first '=' alike.
RK_DOMAIN=relaykit.test
RK_DOMAIN2=relaykit-alt.test
RK_USER="alice@$RK_DOMAIN";  RK_PASS="Alice-Pass-1"
RK_USER2="bob@$RK_DOMAIN";   RK_PASS2="P%ss~wörd-2"      # '~', '%', non-ASCII
RK_REJECT_RCPT="reject@$RK_DOMAIN"
RK_MAILDEV_USER="$RK_USER";  RK_MAILDEV_PASS="$RK_PASS"
RK_NTLM_DOMAIN=RELAYKIT
RK_NTLM_USER=alice;          RK_NTLM_PASS="Alice-Pass-1"
RK_NTLM_USER2=bob;           RK_NTLM_PASS2="Pässwörd€1"
# Cyrus: user "alice" in realm relaykit.test; see README (NTLM quirks).
RK_CYRUS_REALM="$RK_DOMAIN"
RK_CYRUS_USER=alice;         RK_CYRUS_PASS="Alice-Pass-1"
RK_CYRUS_USER2=bob;          RK_CYRUS_PASS2="P%ss~wörd-2"

# ---------------------------------------------------------------- helpers ----
port_free() {  # port -> 0 if nothing listens/binds on 127.0.0.1:port
  "$PY" - "$1" <<'EOF'
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
EOF
}

CLAIMED_PORTS=" "
check_ports() {
  local p
  for p in "$@"; do
    case "$CLAIMED_PORTS" in *" $p "*) rk_die "port $p is configured for two servers (check the RK_*_PORT variables)";; esac
    CLAIMED_PORTS+="$p "
    port_free "$p" || rk_die "port 127.0.0.1:$p is already in use (override with the RK_*_PORT variables; see README)"
  done
}

# wait_smtp NAME PORT MODE LOG... ; MODE = plain | tls (implicit TLS)
wait_smtp() {
  local name=$1 port=$2 mode=$3; shift 3
  if "$PY" - "$port" "$mode" "$RK_WAIT_SECS" "$S/certs/ca.crt" <<'EOF'
import smtplib, ssl, sys, time
port, mode, secs, ca = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), sys.argv[4]
deadline = time.monotonic() + secs
last = None
while time.monotonic() < deadline:
    try:
        if mode == "tls":
            ctx = ssl.create_default_context(cafile=ca)
            s = smtplib.SMTP_SSL("127.0.0.1", port, timeout=5, context=ctx)
        else:
            s = smtplib.SMTP("127.0.0.1", port, timeout=5)
        code, _ = s.ehlo("probe.relaykit.test")
        s.quit()
        if code == 250:
            sys.exit(0)
        last = f"EHLO answered {code}"
    except Exception as e:  # not up yet
        last = repr(e)
    time.sleep(0.2)
print(f"no EHLO on port {port} within {secs}s: {last}", file=sys.stderr)
sys.exit(1)
EOF
  then
    rk_log "$name up on 127.0.0.1:$port"
  else
    rk_log "$name did not come up on port $port; log follows"
    local f; for f in "$@"; do echo "----- $f" >&2; tail -n 80 "$f" >&2 2>/dev/null || true; done
    exit 1
  fi
}

# spawn NAME LOGFILE CMD... : start a background daemon, pid -> pids/NAME.pid
spawn() {
  local name=$1 log=$2; shift 2
  setsid "$@" >>"$log" 2>&1 </dev/null &
  echo $! > "$S/pids/$name.pid"
}

# ---------------------------------------------------------------- certs ------
gen_certs() {
  local c="$S/certs"
  if [ -s "$c/server.crt" ] && [ -s "$c/server.key" ] && [ -s "$c/ca.crt" ] \
     && openssl x509 -checkend 86400 -noout -in "$c/server.crt" >/dev/null 2>&1; then
    return
  fi
  rk_log "generating test CA and localhost certificate in $c"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -sha256 \
    -keyout "$c/ca.key" -out "$c/ca.crt" -subj "/O=relaykit tests/CN=relaykit test CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -sha256 -keyout "$c/server.key" -out "$c/server.csr" \
    -subj "/O=relaykit tests/CN=localhost" 2>/dev/null
  cat > "$c/server.ext" <<EOF
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1
EOF
  openssl x509 -req -in "$c/server.csr" -CA "$c/ca.crt" -CAkey "$c/ca.key" -CAcreateserial \
    -days 825 -sha256 -extfile "$c/server.ext" -out "$c/server.crt" 2>/dev/null
  cat "$c/server.crt" "$c/ca.crt" > "$c/server-chain.crt"
  chmod 600 "$c/ca.key" "$c/server.key"
}

# ---------------------------------------------------------------- postfix ----
# write_postfix NAME EXTRA_MAIN_LINES MASTER_LISTENERS
#   instance dir $S/NAME: conf/ queue/ data/ mail/ postfix.log
write_postfix() {
  local name=$1 main_extra=$2 listeners=$3
  local base="$S/$name" conf="$S/$name/conf"
  mkdir -p "$conf" "$base/queue" "$base/data" "$base/mail"
  chown postfix:postfix "$base/data"
  chown nobody:nogroup "$base/mail"; chmod 755 "$base/mail"
  : > "$base/postfix.log"
  cat > "$conf/main.cf" <<EOF
# Generated by tests/servers/start.sh -- relaykit test instance "$name".
compatibility_level = 3.6
config_directory = $conf
queue_directory = $base/queue
data_directory = $base/data
mail_owner = postfix
setgid_group = postdrop
maillog_file = $base/postfix.log
# maillog_file must start with one of these (default "/var, /dev/stdout"), or
# postfix exits 1 without a word.
maillog_file_prefixes = $base
syslog_name = $name
myhostname = localhost
mydomain = $RK_DOMAIN
myorigin = \$mydomain
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
mydestination =
local_recipient_maps =
local_transport = error:local delivery is disabled
alias_maps =
alias_database =
biff = no
append_dot_mydomain = no
smtputf8_enable = yes
smtpd_banner = \$myhostname ESMTP relaykit-$name
smtpd_error_sleep_time = 0
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
message_size_limit = 31457280
virtual_mailbox_limit = 0
mailbox_size_limit = 0
delay_warning_time = 0

# Delivery: every domain ends up in Maildirs under $base/mail/<domain>/<localpart>/
# (local test domains directly; mail relayed by authenticated clients to other
# domains is captured the same way instead of leaving the machine).
virtual_mailbox_domains = $RK_DOMAIN $RK_DOMAIN2
virtual_mailbox_base = $base/mail
virtual_mailbox_maps = texthash:$conf/vmailbox, regexp:$conf/vrelayed
recipient_delimiter = +
virtual_uid_maps = static:$(id -u nobody)
virtual_gid_maps = static:$(getent group nogroup | cut -d: -f3)
virtual_minimum_uid = 1
default_transport = virtual
relay_transport = virtual
relay_domains =
smtpd_reject_unlisted_recipient = yes

# Relay control: authenticated clients may send anywhere; others only to the
# local test domains.
smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination
# $RK_REJECT_RCPT is refused at RCPT time (partial-rejection tests).
smtpd_recipient_restrictions = check_recipient_access texthash:$conf/rcpt_access

# SASL
smtpd_sasl_auth_enable = yes
smtpd_sasl_security_options = noanonymous
smtpd_sasl_tls_security_options = noanonymous
broken_sasl_auth_clients = no
$main_extra

# TLS (per-listener policy is set in master.cf)
smtpd_tls_cert_file = $S/certs/server-chain.crt
smtpd_tls_key_file = $S/certs/server.key
smtpd_tls_security_level = may
smtpd_tls_auth_only = no
smtpd_tls_loglevel = 1
smtpd_tls_received_header = yes
EOF
  # virtual(8) forbids regexp substitution ($1) in virtual_mailbox_maps, so
  # the known users get their own Maildir, every other address of a test
  # domain its domain's _catchall Maildir, and anything else (relayed by an
  # authenticated client) mail/_relayed/.  "+tag" extensions land in the
  # user's Maildir (recipient_delimiter).
  local u
  {
    for u in alice bob carol; do printf '%s@%s\t%s/%s/\n' "$u" "$RK_DOMAIN" "$RK_DOMAIN" "$u"; done
    printf '@%s\t%s/_catchall/\n' "$RK_DOMAIN" "$RK_DOMAIN" "$RK_DOMAIN2" "$RK_DOMAIN2"
  } > "$conf/vmailbox"
  local re_dom="${RK_DOMAIN//./\\.}|${RK_DOMAIN2//./\\.}"
  printf 'if !/@(%s)$/\n/@/\t_relayed/\nendif\n' "$re_dom" > "$conf/vrelayed"
  printf '%s\t550 5.1.1 User unknown (relaykit test reject address)\n' "$RK_REJECT_RCPT" > "$conf/rcpt_access"
  cat > "$conf/master.cf" <<EOF
# Generated by tests/servers/start.sh. No chroot anywhere.
# service type  private unpriv  chroot  wakeup  maxproc command + args
$listeners
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
}

start_postfix() {  # NAME
  local name=$1 conf="$S/$1/conf"
  postfix -c "$conf" set-permissions >>"$S/$name/postfix.log" 2>&1 || true
  if ! postfix -c "$conf" check >>"$S/$name/postfix.log" 2>&1 \
     || ! postfix -c "$conf" start >>"$S/$name/postfix.log" 2>&1; then
    rk_log "postfix ($name) failed to start; log follows"
    # postfix(1) logs through postlogd, which is not up yet when it fails
    # early: rerun the config parse with logging to stderr.
    postconf -c "$conf" -o maillog_file= >/dev/null || true
    cat "$S/$name/postfix.log" >&2; exit 1
  fi
}

# Starts the Dovecot instance configured in DIR/dovecot.conf (logging to DIR/dovecot.log), waits
# (bounded) for DIR/run/SOCKET when one is named, and removes the anvil auth-penalty socket.
# Dovecot's IP-based auth penalty (2 s, doubling up to 15 s per client IP after failed logins)
# would slow wrong-password tests. The auth process (started lazily on the first connection)
# disables the penalty when the anvil socket is missing (ENOENT); "mode = 0" on that listener
# instead makes it retry for 5 s. So remove the socket.
start_dovecot() {  # DIR LABEL [SOCKET]
  local d=$1 label=$2 sock=${3:-}
  dovecot -c "$d/dovecot.conf" >>"$d/dovecot.log" 2>&1 || { cat "$d/dovecot.log" >&2; rk_die "$label failed to start"; }
  if [ -n "$sock" ]; then
    local deadline=$(( $(date +%s) + RK_WAIT_SECS ))
    until [ -S "$d/run/$sock" ]; do
      if [ "$(date +%s)" -ge "$deadline" ]; then cat "$d/dovecot.log" >&2; rk_die "$label: socket $sock did not appear"; fi
      sleep 0.1
    done
  fi
  rm -f "$d/run/anvil-auth-penalty"
}

smtpd_listener() {  # INSTANCE PORT LABEL EXTRA_OPTS...
  local inst=$1 port=$2 label=$3; shift 3
  echo "127.0.0.1:$port inet n - n - - smtpd"
  echo "  -o syslog_name=$inst/$label"
  local o; for o in "$@"; do echo "  -o $o"; done
}

# ---------------------------------------------------------------- dovecot ----
start_dovecot_role() {
  check_ports "$RK_DOVECOT_PLAIN_PORT" "$RK_DOVECOT_STARTTLS_PORT" "$RK_DOVECOT_IMPLICIT_PORT" \
    "$RK_POSTFIX_IDLE_PORT" "$RK_POSTFIX_CONNLIMIT_PORT" "$RK_POSTFIX_RATELIMIT_PORT" \
    "$RK_POSTFIX_POLICY_PORT" "$RK_POLICY_SERVICE_PORT"
  start_soak_policy
  local d="$S/dovecot"
  mkdir -p "$d/run" "$d/lib"
  : > "$d/dovecot.log"
  cat > "$d/users" <<EOF
$RK_USER:{PLAIN}$RK_PASS
$RK_USER2:{PLAIN}$RK_PASS2
EOF
  chown root:dovecot "$d/users"; chmod 640 "$d/users"
  cat > "$d/dovecot.conf" <<EOF
# Generated by tests/servers/start.sh: Dovecot as SASL auth server for Postfix only.
protocols = none
listen = 127.0.0.1
base_dir = $d/run
state_dir = $d/lib
log_path = $d/dovecot.log
info_log_path = $d/dovecot.log
default_internal_user = dovecot
default_login_user = dovenull
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login cram-md5 scram-sha-1 scram-sha-256
auth_failure_delay = 0
auth_verbose = yes
auth_username_format = %Lu
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $d/users
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=/nonexistent
}
service auth {
  unix_listener auth-postfix {
    mode = 0660
    user = postfix
    group = postfix
  }
}
EOF
  start_dovecot "$d" dovecot auth-postfix
  rk_log "dovecot auth up ($d/run/auth-postfix)"

  # anvil_rate_time_unit (default 60 s) is the window of the ratelimit listener's message
  # rate; only that listener sets a rate limit, so shortening it instance-wide changes nothing
  # for the others.
  write_postfix postfix-dovecot \
"smtpd_sasl_type = dovecot
smtpd_sasl_path = $d/run/auth-postfix
anvil_rate_time_unit = ${RK_POSTFIX_RATE_SECS}s
# The policy listener's RCPT restrictions (a parameter, as master.cf -o values take no spaces).
rk_soak_restrictions = check_policy_service inet:127.0.0.1:$RK_POLICY_SERVICE_PORT, check_recipient_access texthash:$S/postfix-dovecot/conf/rcpt_access" \
"$(smtpd_listener postfix-dovecot "$RK_DOVECOT_PLAIN_PORT" plain smtpd_tls_security_level=may smtpd_tls_auth_only=no)
$(smtpd_listener postfix-dovecot "$RK_DOVECOT_STARTTLS_PORT" starttls smtpd_tls_security_level=encrypt smtpd_tls_auth_only=yes)
$(smtpd_listener postfix-dovecot "$RK_DOVECOT_IMPLICIT_PORT" implicit smtpd_tls_wrappermode=yes smtpd_tls_security_level=encrypt smtpd_tls_auth_only=no)
$(fault_listeners)"
  start_postfix postfix-dovecot
  local logs=("$S/postfix-dovecot/postfix.log" "$d/dovecot.log")
  wait_smtp "postfix-dovecot plain" "$RK_DOVECOT_PLAIN_PORT" plain "${logs[@]}"
  wait_smtp "postfix-dovecot starttls" "$RK_DOVECOT_STARTTLS_PORT" plain "${logs[@]}"
  wait_smtp "postfix-dovecot implicit" "$RK_DOVECOT_IMPLICIT_PORT" tls "${logs[@]}"
  wait_smtp "postfix-dovecot idle (smtpd_timeout ${RK_POSTFIX_IDLE_SECS}s)" "$RK_POSTFIX_IDLE_PORT" plain "${logs[@]}"
  wait_smtp "postfix-dovecot connlimit (1 connection per client)" "$RK_POSTFIX_CONNLIMIT_PORT" plain "${logs[@]}"
  wait_smtp "postfix-dovecot ratelimit ($RK_POSTFIX_RATE_MESSAGES messages per ${RK_POSTFIX_RATE_SECS}s)" \
    "$RK_POSTFIX_RATELIMIT_PORT" plain "${logs[@]}"
  wait_smtp "postfix-dovecot policy (random refusals by tests/faults/soak_policy.py)" \
    "$RK_POSTFIX_POLICY_PORT" plain "${logs[@]}" "$S/logs/soak-policy.log"
}

# The policy service of the policy listener (tests/faults/soak_policy.py): tells Postfix to
# answer some RCPTs 450, 421 or 550, by a hash of the recipient and attempt; its decisions go
# to $S/soak-policy/decisions.jsonl.
start_soak_policy() {
  mkdir -p "$S/soak-policy"
  : > "$S/soak-policy/decisions.jsonl"
  spawn soak-policy "$S/logs/soak-policy.log" "$PY" "$RK_REPO_DIR/tests/faults/soak_policy.py" \
    --port "$RK_POLICY_SERVICE_PORT" --log "$S/soak-policy/decisions.jsonl"
  local deadline=$(( $(date +%s) + RK_WAIT_SECS ))
  until ! port_free "$RK_POLICY_SERVICE_PORT"; do
    if [ "$(date +%s)" -ge "$deadline" ]; then cat "$S/logs/soak-policy.log" >&2; rk_die "soak policy service did not listen"; fi
    sleep 0.1
  done
  rk_log "soak policy service up on 127.0.0.1:$RK_POLICY_SERVICE_PORT"
}

# Listeners of the postfix-dovecot instance that produce real faults (the mailer's
# self-healing tests; see README "Fault listeners"). Plain, STARTTLS and AUTH offered, not
# required; they deliver to the same Maildirs as the other listeners.
#   idle:      smtpd_timeout closes a connection idle that long (421 4.4.2, then close)
#   connlimit: one connection per client IP; the next one gets 421 4.7.0 at the greeting
#   ratelimit: RK_POSTFIX_RATE_MESSAGES MAIL FROMs per window, then 450 4.7.1 at MAIL FROM
#   policy:    RCPT TO asks tests/faults/soak_policy.py, which answers 450/421/550 at random
#              (replayable) for soak+SEED.I.TAG@ and 550 for refuse+...@ (the fault soak)
# anvil exempts smtpd_client_event_limit_exceptions (default: $mynetworks, so loopback) from
# every limit: the last two clear it.
fault_listeners() {
  local plain=(smtpd_tls_security_level=may smtpd_tls_auth_only=no)
  smtpd_listener postfix-dovecot "$RK_POSTFIX_IDLE_PORT" idle "${plain[@]}" "smtpd_timeout=${RK_POSTFIX_IDLE_SECS}s"
  smtpd_listener postfix-dovecot "$RK_POSTFIX_CONNLIMIT_PORT" connlimit "${plain[@]}" \
    smtpd_client_event_limit_exceptions= smtpd_client_connection_count_limit=1
  smtpd_listener postfix-dovecot "$RK_POSTFIX_RATELIMIT_PORT" ratelimit "${plain[@]}" \
    smtpd_client_event_limit_exceptions= "smtpd_client_message_rate_limit=$RK_POSTFIX_RATE_MESSAGES"
  smtpd_listener postfix-dovecot "$RK_POSTFIX_POLICY_PORT" policy "${plain[@]}" \
    'smtpd_recipient_restrictions=$rk_soak_restrictions'
}

# ---------------------------------------------------------------- cyrus ------
start_cyrus_role() {
  check_ports "$RK_CYRUS_PLAIN_PORT" "$RK_CYRUS_STARTTLS_PORT"
  local base="$S/postfix-cyrus" db="$S/postfix-cyrus/sasldb2"
  mkdir -p "$base"
  rm -f "$db" "$db".*
  # saslpasswd2 reads the password from stdin with -p (no trailing newline).
  printf '%s' "$RK_CYRUS_PASS"  | saslpasswd2 -f "$db" -p -c -u "$RK_CYRUS_REALM" "$RK_CYRUS_USER"
  printf '%s' "$RK_CYRUS_PASS2" | saslpasswd2 -f "$db" -p -c -u "$RK_CYRUS_REALM" "$RK_CYRUS_USER2"
  chown root:postfix "$db"*; chmod 640 "$db"*

  write_postfix postfix-cyrus \
"smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = $base/conf/sasl
# Realm for logins without '@' (and for NTLM, whose user name has no realm).
smtpd_sasl_local_domain = $RK_CYRUS_REALM" \
"$(smtpd_listener postfix-cyrus "$RK_CYRUS_PLAIN_PORT" plain smtpd_tls_security_level=may smtpd_tls_auth_only=no)
$(smtpd_listener postfix-cyrus "$RK_CYRUS_STARTTLS_PORT" starttls smtpd_tls_security_level=encrypt smtpd_tls_auth_only=yes)"
  mkdir -p "$base/conf/sasl"
  cat > "$base/conf/sasl/smtpd.conf" <<EOF
pwcheck_method: auxprop
auxprop_plugin: sasldb
sasldb_path: $db
mech_list: ${RK_CYRUS_MECHS:-PLAIN LOGIN CRAM-MD5 DIGEST-MD5 NTLM}
log_level: 3
EOF
  start_postfix postfix-cyrus
  wait_smtp "postfix-cyrus plain" "$RK_CYRUS_PLAIN_PORT" plain "$base/postfix.log"
  wait_smtp "postfix-cyrus starttls" "$RK_CYRUS_STARTTLS_PORT" plain "$base/postfix.log"
}

# ---------------------------------------------------------------- maildev ----
wait_http() {  # NAME URL LOG
  local name=$1 url=$2 log=$3
  if "$PY" - "$url" "$RK_WAIT_SECS" <<'EOF'
import sys, time, urllib.request
url, secs = sys.argv[1], float(sys.argv[2])
deadline = time.monotonic() + secs
last = None
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            if r.status == 200:
                sys.exit(0)
    except Exception as e:
        last = repr(e)
    time.sleep(0.2)
print(f"{url} not answering within {secs}s: {last}", file=sys.stderr)
sys.exit(1)
EOF
  then rk_log "$name up at $url"
  else rk_log "$name did not come up; log follows"; tail -n 80 "$log" >&2; exit 1
  fi
}

start_maildev_role() {
  check_ports "$RK_MAILDEV_PLAIN_PORT" "$RK_MAILDEV_PLAIN_WEB_PORT" "$RK_MAILDEV_TLS_PORT" "$RK_MAILDEV_TLS_WEB_PORT"
  [ -x "$RK_MAILDEV_BIN" ] || rk_die "maildev not installed ($RK_MAILDEV_BIN): run install.sh"
  mkdir -p "$S/maildev/plain" "$S/maildev/tls"
  local common=(--ip 127.0.0.1 --web-ip 127.0.0.1
                --incoming-user "$RK_MAILDEV_USER" --incoming-pass "$RK_MAILDEV_PASS")
  spawn maildev-plain "$S/logs/maildev-plain.log" "$RK_MAILDEV_BIN" "${common[@]}" \
    --smtp "$RK_MAILDEV_PLAIN_PORT" --web "$RK_MAILDEV_PLAIN_WEB_PORT" \
    --mail-directory "$S/maildev/plain"
  spawn maildev-tls "$S/logs/maildev-tls.log" "$RK_MAILDEV_BIN" "${common[@]}" \
    --smtp "$RK_MAILDEV_TLS_PORT" --web "$RK_MAILDEV_TLS_WEB_PORT" \
    --mail-directory "$S/maildev/tls" \
    --incoming-secure --incoming-cert "$S/certs/server-chain.crt" --incoming-key "$S/certs/server.key"
  wait_smtp "maildev plain" "$RK_MAILDEV_PLAIN_PORT" plain "$S/logs/maildev-plain.log"
  wait_smtp "maildev implicit-tls" "$RK_MAILDEV_TLS_PORT" tls "$S/logs/maildev-tls.log"
  wait_http "maildev plain API" "http://127.0.0.1:$RK_MAILDEV_PLAIN_WEB_PORT/api/email" "$S/logs/maildev-plain.log"
  wait_http "maildev tls API" "http://127.0.0.1:$RK_MAILDEV_TLS_WEB_PORT/api/email" "$S/logs/maildev-tls.log"
}

# ---------------------------------------------------------------- aiosmtpd ---
basic_users() {  # DIR: DIR/messages, and DIR/users with the two test users (--mode basic, badscram)
  mkdir -p "$1/messages"
  printf '%s:%s\n%s:%s\n' "$RK_USER" "$RK_PASS" "$RK_USER2" "$RK_PASS2" > "$1/users"
  chmod 600 "$1/users"
}

start_aiosmtpd_role() {
  check_ports "$RK_AIOSMTPD_PORT"
  local d="$S/aiosmtpd"
  basic_users "$d"
  spawn aiosmtpd "$S/logs/aiosmtpd.log" "$PY" "$RK_SERVERS_DIR/aiosmtpd_server.py" --mode basic \
    --port "$RK_AIOSMTPD_PORT" --users "$d/users" --maildir "$d/messages" \
    --cert "$S/certs/server-chain.crt" --key "$S/certs/server.key" --reject-rcpt "$RK_REJECT_RCPT" \
    --advertise REQUIRETLS
  wait_smtp "aiosmtpd (PLAIN LOGIN CRAM-MD5)" "$RK_AIOSMTPD_PORT" plain "$S/logs/aiosmtpd.log"
}

start_ntlm_role() {
  check_ports "$RK_NTLM_PORT"
  local d="$S/ntlm"
  mkdir -p "$d/messages"
  # pyspnego NTLM_USER_FILE: DOMAIN:user:password, and :user@domain:password for UPN logins.
  {
    printf '%s:%s:%s\n' "$RK_NTLM_DOMAIN" "$RK_NTLM_USER" "$RK_NTLM_PASS"
    printf ':%s@%s:%s\n' "$RK_NTLM_USER" "$RK_DOMAIN" "$RK_NTLM_PASS"
    printf '%s:%s:%s\n' "$RK_NTLM_DOMAIN" "$RK_NTLM_USER2" "$RK_NTLM_PASS2"
    printf ':%s@%s:%s\n' "$RK_NTLM_USER2" "$RK_DOMAIN" "$RK_NTLM_PASS2"
  } > "$d/users"
  chmod 600 "$d/users"
  spawn ntlm "$S/logs/ntlm.log" "$PY" "$RK_SERVERS_DIR/aiosmtpd_server.py" --mode ntlm \
    --port "$RK_NTLM_PORT" --users "$d/users" --maildir "$d/messages" \
    --cert "$S/certs/server-chain.crt" --key "$S/certs/server.key" --reject-rcpt "$RK_REJECT_RCPT" \
    --ntlm-lm-compat "${RK_NTLM_LM_COMPAT:-5}"
  wait_smtp "ntlm verifier (aiosmtpd+pyspnego)" "$RK_NTLM_PORT" plain "$S/logs/ntlm.log"
}

# A scripted fault server, because no real server can be made to send a wrong SCRAM server
# signature: a real SCRAM-SHA-256 exchange whose v= is wrong, beside CRAM-MD5, PLAIN and LOGIN
# that accept the right password; every AUTH it receives is recorded (mechanism only).
start_badscram_role() {
  check_ports "$RK_BADSCRAM_PORT"
  local d="$S/badscram"
  basic_users "$d"
  : > "$d/auth.jsonl"
  spawn badscram "$S/logs/badscram.log" "$PY" "$RK_SERVERS_DIR/aiosmtpd_server.py" --mode badscram \
    --port "$RK_BADSCRAM_PORT" --users "$d/users" --maildir "$d/messages" --record "$d/auth.jsonl"
  wait_smtp "badscram (SCRAM-SHA-256 with a wrong signature)" "$RK_BADSCRAM_PORT" plain "$S/logs/badscram.log"
}

# A scripted fake (tests/faults/fake_smtp.py), for faults no real server produces on demand:
# a connection dropped after a message's final "." without a reply, and out-of-order or
# missing replies to pipelined commands. Every connection and message is recorded.
start_faults_role() {
  check_ports "$RK_FAULTS_PORT"
  local d="$S/faults"
  mkdir -p "$d"
  : > "$d/record.jsonl"
  spawn faults "$S/logs/faults.log" "$PY" "$RK_REPO_DIR/tests/faults/fake_smtp.py" \
    --port "$RK_FAULTS_PORT" --record "$d/record.jsonl"
  wait_smtp "faults (scripted fake: drop after the dot, bad pipelining)" "$RK_FAULTS_PORT" plain "$S/logs/faults.log"
}

# The fault suite's hostile server (tests/faults/hostile.py), for faults no real server produces
# on demand: one port per scenario of tests/faults/scenarios.json (scenario i on
# RK_HOSTILE_BASE_PORT + i); it writes the RK_HOSTILE_<SCENARIO>_PORT lines once every port
# listens, and one JSON line per connection to the record.
start_hostile_role() {
  local d="$S/hostile" scenarios="$RK_REPO_DIR/tests/faults/scenarios.json" n i
  n=$("$PY" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["scenarios"]))' "$scenarios")
  local ports=(); for ((i = 0; i < n; i++)); do ports+=($((RK_HOSTILE_BASE_PORT + i))); done
  check_ports "${ports[@]}"
  mkdir -p "$d"
  : > "$d/record.jsonl"
  rm -f "$d/ports.env"
  spawn hostile "$S/logs/hostile.log" "$PY" "$RK_REPO_DIR/tests/faults/hostile.py" \
    --scenarios "$scenarios" --base-port "$RK_HOSTILE_BASE_PORT" --record "$d/record.jsonl" \
    --cert "$S/certs/server-chain.crt" --key "$S/certs/server.key" --env-out "$d/ports.env"
  local deadline=$(( $(date +%s) + RK_WAIT_SECS ))
  until [ -s "$d/ports.env" ]; do
    if [ "$(date +%s)" -ge "$deadline" ] || ! kill -0 "$(cat "$S/pids/hostile.pid")" 2>/dev/null; then
      tail -n 80 "$S/logs/hostile.log" >&2; rk_die "hostile did not come up"
    fi
    sleep 0.1
  done
  rk_log "hostile up: $n scenarios on 127.0.0.1:$RK_HOSTILE_BASE_PORT..$((RK_HOSTILE_BASE_PORT + n - 1))"
}

source "$RK_SERVERS_DIR/roles_reach.sh"

# ---------------------------------------------------------------- env file ---
write_env() {
  local f="$S/servers.env.tmp"
  {
    echo "# Written by tests/servers/start.sh at $(date -u +%Y-%m-%dT%H:%M:%SZ). KEY=VALUE, no quoting needed."
    echo "RK_STATE=$S"
    echo "RK_ROLES=$RK_ROLES"
    echo "RK_HOST=$RK_HOST"
    echo "RK_CA_FILE=$S/certs/ca.crt"
    echo "RK_SERVER_CERT=$S/certs/server.crt"
    echo "RK_TLS_NAME=localhost"
    echo "RK_DOMAIN=$RK_DOMAIN"
    echo "RK_DOMAIN2=$RK_DOMAIN2"
    echo "RK_USER=$RK_USER"
    echo "RK_PASS=$RK_PASS"
    echo "RK_USER2=$RK_USER2"
    echo "RK_PASS2=$RK_PASS2"
    echo "RK_BAD_PASS=wrong-password"
    echo "RK_REJECT_RCPT=$RK_REJECT_RCPT"
    echo "RK_RCPT=carol@$RK_DOMAIN"
    echo "RK_RELAY_RCPT=someone@example.net"
    for role in $RK_ROLES; do
      case "$role" in
        dovecot)
          echo "RK_DOVECOT_PLAIN_PORT=$RK_DOVECOT_PLAIN_PORT"
          echo "RK_DOVECOT_STARTTLS_PORT=$RK_DOVECOT_STARTTLS_PORT"
          echo "RK_DOVECOT_IMPLICIT_PORT=$RK_DOVECOT_IMPLICIT_PORT"
          echo "RK_DOVECOT_MECHS=PLAIN,LOGIN,CRAM-MD5,SCRAM-SHA-1,SCRAM-SHA-256"
          echo "RK_DOVECOT_MAIL_DIR=$S/postfix-dovecot/mail"
          echo "RK_DOVECOT_LOG=$S/postfix-dovecot/postfix.log"
          echo "RK_POSTFIX_IDLE_PORT=$RK_POSTFIX_IDLE_PORT"
          echo "RK_POSTFIX_IDLE_SECS=$RK_POSTFIX_IDLE_SECS"
          echo "RK_POSTFIX_CONNLIMIT_PORT=$RK_POSTFIX_CONNLIMIT_PORT"
          echo "RK_POSTFIX_RATELIMIT_PORT=$RK_POSTFIX_RATELIMIT_PORT"
          echo "RK_POSTFIX_RATE_MESSAGES=$RK_POSTFIX_RATE_MESSAGES"
          echo "RK_POSTFIX_RATE_SECS=$RK_POSTFIX_RATE_SECS"
          echo "RK_POSTFIX_POLICY_PORT=$RK_POSTFIX_POLICY_PORT"
          echo "RK_SOAK_POLICY_LOG=$S/soak-policy/decisions.jsonl"
          ;;
        cyrus)
          echo "RK_CYRUS_PLAIN_PORT=$RK_CYRUS_PLAIN_PORT"
          echo "RK_CYRUS_STARTTLS_PORT=$RK_CYRUS_STARTTLS_PORT"
          echo "RK_CYRUS_MECHS=$(echo "${RK_CYRUS_MECHS:-PLAIN LOGIN CRAM-MD5 DIGEST-MD5 NTLM}" | tr ' ' ,)"
          echo "RK_CYRUS_REALM=$RK_CYRUS_REALM"
          echo "RK_CYRUS_USER=$RK_CYRUS_USER"
          echo "RK_CYRUS_PASS=$RK_CYRUS_PASS"
          echo "RK_CYRUS_USER2=$RK_CYRUS_USER2"
          echo "RK_CYRUS_PASS2=$RK_CYRUS_PASS2"
          echo "RK_CYRUS_NTLM_DOMAIN=$RK_NTLM_DOMAIN"
          echo "RK_CYRUS_MAIL_DIR=$S/postfix-cyrus/mail"
          echo "RK_CYRUS_LOG=$S/postfix-cyrus/postfix.log"
          ;;
        maildev)
          echo "RK_MAILDEV_PLAIN_PORT=$RK_MAILDEV_PLAIN_PORT"
          echo "RK_MAILDEV_TLS_PORT=$RK_MAILDEV_TLS_PORT"
          echo "RK_MAILDEV_USER=$RK_MAILDEV_USER"
          echo "RK_MAILDEV_PASS=$RK_MAILDEV_PASS"
          echo "RK_MAILDEV_MECHS=LOGIN,PLAIN"
          echo "RK_MAILDEV_PLAIN_API=http://127.0.0.1:$RK_MAILDEV_PLAIN_WEB_PORT/api"
          echo "RK_MAILDEV_TLS_API=http://127.0.0.1:$RK_MAILDEV_TLS_WEB_PORT/api"
          echo "RK_MAILDEV_PLAIN_DIR=$S/maildev/plain"
          echo "RK_MAILDEV_TLS_DIR=$S/maildev/tls"
          ;;
        aiosmtpd)
          echo "RK_AIOSMTPD_PORT=$RK_AIOSMTPD_PORT"
          echo "RK_AIOSMTPD_MECHS=CRAM-MD5,LOGIN,PLAIN"
          echo "RK_AIOSMTPD_DIR=$S/aiosmtpd/messages"
          echo "RK_AIOSMTPD_LOG=$S/logs/aiosmtpd.log"
          ;;
        ntlm)
          echo "RK_NTLM_PORT=$RK_NTLM_PORT"
          echo "RK_NTLM_DOMAIN=$RK_NTLM_DOMAIN"
          echo "RK_NTLM_USER=$RK_NTLM_USER"
          echo "RK_NTLM_PASS=$RK_NTLM_PASS"
          echo "RK_NTLM_USER2=$RK_NTLM_USER2"
          echo "RK_NTLM_PASS2=$RK_NTLM_PASS2"
          echo "RK_NTLM_UPN=$RK_NTLM_USER@$RK_DOMAIN"
          echo "RK_NTLM_UPN2=$RK_NTLM_USER2@$RK_DOMAIN"
          echo "RK_NTLM_LM_COMPAT=${RK_NTLM_LM_COMPAT:-5}"
          echo "RK_NTLM_DIR=$S/ntlm/messages"
          echo "RK_NTLM_LOG=$S/logs/ntlm.log"
          ;;
        faults)
          echo "RK_FAULTS_PORT=$RK_FAULTS_PORT"
          echo "RK_FAULTS_RECORD=$S/faults/record.jsonl"
          echo "RK_FAULTS_LOG=$S/logs/faults.log"
          ;;
        hostile)
          echo "RK_HOSTILE_BASE_PORT=$RK_HOSTILE_BASE_PORT"
          echo "RK_HOSTILE_RECORD=$S/hostile/record.jsonl"
          echo "RK_HOSTILE_LOG=$S/logs/hostile.log"
          cat "$S/hostile/ports.env"
          ;;
        socks|httpproxy|lmtp|unixsmtp|ccert|oauth2) reach_env "$role" ;;
        badscram)
          echo "RK_BADSCRAM_PORT=$RK_BADSCRAM_PORT"
          echo "RK_BADSCRAM_MECHS=CRAM-MD5,LOGIN,PLAIN,SCRAM-SHA-256"
          echo "RK_BADSCRAM_RECORD=$S/badscram/auth.jsonl"
          echo "RK_BADSCRAM_LOG=$S/logs/badscram.log"
          ;;
      esac
    done
  } > "$f"
  mv "$f" "$S/servers.env"
  rk_log "wrote $S/servers.env"
}

# ---------------------------------------------------------------- main -------
gen_certs
for role in $RK_ROLES; do
  case "$role" in
    dovecot) start_dovecot_role ;;
    cyrus) start_cyrus_role ;;
    maildev) start_maildev_role ;;
    aiosmtpd) start_aiosmtpd_role ;;
    ntlm) start_ntlm_role ;;
    badscram) start_badscram_role ;;
    faults) start_faults_role ;;
    hostile) start_hostile_role ;;
    socks) start_socks_role ;;
    httpproxy) start_httpproxy_role ;;
    lmtp) start_lmtp_role ;;
    unixsmtp) start_unixsmtp_role ;;
    ccert) start_ccert_role ;;
    oauth2) start_oauth2_role ;;
    *) rk_die "unknown role $role" ;;
  esac
done
write_env
ms=$(( ($(date +%s%N) - t_start) / 1000000 ))
rk_log "started ($RK_ROLES) in $((ms / 1000)).$(printf '%03d' $((ms % 1000)))s"
