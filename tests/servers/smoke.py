#!/usr/bin/env python3
"""Smoke test for the relaykit test servers (run after start.sh).

Uses smtplib/ssl from the standard library; AUTH exchanges are done by hand
(smtplib's login() cannot encode non-ASCII passwords and has no SCRAM/NTLM).
NTLM uses pyspnego's client, so run this with the venv's python (smoke.sh does).
Prints one line per check and "N passed, N failed" last; exit 1 on failure.
"""
from __future__ import annotations

import base64
import glob
import hashlib
import hmac
import json
import os
import smtplib
import socket
import time
import urllib.request
import uuid

from smokelib import CTX, E, HERE, HOST, POLL_SECS, ROLES, STATE, b64, check, finish, results  # noqa: F401



def connect(port, mode="plain"):
    """mode: plain | starttls | implicit. Returns an EHLO'd smtplib.SMTP."""
    if mode == "implicit":
        s = smtplib.SMTP_SSL("localhost", int(port), timeout=20, context=CTX)
    else:
        s = smtplib.SMTP(HOST, int(port), timeout=20)
    s.ehlo("smoke.relaykit.test")
    if mode == "starttls":
        s.starttls(context=CTX)
        s.ehlo("smoke.relaykit.test")
    return s


def mechs(s):
    return set((s.esmtp_features.get("auth") or "").upper().split())


def expect(code_msg, code, what=""):
    c, m = code_msg
    if c != code:
        raise AssertionError(f"{what}: expected {code}, got {c} {m!r}")
    return m


# ------------------------------------------------------------------ SASL ----
def auth(s, mech, user, pw):
    """Run AUTH <mech>; returns (code, msg) of the final reply."""
    u, p = user.encode("utf-8"), pw.encode("utf-8")
    if mech == "PLAIN":
        return s.docmd("AUTH PLAIN", b64(b"\0" + u + b"\0" + p))
    if mech == "LOGIN":
        c, m = s.docmd("AUTH LOGIN")
        if c != 334:
            return c, m
        c, m = s.docmd(b64(u))
        if c != 334:
            return c, m
        return s.docmd(b64(p))
    if mech == "CRAM-MD5":
        c, m = s.docmd("AUTH CRAM-MD5")
        if c != 334:
            return c, m
        digest = hmac.new(p, base64.b64decode(m), hashlib.md5).hexdigest()
        return s.docmd(b64(u + b" " + digest.encode()))
    if mech.startswith("SCRAM-"):
        return scram(s, mech, user, pw)
    if mech == "NTLM":
        return ntlm(s, user, pw)
    raise ValueError(mech)


def scram(s, mech, user, pw):
    hname = {"SCRAM-SHA-1": "sha1", "SCRAM-SHA-256": "sha256"}[mech]
    H = lambda b: hashlib.new(hname, b).digest()
    HM = lambda k, b: hmac.new(k, b, hname).digest()
    nonce = b64(os.urandom(18))
    gs2 = "n,,"
    bare = "n=%s,r=%s" % (user.replace("=", "=3D").replace(",", "=2C"), nonce)
    c, m = s.docmd("AUTH " + mech, b64((gs2 + bare).encode()))
    if c != 334:
        return c, m
    first = base64.b64decode(m).decode()
    a = dict(kv.split("=", 1) for kv in first.split(","))
    if not a["r"].startswith(nonce):
        raise AssertionError("SCRAM server nonce does not extend ours")
    salted = hashlib.pbkdf2_hmac(hname, pw.encode("utf-8"), base64.b64decode(a["s"]), int(a["i"]))
    ckey = HM(salted, b"Client Key")
    final_wo = "c=%s,r=%s" % (b64(gs2.encode()), a["r"])
    msg = ",".join([bare, first, final_wo]).encode()
    proof = bytes(x ^ y for x, y in zip(ckey, HM(H(ckey), msg)))
    c, m = s.docmd(b64((final_wo + ",p=" + b64(proof)).encode()))
    if c != 334:
        return c, m
    v = base64.b64decode(m).decode()
    skey = HM(salted, b"Server Key")
    if v != "v=" + b64(HM(skey, msg)):
        raise AssertionError(f"SCRAM server signature mismatch: {v!r}")
    return s.docmd("")


