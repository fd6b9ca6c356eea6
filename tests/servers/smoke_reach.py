#!/usr/bin/env python3
"""Smoke test of the #15 roles (socks, httpproxy, lmtp, unixsmtp, ccert, oauth2), after start.sh.

Standard library only (smoke_reach.sh runs it with the venv's python like smoke.sh). Only the
roles listed in servers.env's RK_ROLES are checked. Every message sent is found on arrival (a
bounded poll of the Maildir for its Message-ID). Prints one line per check and
"N passed, N failed" last; exit 1 on failure (or when no #15 role was started).
"""
from __future__ import annotations

import base64
import glob
import hashlib
import json
import os
import smtplib
import socket
import ssl
import struct
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

from smokelib import CTX, E, HERE, HOST, POLL_SECS, ROLES, STATE, b64, check, finish, results  # noqa: F401

TIMEOUT = 20
USER, RCPT = E["RK_USER"], E["RK_RCPT"]


def new_mid():
    return f"<{uuid.uuid4()}@smoke-reach.relaykit.test>"


def message(mid, rcpt, subject="smoke-reach"):
    return (f"From: <{USER}>\r\nTo: <{rcpt}>\r\nSubject: {subject}\r\nMessage-ID: {mid}\r\n\r\n"
            "hello from smoke_reach\r\n").encode()


def wait_file(pattern, needle: bytes):
    """Bounded poll: the file matching the glob pattern that contains needle."""
    deadline = time.monotonic() + POLL_SECS
    while True:
        for f in glob.glob(pattern):
            try:
                with open(f, "rb") as fh:
                    data = fh.read()
            except OSError:
                continue
            if needle in data:
                return f, data
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing with {needle!r} in {pattern} after {POLL_SECS}s")
        time.sleep(0.05)


def files_with(pattern, needle: bytes):
    out = []
    for f in glob.glob(pattern):
        with open(f, "rb") as fh:
            if needle in fh.read():
                out.append(f)
    return out


def not_in_logs(secret: str, *logs):
    for log in logs:
        if os.path.exists(log):
            with open(log, "rb") as fh:
                assert secret.encode() not in fh.read(), f"a secret appears in {log}"


class Tunnel(smtplib.SMTP):
    """smtplib.SMTP over an already-connected socket (a proxy tunnel)."""

    def __init__(self, sock, **kw):
        self._tunnel = sock
        super().__init__(**kw)

    def _get_socket(self, host, port, timeout):
        return self._tunnel


def smtp_over(sock, mode="plain", server_hostname="localhost"):
    """Speak SMTP on a tunnel socket. mode: plain | starttls | implicit. Returns EHLO'd SMTP."""
    if mode == "implicit":
        sock = CTX.wrap_socket(sock, server_hostname=server_hostname)
    s = Tunnel(sock, timeout=TIMEOUT)
    s._host = server_hostname  # starttls() verifies this name
    code, banner = s.connect(server_hostname, 0)
    assert code == 220, (code, banner)
    s.ehlo("smoke-reach.relaykit.test")
    if mode == "starttls":
        s.starttls(context=CTX)
        s.ehlo("smoke-reach.relaykit.test")
    return s


def auth_plain(s, user, pw):
    code, text = s.docmd("AUTH", "PLAIN " + b64(f"\0{user}\0{pw}".encode()))
    assert code == 235, (code, text)


def send_and_find(s, rcpt, maildir_glob, **kw):
    mid = new_mid()
    refused = s.sendmail(USER, [rcpt], message(mid, rcpt, **kw))
    assert refused == {}, refused
    s.quit()
    return wait_file(maildir_glob, mid.encode())


def relay_rcpt_code(s):
    """MAIL, then RCPT to a non-local address; the RCPT reply (the session is closed)."""
    code, _ = s.mail(USER)
    assert code == 250, code
    code, text = s.rcpt(E["RK_RELAY_RCPT"])
    s.quit()
    return code, text