def ntlm(s, user, pw, initial=True):
    import spnego

    cl = spnego.client(user, pw, protocol="ntlm", hostname="localhost")
    t1 = cl.step()
    if initial:
        c, m = s.docmd("AUTH NTLM", b64(t1))
    else:
        c, m = s.docmd("AUTH NTLM")
        if c != 334:
            return c, m
        c, m = s.docmd(b64(t1))
    if c != 334:
        return c, m
    t3 = cl.step(base64.b64decode(m))
    return s.docmd(b64(t3))


# --------------------------------------------------------------- messages ---
def make_msg(frm, to, tag):
    mid = f"<{tag}.{uuid.uuid4().hex}@smoke.relaykit.test>"
    body = (
        f"From: {frm}\r\nTo: {to}\r\nSubject: relaykit smoke {tag}\r\nMessage-ID: {mid}\r\n"
        f"Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n\r\nhello from smoke.py\r\n.leading dot line\r\n"
    ).encode()
    return mid, body


def send(s, frm, rcpts, body, expect_rcpt=None):
    """MAIL/RCPT/DATA by hand; expect_rcpt maps rcpt -> expected code (default 250)."""
    expect(s.mail(frm), 250, "MAIL")
    ok = 0
    for r in rcpts:
        want = (expect_rcpt or {}).get(r, 250)
        expect(s.rcpt(r), want, f"RCPT {r}")
        ok += want == 250
    if ok:
        expect(s.data(body), 250, "DATA")


def poll(fn, what):
    deadline = time.monotonic() + POLL_SECS
    while time.monotonic() < deadline:
        r = fn()
        if r:
            return r
        time.sleep(0.1)
    raise AssertionError(f"timed out after {POLL_SECS}s waiting for {what}")


def maildir_has(d, mid):
    def f():
        for p in glob.glob(os.path.join(d, "new", "*")) + glob.glob(os.path.join(d, "cur", "*")):
            try:
                with open(p, "rb") as fh:
                    if mid.encode() in fh.read():
                        return p
            except FileNotFoundError:
                pass
        return None
    return poll(f, f"{mid} in {d}")


def jsondir_has(d, mid):
    def f():
        for p in sorted(glob.glob(os.path.join(d, "*.json"))):
            with open(p, encoding="utf-8") as fh:
                meta = json.load(fh)
            if meta.get("message_id") == mid:
                return meta, os.path.join(d, meta["eml"])
        return None
    return poll(f, f"{mid} in {d}")


def maildev_has(api, mid):
    def f():
        with urllib.request.urlopen(api + "/email", timeout=5) as r:
            for m in json.load(r):
                if (m.get("headers") or {}).get("message-id") == mid:
                    return m
        return None
    return poll(f, f"{mid} via {api}/email")


USER, PASS, USER2, PASS2 = E["RK_USER"], E["RK_PASS"], E["RK_USER2"], E["RK_PASS2"]
BAD = E["RK_BAD_PASS"]
REJECT, DOMAIN = E["RK_REJECT_RCPT"], E["RK_DOMAIN"]


def common_postfix_checks(prefix, port, starttls_port, mechs_expected, users, maildir, implicit_port=None):
    @check(f"{prefix}: EHLO on plain port lists AUTH {','.join(sorted(mechs_expected))} and STARTTLS, SIZE>=10MB")
    def _():
        s = connect(port)
        got = mechs(s)
        assert got == mechs_expected, got
        assert s.has_extn("starttls")
        assert int(s.esmtp_features["size"]) >= 10 * 1024 * 1024
        s.quit()

    for mech in sorted(mechs_expected - {"NTLM", "DIGEST-MD5"}):
        for (u, p) in users:
            @check(f"{prefix}: AUTH {mech} as {u!r} (plain port)")
            def _():
                s = connect(port)
                expect(auth(s, mech, u, p), 235, mech)
                s.quit()

    @check(f"{prefix}: wrong password -> 535")
    def _():
        s = connect(port)
        expect(auth(s, "PLAIN", users[0][0], BAD), 535, "PLAIN bad")
        s.quit()

    @check(f"{prefix}: unauthenticated relay -> 554 5.7.1, local rcpt ok")
    def _():
        s = connect(port)
        expect(s.mail("x@example.org"), 250, "MAIL")
        c, m = s.rcpt(E["RK_RELAY_RCPT"])
        assert c == 554 and b"5.7.1" in m, (c, m)
        expect(s.rcpt(E["RK_RCPT"]), 250, "local RCPT")
        s.quit()

    @check(f"{prefix}: send to alice+tag and {REJECT} (550 at RCPT) -> arrives in Maildir")
    def _():
        s = connect(port)
        expect(auth(s, "PLAIN", *users[0]), 235, "PLAIN")
        rcpt = f"alice+smoke@{DOMAIN}"
        mid, body = make_msg(USER, rcpt, "pf")
        send(s, USER, [REJECT, rcpt], body, {REJECT: 550})
        s.quit()
        maildir_has(os.path.join(maildir, DOMAIN, "alice"), mid)

    @check(f"{prefix}: authenticated relay to {E['RK_RELAY_RCPT']} is captured in _relayed/")
    def _():
        s = connect(port)
        expect(auth(s, "LOGIN", *users[0]), 235, "LOGIN")
        mid, body = make_msg(USER, E["RK_RELAY_RCPT"], "relay")
        send(s, USER, [E["RK_RELAY_RCPT"]], body)
        s.quit()
        maildir_has(os.path.join(maildir, "_relayed"), mid)

    @check(f"{prefix}: STARTTLS port hides AUTH and refuses MAIL before STARTTLS")
    def _():
        s = connect(starttls_port)
        assert not mechs(s), mechs(s)
        assert s.has_extn("starttls")
        c, m = s.mail(USER)
        assert c == 530, (c, m)
        s.quit()

    @check(f"{prefix}: STARTTLS port: TLS (verified against CA), AUTH CRAM-MD5, send")
    def _():
        s = connect(starttls_port, "starttls")
        assert mechs(s) == mechs_expected, mechs(s)
        expect(auth(s, "CRAM-MD5", *users[0]), 235, "CRAM-MD5")
        mid, body = make_msg(USER, E["RK_RCPT"], "starttls")
        send(s, USER, [E["RK_RCPT"]], body)
        s.quit()
        maildir_has(os.path.join(maildir, DOMAIN, "carol"), mid)

    if implicit_port:
        @check(f"{prefix}: implicit TLS port: AUTH PLAIN, send to catch-all")
        def _():
            s = connect(implicit_port, "implicit")
            assert mechs(s) == mechs_expected, mechs(s)
            expect(auth(s, "PLAIN", *users[0]), 235, "PLAIN")
            rcpt = f"anyone-{uuid.uuid4().hex[:8]}@{DOMAIN}"
            mid, body = make_msg(USER, rcpt, "implicit")
            send(s, USER, [rcpt], body)
            s.quit()
            maildir_has(os.path.join(maildir, DOMAIN, "_catchall"), mid)


if "dovecot" in ROLES:
    common_postfix_checks(
        "dovecot", E["RK_DOVECOT_PLAIN_PORT"], E["RK_DOVECOT_STARTTLS_PORT"],
        set(E["RK_DOVECOT_MECHS"].split(",")), [(USER, PASS), (USER2, PASS2)],
        E["RK_DOVECOT_MAIL_DIR"], E["RK_DOVECOT_IMPLICIT_PORT"])