# ------------------------------------------------------------------- socks ---
def socks5(user, pw, host, port, name=False, methods=b"\x02"):
    """SOCKS5 handshake (RFC 1928/1929). Returns (stage, detail, socket or None):
    ("ok", bound address, sock) | ("method", reply) | ("auth", reply) | ("connect", reply code)."""
    sock = socket.create_connection((HOST, int(E["RK_SOCKS_PORT"])), timeout=TIMEOUT)
    sock.sendall(b"\x05" + bytes([len(methods)]) + methods)
    r = sock.recv(2)
    if r != b"\x05\x02":
        sock.close()
        return "method", r, None
    u, p = user.encode(), pw.encode()
    sock.sendall(b"\x01" + bytes([len(u)]) + u + bytes([len(p)]) + p)
    r = sock.recv(2)
    if r != b"\x01\x00":
        rest = sock.recv(1)  # Dante closes after a failed login
        sock.close()
        return "auth", (r, rest), None
    if name:
        dst = b"\x03" + bytes([len(host)]) + host.encode()
    else:
        dst = b"\x01" + socket.inet_aton(host)
    sock.sendall(b"\x05\x01\x00" + dst + struct.pack(">H", int(port)))
    head = sock.recv(4)
    if len(head) < 2 or head[1] != 0:
        sock.close()
        return "connect", head[1] if len(head) > 1 else None, None
    alen = {1: 4, 4: 16}.get(head[3])
    if alen is None:
        alen = sock.recv(1)[0]
    sock.recv(alen + 2)
    return "ok", head, sock


if "socks" in ROLES:
    SU, SP = E["RK_SOCKS_USER"], E["RK_SOCKS_PASS"]
    MAIL = E.get("RK_DOVECOT_MAIL_DIR")

    @check("socks: right password, STARTTLS + AUTH through the tunnel, message arrives")
    def _():
        assert MAIL, "the socks checks need the dovecot role"
        stage, detail, sock = socks5(SU, SP, HOST, E["RK_DOVECOT_STARTTLS_PORT"])
        assert stage == "ok", (stage, detail)
        s = smtp_over(sock, "starttls")
        auth_plain(s, USER, E["RK_PASS"])
        send_and_find(s, RCPT, f"{MAIL}/relaykit.test/carol/new/*")

    @check("socks: socks5h (the proxy resolves 'localhost'), implicit TLS, message arrives")
    def _():
        stage, detail, sock = socks5(SU, SP, "localhost", E["RK_DOVECOT_IMPLICIT_PORT"], name=True)
        assert stage == "ok", (stage, detail)
        s = smtp_over(sock, "implicit")
        auth_plain(s, USER, E["RK_PASS"])
        send_and_find(s, RCPT, f"{MAIL}/relaykit.test/carol/new/*")

    @check("socks: wrong password -> RFC 1929 status 1, connection closed")
    def _():
        stage, detail, _s = socks5(SU, E["RK_SOCKS_BAD_PASS"], HOST, E["RK_DOVECOT_PLAIN_PORT"])
        assert stage == "auth" and detail[0][0] == 1 and detail[0][1] != 0, (stage, detail)
        assert detail[1] == b"", "the connection stays open"

    @check("socks: unknown user -> refused like a wrong password")
    def _():
        stage, detail, _s = socks5("nosuchuser", SP, HOST, E["RK_DOVECOT_PLAIN_PORT"])
        assert stage == "auth" and detail[0][1] != 0, (stage, detail)

    @check("socks: no-authentication method only -> 0xFF (no acceptable method)")
    def _():
        stage, detail, _s = socks5(SU, SP, HOST, E["RK_DOVECOT_PLAIN_PORT"], methods=b"\x00")
        assert (stage, detail) == ("method", b"\x05\xff"), (stage, detail)

    @check("socks: a port outside RK_PROXY_ALLOWED_PORTS -> reply 2 (not allowed by ruleset)")
    def _():
        stage, detail, _s = socks5(SU, SP, HOST, E["RK_PROXY_DENIED_PORT"])
        assert (stage, detail) == ("connect", 2), (stage, detail)

    @check("socks: socks5h with a name that does not resolve -> reply 4 (host unreachable)")
    def _():
        stage, detail, _s = socks5(SU, SP, "nonexistent.invalid", E["RK_DOVECOT_PLAIN_PORT"], name=True)
        assert (stage, detail) == ("connect", 4), (stage, detail)

    @check("socks: the proxy password is not in Dante's log")
    def _():
        not_in_logs(SP, E["RK_SOCKS_LOG"])