if "cyrus" in ROLES:
    cu, cp = E["RK_CYRUS_USER"], E["RK_CYRUS_PASS"]
    realm = E["RK_CYRUS_REALM"]
    common_postfix_checks(
        "cyrus", E["RK_CYRUS_PLAIN_PORT"], E["RK_CYRUS_STARTTLS_PORT"],
        set(E["RK_CYRUS_MECHS"].split(",")),
        [(cu, cp), (f"{cu}@{realm}", cp), (E["RK_CYRUS_USER2"], E["RK_CYRUS_PASS2"])],
        E["RK_CYRUS_MAIL_DIR"])

    for u in (f"{E['RK_CYRUS_NTLM_DOMAIN']}\\{cu}", f"{cu}@{realm}"):
        @check(f"cyrus: AUTH NTLM (NTLMv2) as {u!r}")
        def _():
            s = connect(E["RK_CYRUS_PLAIN_PORT"])
            expect(auth(s, "NTLM", u, cp), 235, "NTLM")
            s.quit()

    @check("cyrus: AUTH NTLM wrong password -> 535")
    def _():
        s = connect(E["RK_CYRUS_PLAIN_PORT"])
        expect(auth(s, "NTLM", f"{E['RK_CYRUS_NTLM_DOMAIN']}\\{cu}", BAD), 535, "NTLM bad")
        s.quit()

if "maildev" in ROLES:
    mu, mp = E["RK_MAILDEV_USER"], E["RK_MAILDEV_PASS"]
    for label, port, mode, api in (("plain", E["RK_MAILDEV_PLAIN_PORT"], "plain", E["RK_MAILDEV_PLAIN_API"]),
                                   ("implicit-tls", E["RK_MAILDEV_TLS_PORT"], "implicit", E["RK_MAILDEV_TLS_API"])):
        @check(f"maildev {label}: EHLO lists AUTH LOGIN PLAIN")
        def _():
            s = connect(port, mode)
            assert {"LOGIN", "PLAIN"} <= mechs(s), mechs(s)
            s.quit()

        for mech in ("PLAIN", "LOGIN"):
            @check(f"maildev {label}: AUTH {mech}, send, message visible in {api}/email")
            def _():
                s = connect(port, mode)
                expect(auth(s, mech, mu, mp), 235, mech)
                mid, body = make_msg(mu, E["RK_RCPT"], f"maildev-{label}")
                send(s, mu, [E["RK_RCPT"]], body)
                s.quit()
                m = maildev_has(api, mid)
                with urllib.request.urlopen(f"{api}/email/{m['id']}/source", timeout=5) as r:
                    src = r.read()
                assert mid.encode() in src, src[:200]

        @check(f"maildev {label}: wrong password -> 535")
        def _():
            s = connect(port, mode)
            expect(auth(s, "PLAIN", mu, BAD), 535, "PLAIN bad")
            s.quit()

if "aiosmtpd" in ROLES:
    port, d = E["RK_AIOSMTPD_PORT"], E["RK_AIOSMTPD_DIR"]

    @check("aiosmtpd: EHLO lists AUTH CRAM-MD5 LOGIN PLAIN")
    def _():
        s = connect(port)
        assert mechs(s) == set(E["RK_AIOSMTPD_MECHS"].split(",")), mechs(s)
        s.quit()

    for mech in E["RK_AIOSMTPD_MECHS"].split(","):
        for (u, p) in ((USER, PASS), (USER2, PASS2)):
            @check(f"aiosmtpd: AUTH {mech} as {u!r}, exact bytes + envelope JSON stored")
            def _():
                s = connect(port)
                expect(auth(s, mech, u, p), 235, mech)
                rcpt = E["RK_RCPT"]
                mid, body = make_msg(u, rcpt, "aiosmtpd")
                send(s, u, [REJECT, rcpt], body, {REJECT: 550})
                s.quit()
                meta, eml = jsondir_has(d, mid)
                assert meta["auth_mechanism"] == mech and meta["auth_user"] == u, meta
                assert meta["rcpt_tos"] == [rcpt] and meta["mail_from"] == u, meta
                with open(eml, "rb") as fh:
                    got = fh.read()
                assert got == body, (got[-80:], body[-80:])

    @check("aiosmtpd: wrong password -> 535 (PLAIN, CRAM-MD5); MAIL without AUTH -> 530")
    def _():
        s = connect(port)
        expect(auth(s, "PLAIN", USER, BAD), 535, "PLAIN bad")
        expect(auth(s, "CRAM-MD5", USER, BAD), 535, "CRAM bad")
        c, m = s.mail(USER)
        assert c == 530, (c, m)
        s.quit()

if "ntlm" in ROLES:
    port, d = E["RK_NTLM_PORT"], E["RK_NTLM_DIR"]
    dom = E["RK_NTLM_DOMAIN"]
    logins = [(f"{dom}\\{E['RK_NTLM_USER']}", E["RK_NTLM_PASS"]), (E["RK_NTLM_UPN"], E["RK_NTLM_PASS"]),
              (f"{dom}\\{E['RK_NTLM_USER2']}", E["RK_NTLM_PASS2"]), (E["RK_NTLM_UPN2"], E["RK_NTLM_PASS2"])]

    @check("ntlm: EHLO lists only AUTH NTLM")
    def _():
        s = connect(port)
        assert mechs(s) == {"NTLM"}, mechs(s)
        s.quit()

    for (u, p) in logins:
        for initial in (True, False):
            @check(f"ntlm: {u!r} {'with initial response' if initial else 'after 334 empty'}; wrong password -> 535")
            def _():
                s = connect(port)
                expect(ntlm(s, u, p + "x", initial), 535, "NTLM bad")
                expect(ntlm(s, u, p, initial), 235, "NTLM")
                s.quit()

    @check("ntlm: send after NTLM; envelope JSON records NTLMv2 + ESS")
    def _():
        s = connect(port)
        expect(ntlm(s, *logins[2]), 235, "NTLM")
        mid, body = make_msg(USER, E["RK_RCPT"], "ntlm")
        send(s, USER, [E["RK_RCPT"]], body)
        s.quit()
        meta, eml = jsondir_has(d, mid)
        assert meta["auth_mechanism"] == "NTLM", meta
        assert meta["ntlm"]["ntlm_v2"] and meta["ntlm"]["ntlm_ess"], meta

if "badscram" in ROLES:
    port, record = E["RK_BADSCRAM_PORT"], E["RK_BADSCRAM_RECORD"]

    @check("badscram: SCRAM-SHA-256's server signature is wrong (the fault); CRAM-MD5 then logs in; both AUTHs recorded")
    def _():
        s = connect(port)
        assert mechs(s) == set(E["RK_BADSCRAM_MECHS"].split(",")), mechs(s)
        me = list(s.sock.getsockname()[:2])
        try:
            scram(s, "SCRAM-SHA-256", USER, PASS)
        except AssertionError as e:
            assert "signature mismatch" in str(e), e
        else:
            raise AssertionError("the server signature verified")
        expect(s.docmd("*"), 501, "cancel")
        expect(auth(s, "CRAM-MD5", USER, PASS), 235, "CRAM-MD5")
        s.quit()
        with open(record, encoding="utf-8") as fh:
            mine = [json.loads(line) for line in fh if line.strip()]
        mine = [(r["event"], r["mechanism"]) for r in mine if r["peer"] == me]
        assert mine == [("auth-command", "SCRAM-SHA-256"), ("scram-wrong-signature-sent", "SCRAM-SHA-256"),
                        ("scram-client-cancelled", "SCRAM-SHA-256"), ("auth-command", "CRAM-MD5")], mine

def raw(port):
    """A bare socket to 127.0.0.1:port and a line reader on it (for replies smtplib rejects)."""
    sock = socket.create_connection((HOST, int(port)), timeout=20)
    return sock, sock.makefile("rb")