# --------------------------------------------------------------- httpproxy ---
def http_connect(port, target, creds=None):
    """HTTP CONNECT. Returns (status code, socket positioned after the headers, or None)."""
    sock = socket.create_connection((HOST, int(port)), timeout=TIMEOUT)
    req = f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n"
    if creds:
        req += "Proxy-Authorization: Basic " + b64(creds.encode()) + "\r\n"
    sock.sendall((req + "\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:  # read byte-wise: nothing of the tunnel may be consumed
        c = sock.recv(1)
        if not c:
            break
        head += c
    code = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
    if code != 200:
        sock.close()
        return code, None
    return code, sock


if "httpproxy" in ROLES:
    HP, HPA = E["RK_HTTP_PROXY_PORT"], E["RK_HTTP_PROXY_AUTH_PORT"]
    HCREDS = f"{E['RK_HTTP_PROXY_USER']}:{E['RK_HTTP_PROXY_PASS']}"
    MAIL = E.get("RK_DOVECOT_MAIL_DIR")

    @check("httpproxy: CONNECT (no proxy auth), implicit TLS + AUTH, message arrives")
    def _():
        assert MAIL, "the httpproxy checks need the dovecot role"
        code, sock = http_connect(HP, f"localhost:{E['RK_DOVECOT_IMPLICIT_PORT']}")
        assert code == 200, code
        s = smtp_over(sock, "implicit")
        auth_plain(s, USER, E["RK_PASS"])
        send_and_find(s, RCPT, f"{MAIL}/relaykit.test/carol/new/*")

    @check("httpproxy: CONNECT with Basic auth, STARTTLS + AUTH, message arrives")
    def _():
        code, sock = http_connect(HPA, f"127.0.0.1:{E['RK_DOVECOT_STARTTLS_PORT']}", HCREDS)
        assert code == 200, code
        s = smtp_over(sock, "starttls")
        auth_plain(s, USER, E["RK_PASS"])
        send_and_find(s, RCPT, f"{MAIL}/relaykit.test/carol/new/*")

    @check("httpproxy: auth proxy without credentials -> 407; wrong password -> 401 (Tinyproxy)")
    def _():
        target = f"127.0.0.1:{E['RK_DOVECOT_PLAIN_PORT']}"
        assert http_connect(HPA, target)[0] == 407
        assert http_connect(HPA, target, f"{E['RK_HTTP_PROXY_USER']}:{E['RK_HTTP_PROXY_BAD_PASS']}")[0] == 401

    @check("httpproxy: a port outside RK_PROXY_ALLOWED_PORTS -> 403, on both proxies")
    def _():
        target = f"127.0.0.1:{E['RK_PROXY_DENIED_PORT']}"
        assert http_connect(HP, target)[0] == 403
        assert http_connect(HPA, target, HCREDS)[0] == 403

    @check("httpproxy: CONNECT to a name that does not resolve -> 500")
    def _():
        assert http_connect(HP, f"nonexistent.invalid:{E['RK_DOVECOT_PLAIN_PORT']}")[0] == 500

    @check("httpproxy: the proxy password is not in Tinyproxy's logs")
    def _():
        not_in_logs(E["RK_HTTP_PROXY_PASS"], E["RK_HTTP_PROXY_LOG"], E["RK_HTTP_PROXY_AUTH_LOG"])
        not_in_logs(b64(HCREDS.encode()), E["RK_HTTP_PROXY_AUTH_LOG"])


# -------------------------------------------------------------------- lmtp ---
def lmtp_transaction(target, rcpts, mid):
    """LHLO, MAIL, RCPT each, DATA; returns (LHLO reply, RCPT codes, per-recipient data replies)."""
    if isinstance(target, str):
        sock = socket.socket(socket.AF_UNIX)
        sock.settimeout(TIMEOUT)
        sock.connect(target)
    else:
        sock = socket.create_connection(target, timeout=TIMEOUT)
    rd = sock.makefile("rb")

    def reply():
        lines = []
        while True:
            line = rd.readline()
            assert line, f"connection closed after {lines}"
            lines.append(line.rstrip(b"\r\n"))
            if line[3:4] != b"-":
                return lines

    assert reply()[0].startswith(b"220 ")
    sock.sendall(b"LHLO smoke-reach.relaykit.test\r\n")
    lhlo = reply()
    sock.sendall(f"MAIL FROM:<{USER}>\r\n".encode())
    assert reply()[0].startswith(b"250 ")
    rcpt_codes, accepted = [], []
    for r in rcpts:
        sock.sendall(f"RCPT TO:<{r}>\r\n".encode())
        line = reply()[-1]
        rcpt_codes.append(line[:9].decode())
        if line.startswith(b"250"):
            accepted.append(r)
    sock.sendall(b"DATA\r\n")
    assert reply()[0].startswith(b"354")
    sock.sendall(message(mid, rcpts[0], "smoke-reach lmtp") + b".\r\n")
    data = {r: reply()[-1].decode() for r in accepted}  # RFC 2033: one reply per accepted RCPT
    sock.sendall(b"QUIT\r\n")
    reply()
    sock.close()
    return lhlo, rcpt_codes, data


if "lmtp" in ROLES:
    LM = E["RK_LMTP_MAIL_DIR"]
    FULL, REJ = E["RK_LMTP_FULL_RCPT"], E["RK_LMTP_REJECT_RCPT"]

    def lmtp_case(target, user):
        mid = new_mid()
        rcpt = f"{user}@{E['RK_DOMAIN']}"
        lhlo, codes, data = lmtp_transaction(target, [rcpt, REJ, FULL], mid)
        assert lhlo[-1].startswith(b"250 ") and any(b"PIPELINING" in x for x in lhlo), lhlo
        assert codes[0].startswith("250 2.1.5") and codes[1].startswith("550 5.1.1") \
            and codes[2].startswith("250 2.1.5"), codes
        assert data[rcpt].startswith("250 2.0.0 ") and data[FULL].startswith("552 5.2.2 "), data
        wait_file(f"{LM}/{E['RK_DOMAIN']}/{user}/new/*", mid.encode())
        assert not files_with(f"{LM}/{E['RK_DOMAIN']}/full/new/*", mid.encode()), "full@ got it"

    @check("lmtp over TCP: 550 at RCPT for reject@, 250 + 552 after DATA, message in the Maildir")
    def _():
        lmtp_case((HOST, int(E["RK_LMTP_PORT"])), "alice")

    @check("lmtp over the Unix socket: the same partial result, message in the Maildir")
    def _():
        lmtp_case(E["RK_LMTP_SOCKET"], "bob")


# ---------------------------------------------------------------- unixsmtp ---
def unix_smtp(path):
    sock = socket.socket(socket.AF_UNIX)
    sock.settimeout(TIMEOUT)
    sock.connect(path)
    return smtp_over(sock, "plain")


if "unixsmtp" in ROLES:
    SOCK = E["RK_SMTP_SOCKET"]
    UMAIL = E["RK_UNIXSMTP_MAIL_DIR"]

    @check("unixsmtp: EHLO over the Unix socket, STARTTLS (name localhost), message arrives")
    def _():
        s = unix_smtp(SOCK)
        assert "starttls" in s.esmtp_features, s.esmtp_features
        s.starttls(context=CTX)
        s.ehlo("smoke-reach.relaykit.test")
        send_and_find(s, RCPT, f"{UMAIL}/relaykit.test/carol/new/*")

    @check("unixsmtp: AUTH PLAIN (dovecot role) then relay; without AUTH relay is refused")
    def _():
        s = unix_smtp(SOCK)
        code, text = relay_rcpt_code(s)
        assert code == 554 and b"Relay access denied" in text, (code, text)
        if not E["RK_UNIXSMTP_MECHS"]:
            raise AssertionError("no AUTH: start the dovecot role before unixsmtp")
        s = unix_smtp(SOCK)
        assert s.esmtp_features["auth"].split() == E["RK_UNIXSMTP_MECHS"].split(","), s.esmtp_features
        auth_plain(s, E["RK_USER2"], E["RK_PASS2"])
        send_and_find(s, E["RK_RELAY_RCPT"], f"{UMAIL}/_relayed/new/*")


# ------------------------------------------------------------------- ccert ---
def ctx_with(cert=None, key=None):
    c = ssl.create_default_context(cafile=E["RK_CA_FILE"])
    if cert:
        c.load_cert_chain(cert, key)
    return c


def ccert_session(port, mode, cert=None, key=None):
    if mode == "implicit":
        s = smtplib.SMTP_SSL("localhost", int(port), timeout=TIMEOUT, context=ctx_with(cert, key))
        s.ehlo("smoke-reach.relaykit.test")
    else:
        s = smtplib.SMTP("localhost", int(port), timeout=TIMEOUT)
        s.ehlo("smoke-reach.relaykit.test")
        if mode == "starttls":
            s.starttls(context=ctx_with(cert, key))
            s.ehlo("smoke-reach.relaykit.test")
    return s


if "ccert" in ROLES:
    CP, CIP = E["RK_CCERT_PORT"], E["RK_CCERT_IMPLICIT_PORT"]
    CERT, KEY = E["RK_CLIENT_CERT"], E["RK_CLIENT_KEY"]
    OCERT, OKEY = E["RK_OTHER_CLIENT_CERT"], E["RK_OTHER_CLIENT_KEY"]
    RELAYED = f"{E['RK_CCERT_MAIL_DIR']}/_relayed/new/*"

    @check("ccert STARTTLS: the test client certificate may relay; message arrives, Received names it")
    def _():
        s = ccert_session(CP, "starttls", CERT, KEY)
        assert "auth" not in s.esmtp_features, "no SASL on the ccert listeners"
        _f, data = send_and_find(s, E["RK_RELAY_RCPT"], RELAYED)
        assert b'Client CN "relaykit test client"' in data and b"(verified OK)" in data, data[:600]

    @check("ccert implicit TLS: the test client certificate (as chain cert + CA) may relay; message arrives")
    def _():
        send_and_find(ccert_session(CIP, "implicit", E["RK_CLIENT_CHAIN"], KEY), E["RK_RELAY_RCPT"], RELAYED)

    @check("ccert: the other (untrusted) certificate, no certificate, no TLS -> 554 5.7.1 relay denied")
    def _():
        for port, mode, cert, key in ((CP, "starttls", OCERT, OKEY), (CP, "starttls", None, None),
                                      (CP, "plain", None, None), (CIP, "implicit", OCERT, OKEY),
                                      (CIP, "implicit", None, None)):
            code, text = relay_rcpt_code(ccert_session(port, mode, cert, key))
            assert code == 554 and b"Relay access denied" in text, (port, mode, cert, code, text)

    @check("ccert: without a certificate mail to a local test domain is still accepted")
    def _():
        s = ccert_session(CP, "starttls")
        send_and_find(s, RCPT, f"{E['RK_CCERT_MAIL_DIR']}/relaykit.test/carol/new/*")

    SUB = E["RK_CCERT_SUBMISSION_PORT"]
    EXT_USER = E["RK_CCERT_EXTERNAL_USER"]

    @check("ccert submission: AUTH EXTERNAL with the client certificate -> 235; message arrives")
    def _():
        s = ccert_session(SUB, "starttls", CERT, KEY)
        assert s.esmtp_features["auth"].split() == ["EXTERNAL"], s.esmtp_features.get("auth")
        code, text = s.docmd("AUTH", "EXTERNAL =")  # empty authzid: the certificate's identity
        assert code == 235, (code, text)
        send_and_find(s, RCPT, f"{E['RK_CCERT_MAIL_DIR']}/relaykit.test/carol/new/*")

    @check("ccert submission: EXTERNAL with authzid = the certificate's user -> 235, another user -> 535")
    def _():
        s = ccert_session(SUB, "starttls", CERT, KEY)
        code, text = s.docmd("AUTH", "EXTERNAL " + b64(EXT_USER.encode()))
        assert code == 235, (code, text)
        s.quit()
        s = ccert_session(SUB, "starttls", CERT, KEY)
        code, text = s.docmd("AUTH", "EXTERNAL " + b64(E["RK_USER2"].encode()))
        assert code == 535, (code, text)
        s.quit()

    @check("ccert submission: EXTERNAL with the other certificate, none, or before TLS -> 535; MAIL -> 530")
    def _():
        for mode, cert, key in (("starttls", OCERT, OKEY), ("starttls", None, None), ("plain", None, None)):
            s = ccert_session(SUB, mode, cert, key)
            code, text = s.docmd("AUTH", "EXTERNAL =")
            assert code == 535, (mode, cert, code, text)
            code, text = s.mail(USER)
            assert code == 530, (mode, cert, code, text)
            s.quit()


# ------------------------------------------------------------------ oauth2 ---
def post(url, **form):
    req = urllib.request.Request(url, data=urllib.parse.urlencode(form).encode())
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def get_token(user=None, password=None, **kw):
    code, body = post(E["RK_OAUTH_TOKEN_URL"], grant_type="password", username=user or E["RK_OAUTH_USER"],
                      password=password or E["RK_OAUTH_PASS"], **kw)
    assert code == 200 and body["token_type"] == "Bearer", (code, body.get("error"))
    return body


def oauth_session():
    s = smtplib.SMTP(HOST, int(E["RK_OAUTH_PORT"]), timeout=TIMEOUT)
    s.ehlo("smoke-reach.relaykit.test")
    return s


def oauth_login(s, mech, user, token):
    """One AUTH exchange; returns the final (code, text). On failure the server sends a 334 with
    a JSON error, which the client answers (XOAUTH2: empty line; OAUTHBEARER: ^A)."""
    if mech == "OAUTHBEARER":  # RFC 7628
        ir = f"n,a={user},\x01host=localhost\x01port={E['RK_OAUTH_PORT']}\x01auth=Bearer {token}\x01\x01"
    else:
        ir = f"user={user}\x01auth=Bearer {token}\x01\x01"
    code, text = s.docmd("AUTH", f"{mech} {b64(ir.encode())}")
    if code == 334:
        err = json.loads(base64.b64decode(text))
        code, text = s.docmd("" if mech == "XOAUTH2" else "AQ==")
        return code, text, err
    return code, text, None


def oauth_tid(token):  # how oauth2_server.py names a token in its record
    return hashlib.sha256(token.encode()).hexdigest()[:12]


def oauth_records(**match):
    with open(E["RK_OAUTH_RECORD"], encoding="utf-8") as fh:
        events = [json.loads(line) for line in fh if line.strip()]
    return [e for e in events if all(e.get(k) == v for k, v in match.items())]


if "oauth2" in ROLES:
    OU = E["RK_OAUTH_USER"]
    OMAIL = f"{E['RK_OAUTH_MAIL_DIR']}/relaykit.test/carol/new/*"
    TOKENS = []

    @check("oauth2: EHLO offers AUTH OAUTHBEARER XOAUTH2 only")
    def _():
        s = oauth_session()
        assert s.esmtp_features["auth"].split() == ["OAUTHBEARER", "XOAUTH2"], s.esmtp_features["auth"]
        s.quit()

    @check("oauth2: OAUTHBEARER with a fresh token -> 235, relayed message arrives")
    def _():
        tok = get_token()
        TOKENS.append(tok["access_token"])
        s = oauth_session()
        code, text, _e = oauth_login(s, "OAUTHBEARER", OU, tok["access_token"])
        assert code == 235, (code, text)
        # relaying needs permit_sasl_authenticated: proves the login counted
        send_and_find(s, E["RK_RELAY_RCPT"], f"{E['RK_OAUTH_MAIL_DIR']}/_relayed/new/*")

    @check("oauth2: without AUTH, relaying is refused (554 5.7.1)")
    def _():
        s = oauth_session()
        code, text = relay_rcpt_code(s)
        assert code == 554 and b"Relay access denied" in text, (code, text)

    @check("oauth2: XOAUTH2 with a fresh token -> 235, message arrives")
    def _():
        tok = get_token()
        TOKENS.append(tok["access_token"])
        s = oauth_session()
        code, text, _e = oauth_login(s, "XOAUTH2", OU, tok["access_token"])
        assert code == 235, (code, text)
        send_and_find(s, RCPT, OMAIL)

    @check("oauth2: revoked token -> 334 JSON error then 535 (XOAUTH2 status 401, OAUTHBEARER invalid_token)")
    def _():
        tok = get_token()
        TOKENS.append(tok["access_token"])
        assert post(E["RK_OAUTH_REVOKE_URL"], token=tok["access_token"])[0] == 200
        s = oauth_session()
        code, text, err = oauth_login(s, "XOAUTH2", OU, tok["access_token"])
        assert code == 535 and err["status"] == "401", (code, text, err)
        code, text, err = oauth_login(s, "OAUTHBEARER", OU, tok["access_token"])
        assert code == 535 and err["status"] == "invalid_token", (code, text, err)
        s.quit()

    @check("oauth2: a token that expires (expires_in=1) is refused; the refreshed one logs in")
    def _():
        tok = get_token(expires_in=1)
        TOKENS.append(tok["access_token"])
        s = oauth_session()
        assert oauth_login(s, "OAUTHBEARER", OU, tok["access_token"])[0] == 235
        s.quit()
        # bounded poll of the introspection endpoint until the server itself calls it dead
        deadline = time.monotonic() + POLL_SECS
        while post(E["RK_OAUTH_INTROSPECT_URL"], token=tok["access_token"])[1].get("active"):
            assert time.monotonic() < deadline, "the 1 s token did not expire"
            time.sleep(0.1)
        s = oauth_session()
        code, text, err = oauth_login(s, "OAUTHBEARER", OU, tok["access_token"])
        assert code == 535 and err, (code, text)
        code, new = post(E["RK_OAUTH_TOKEN_URL"], grant_type="refresh_token", refresh_token=tok["refresh_token"])
        assert code == 200 and new["access_token"] != tok["access_token"], code
        TOKENS.append(new["access_token"])
        code, text, _e = oauth_login(s, "OAUTHBEARER", OU, new["access_token"])
        assert code == 235, (code, text)
        send_and_find(s, RCPT, OMAIL)
        assert [e["event"] for e in oauth_records(user=OU) if e.get("token") in
                {oauth_tid(tok["access_token"]), oauth_tid(new["access_token"])} and e["event"] != "introspect"] \
            == ["issued", "refreshed"]

    @check("oauth2: another user's token -> 535 (Dovecot compares the username)")
    def _():
        tok = get_token(E["RK_USER2"], E["RK_PASS2"])
        TOKENS.append(tok["access_token"])
        s = oauth_session()
        code, text, _e = oauth_login(s, "XOAUTH2", OU, tok["access_token"])
        assert code == 535, (code, text)
        s.quit()

    @check("oauth2: the token endpoint refuses a wrong password and a bad refresh token (400 invalid_grant)")
    def _():
        assert post(E["RK_OAUTH_TOKEN_URL"], grant_type="password", username=OU, password=E["RK_BAD_PASS"]) \
            == (400, {"error": "invalid_grant"})
        assert post(E["RK_OAUTH_TOKEN_URL"], grant_type="refresh_token", refresh_token="nope") \
            == (400, {"error": "invalid_grant"})

    @check("oauth2: no token appears in the Postfix, Dovecot, token server logs or the record")
    def _():
        assert TOKENS
        for t in TOKENS:
            not_in_logs(t, E["RK_OAUTH_LOG"], E["RK_OAUTH_DOVECOT_LOG"], E["RK_OAUTH_RECORD"],
                        os.path.join(E["RK_STATE"], "logs", "oauth2.log"))


if not any(r in ROLES for r in ("socks", "httpproxy", "lmtp", "unixsmtp", "ccert", "oauth2")):
    print("no #15 role in RK_ROLES (socks httpproxy lmtp unixsmtp ccert oauth2)", file=sys.stderr)

finish("smoke_reach")