if "dovecot" in ROLES:
    @check("dovecot fault listener idle: 421 4.4.2 after smtpd_timeout of silence, then EOF")
    def _():
        s = connect(E["RK_POSTFIX_IDLE_PORT"])
        idle = float(E["RK_POSTFIX_IDLE_SECS"])
        s.sock.settimeout(idle + 10)
        t = time.monotonic()
        line = s.sock.makefile("rb").readline()
        waited = time.monotonic() - t
        assert line.startswith(b"421 4.4.2 ") and b"timeout exceeded" in line, line
        assert idle - 0.5 <= waited <= idle + 5, waited
        assert s.sock.recv(100) == b"", "the connection stays open"

    @check("dovecot fault listener connlimit: a second connection gets 421 4.7.0 as its greeting")
    def _():
        first = connect(E["RK_POSTFIX_CONNLIMIT_PORT"])
        sock, rd = raw(E["RK_POSTFIX_CONNLIMIT_PORT"])
        line = rd.readline()
        assert line.startswith(b"421 4.7.0 ") and b"too many connections" in line, line
        assert rd.readline() == b"", "the refused connection stays open"
        sock.close()
        first.quit()

    @check("dovecot fault listener ratelimit: MAIL FROM past the rate gets 450 4.7.1")
    def _():
        s = connect(E["RK_POSTFIX_RATELIMIT_PORT"])
        codes = []
        for _ in range(int(E["RK_POSTFIX_RATE_MESSAGES"]) + 2):  # fewer than smtpd_hard_error_limit
            code, text = s.mail(USER)
            codes.append(code)
            s.rset()
            if code != 250:
                assert (code, text) == (450, f"4.7.1 Error: too much mail from {HOST}".encode()), (code, text)
                break
        assert codes[-1] == 450, codes
        s.quit()

if "faults" in ROLES:
    def fake_transaction(rcpt, mid=None, n=3):
        """Pipelined MAIL, RCPT, DATA to the fake; the codes of its first `n` replies, and of
        the reply to the message's final dot when `mid` is given (b"": connection dropped)."""
        sock, rd = raw(E["RK_FAULTS_PORT"])
        rd.readline()
        sock.sendall(b"EHLO smoke.relaykit.test\r\n")
        while rd.readline()[3:4] == b"-":
            pass
        sock.sendall(f"MAIL FROM:<{USER}>\r\nRCPT TO:<{rcpt}>\r\nDATA\r\n".encode())
        replies = [rd.readline()[:3] for _ in range(n)]
        after = None
        if mid:
            sock.sendall(f"Message-ID: {mid}\r\nSubject: smoke\r\n\r\n..dot\r\n.\r\n".encode())
            after = rd.readline()[:3]
        sock.close()
        return replies, after

    def fake_events(**match):
        with open(E["RK_FAULTS_RECORD"], encoding="utf-8") as fh:
            events = [json.loads(line) for line in fh if line.strip()]
        return [e for e in events if all(e.get(k) == v for k, v in match.items())]

    @check("faults: drop-after-dot drops the first time (recorded), accepts the retry")
    def _():
        mid = f"<{uuid.uuid4()}@smoke.relaykit.test>"
        assert fake_transaction("drop-after-dot@fake.test", mid) == ([b"250", b"250", b"354"], b"")
        assert fake_transaction("drop-after-dot@fake.test", mid) == ([b"250", b"250", b"354"], b"250")
        got = [e["outcome"] for e in fake_events(event="data", message_id=mid)]
        assert got == ["dropped", "accepted"], got

    @check("faults: out-of-order answers 354 first; missing-reply leaves RCPT's reply out")
    def _():
        tag = uuid.uuid4().hex
        assert fake_transaction(f"out-of-order+{tag}@fake.test")[0] == [b"354", b"250", b"250"]
        # missing-reply: only two replies come (a third read would wait for the timeout)
        assert fake_transaction(f"missing-reply+{tag}@fake.test", n=2)[0] == [b"250", b"354"]
        modes = [e["mode"] for e in fake_events(event="fault") if tag in e["rcpt"][0]]
        assert modes == ["out-of-order", "missing-reply"], modes

finish("smoke")
