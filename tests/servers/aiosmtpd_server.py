#!/usr/bin/env python3
"""aiosmtpd-based test SMTP servers for relaykit.

Three modes (one process each):

  --mode basic  AUTH PLAIN, LOGIN (aiosmtpd built-ins) and CRAM-MD5 (below).
                Users: --users FILE with "user:password" lines (UTF-8; the
                password is everything after the first ':').
  --mode badscram
                A scripted fault server: no real server can be made to send a
                wrong SCRAM server signature, and that is the fault this mode
                exists for.  It offers SCRAM-SHA-256, CRAM-MD5, PLAIN and LOGIN
                (users as in basic).  SCRAM-SHA-256 is a real RFC 7677 exchange
                (the client's proof is verified; a wrong password gets 535) whose
                server-final message carries a WRONG v= signature; a client that
                answers it anyway gets 235.  CRAM-MD5, PLAIN and LOGIN work as in
                basic, so a client that falls back after the bad signature logs
                in.  Every AUTH command received (its mechanism, never its data)
                and each SCRAM step is appended to --record FILE as a JSON line
                {"helo", "peer", "event", "mechanism"}, so a test can prove which
                mechanisms a client tried after the bad signature.
  --mode ntlm   AUTH NTLM only, verified by pyspnego's NTLM acceptor, which
                follows MS-NLMP (NT hash = MD4(UTF-16LE(password)), NTLMv2
                key = HMAC-MD5(NT hash, UPPER(user) + domain)).
                Users: --users FILE in pyspnego's NTLM_USER_FILE format,
                "DOMAIN:user:password" lines; a UPN login needs its own line
                ":user@domain:password".  The password may not contain ':'.

--advertise KEYWORD (repeatable) adds an EHLO keyword that MAIL FROM then takes as a bare
parameter, recorded in mail_options (REQUIRETLS, RFC 8689, which Postfix 3.7 lacks).

Both modes: AUTH works without TLS (auth_require_tls=False); STARTTLS is
offered (optional) when --cert/--key are given; authentication is required
before MAIL unless --no-auth-required.  RCPT to an address given with
--reject-rcpt gets "550 5.1.1".  Each accepted message is stored in --maildir:

  NNNNNN.eml   exact message bytes as received (after dot-unstuffing)
  NNNNNN.json  envelope: mail_from, rcpt_tos, mail_options, rcpt_options,
               auth_mechanism, auth_user, (ntlm: ntlm details), message_id,
               size, tls, peer, received_at, eml (file name)

The .json is written last (atomically), so its presence means the message is
complete.  NNNNNN is a zero-padded counter continuing after existing files.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import re
import signal
import socket
import ssl
import sys
import threading
import time
import warnings
from email.parser import BytesHeaderParser

from aiosmtpd.smtp import MISSING, SMTP, AuthResult, Envelope, LoginPassword, Session, auth_mechanism

log = logging.getLogger("rk-aiosmtpd")


class AuthInfo:
    """Stored in session.auth_data; ``login`` is what aiosmtpd copies to session.login_data."""

    def __init__(self, mechanism: str, login: str, extra: dict | None = None):
        self.mechanism = mechanism
        self.login = login
        self.extra = extra or {}


def load_basic_users(path: str) -> dict[str, str]:
    users = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.rstrip("\r\n")
            if not line or line.startswith("#") or ":" not in line:
                continue
            user, password = line.split(":", 1)
            users[user] = password
    return users


async def first_client_message(server: SMTP, args, prompt: str | bytes = b"", encode: bool = True) -> bytes | None:
    """A client-first mechanism's first message: the AUTH line's initial response, else the
    answer to a ``334 <prompt>``. None when the exchange has ended (the reply is already sent)."""
    if len(args) > 1:
        try:
            return base64.b64decode(args[1], validate=True)
        except binascii.Error:
            await server.push("501 5.5.2 Can't decode base64")
            return None
    answer = await server.challenge_auth(prompt, encode_to_b64=encode)
    return answer if isinstance(answer, bytes) else None


class Store:
    def __init__(self, maildir: str):
        self.maildir = maildir
        os.makedirs(maildir, exist_ok=True)
        self.lock = threading.Lock()
        existing = [int(m.group(1)) for f in os.listdir(maildir) if (m := re.match(r"^(\d+)\.(eml|json)$", f))]
        self.counter = max(existing, default=0)

    def save(self, content: bytes, meta: dict) -> str:
        with self.lock:
            self.counter += 1
            n = self.counter
        base = os.path.join(self.maildir, f"{n:06d}")
        with open(base + ".eml.tmp", "wb") as fh:
            fh.write(content)
        os.replace(base + ".eml.tmp", base + ".eml")
        meta = dict(meta, eml=f"{n:06d}.eml", seq=n)
        with open(base + ".json.tmp", "w", encoding="utf-8") as fh:
            json.dump(meta, fh, indent=1, ensure_ascii=False)
        os.replace(base + ".json.tmp", base + ".json")
        return base


class Handler:
    def __init__(self, args):
        self.args = args
        self.store = Store(args.maildir)
        self.reject = {r.lower() for r in args.reject_rcpt}
        self.basic_users = load_basic_users(args.users) if args.mode in ("basic", "badscram") else {}

    def record(self, server: SMTP, event: str, mechanism: str) -> None:
        """badscram: one JSON line per event in --record (nothing secret is written)."""
        if not self.args.record:
            return
        session = server.session
        entry = {
            "helo": session.host_name if session else None,
            "peer": list(session.peer) if session and session.peer else None,
            "event": event,
            "mechanism": mechanism,
            "at": time.time(),
        }
        with open(self.args.record, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, ensure_ascii=False) + "\n")

    # ---- PLAIN / LOGIN via aiosmtpd's authenticator hook --------------------
    def authenticator(self, server, session, envelope, mechanism, auth_data):
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        try:
            user = auth_data.login.decode("utf-8")
            password = auth_data.password.decode("utf-8")
        except UnicodeDecodeError:
            return AuthResult(success=False, handled=False)
        expected = self.basic_users.get(user)
        if expected is not None and hmac.compare_digest(expected.encode(), password.encode()):
            log.info("AUTH %s ok user=%r", mechanism, user)
            return AuthResult(success=True, auth_data=AuthInfo(mechanism, user))
        log.info("AUTH %s failed user=%r", mechanism, user)
        return AuthResult(success=False, handled=False)

    # ---- SCRAM-SHA-256 with a wrong server signature (badscram) -----------------
    @auth_mechanism("SCRAM-SHA-256")
    async def auth_SCRAM_SHA_256(self, server: SMTP, args):
        if self.args.mode != "badscram":  # pragma: no cover - removed via auth_exclude_mechanism
            await server.push("504 5.5.4 Unrecognized authentication type")
            return AuthResult(success=False, handled=True)
        first = await first_client_message(server, args)
        if first is None:
            return AuthResult(success=False, handled=True)
        try:
            text = first.decode("utf-8")
            if not text.startswith("n,,"):
                raise ValueError("only gs2 header n,, is supported")
            bare = text[3:]
            attrs = dict(a.split("=", 1) for a in bare.split(","))
            user = attrs["n"].replace("=2C", ",").replace("=3D", "=")
            cnonce = attrs["r"]
        except (UnicodeDecodeError, ValueError, KeyError):
            await server.push("501 5.5.2 Malformed SCRAM client-first message")
            return AuthResult(success=False, handled=True)
        password = self.basic_users.get(user)
        salt, iterations = os.urandom(16), 4096
        nonce = cnonce + base64.b64encode(os.urandom(18)).decode()
        server_first = f"r={nonce},s={base64.b64encode(salt).decode()},i={iterations}"
        final = await server.challenge_auth(server_first.encode())
        if not isinstance(final, bytes):
            return AuthResult(success=False, handled=True)
        try:
            final_text = final.decode("utf-8")
            without_proof, proof_b64 = final_text.rsplit(",p=", 1)
            proof = base64.b64decode(proof_b64, validate=True)
        except (UnicodeDecodeError, ValueError, binascii.Error):
            await server.push("501 5.5.2 Malformed SCRAM client-final message")
            return AuthResult(success=False, handled=True)
        salted = hashlib.pbkdf2_hmac("sha256", (password or "").encode("utf-8"), salt, iterations)
        client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
        stored_key = hashlib.sha256(client_key).digest()
        auth_message = f"{bare},{server_first},{without_proof}".encode("utf-8")
        client_sig = hmac.new(stored_key, auth_message, hashlib.sha256).digest()
        recovered = bytes(a ^ b for a, b in zip(proof, client_sig))
        if (password is None or without_proof != f"c=biws,r={nonce}" or len(proof) != len(client_sig)
                or not hmac.compare_digest(hashlib.sha256(recovered).digest(), stored_key)):
            log.info("AUTH SCRAM-SHA-256 failed user=%r", user)
            self.record(server, "scram-proof-rejected", "SCRAM-SHA-256")
            return AuthResult(success=False, handled=False)
        server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
        good = hmac.new(server_key, auth_message, hashlib.sha256).digest()
        wrong = bytes([good[0] ^ 0xFF]) + good[1:]  # the fault
        self.record(server, "scram-wrong-signature-sent", "SCRAM-SHA-256")
        answer = await server.challenge_auth(b"v=" + base64.b64encode(wrong))
        if answer is MISSING:  # the client cancelled ('*'); aiosmtpd has answered 501
            self.record(server, "scram-client-cancelled", "SCRAM-SHA-256")
            return AuthResult(success=False, handled=True)
        self.record(server, "scram-client-accepted-wrong-signature", "SCRAM-SHA-256")
        return AuthResult(success=True, auth_data=AuthInfo("SCRAM-SHA-256", user))

    # ---- CRAM-MD5 (RFC 2195) ---------------------------------------------------
    @auth_mechanism("CRAM-MD5")
    async def auth_CRAM_MD5(self, server: SMTP, args):
        if self.args.mode not in ("basic", "badscram"):  # pragma: no cover - removed via auth_exclude_mechanism
            await server.push("504 5.5.4 Unrecognized authentication type")
            return AuthResult(success=False, handled=True)
        if len(args) > 1:
            await server.push("501 5.5.2 CRAM-MD5 takes no initial response")
            return AuthResult(success=False, handled=True)
        challenge = f"<{os.getpid()}.{time.time_ns()}.{binascii.hexlify(os.urandom(4)).decode()}@localhost>".encode()
        resp = await server.challenge_auth(challenge)
        if resp is None or not isinstance(resp, bytes):  # MISSING: already answered (501)
            return AuthResult(success=False, handled=True)
        try:
            text = resp.decode("utf-8")
            user, digest = text.rsplit(" ", 1)
        except (UnicodeDecodeError, ValueError):
            await server.push("501 5.5.2 Malformed CRAM-MD5 response")
            return AuthResult(success=False, handled=True)
        expected = self.basic_users.get(user)
        if expected is not None:
            want = hmac.new(expected.encode("utf-8"), challenge, hashlib.md5).hexdigest()
            if hmac.compare_digest(want, digest.lower()):
                log.info("AUTH CRAM-MD5 ok user=%r", user)
                return AuthResult(success=True, auth_data=AuthInfo("CRAM-MD5", user))
        log.info("AUTH CRAM-MD5 failed user=%r", user)
        return AuthResult(success=False, handled=False)

    # ---- NTLM (MS-SMTPNTLM framing, MS-NLMP via pyspnego) -----------------------
    @auth_mechanism("NTLM")
    async def auth_NTLM(self, server: SMTP, args):
        import spnego
        from spnego._ntlm_raw.messages import Authenticate, NegotiateFlags

        if self.args.ms_initiation:
            type1 = await first_client_message(server, args, "NTLM supported", encode=False)
        else:
            type1 = await first_client_message(server, args)
        if type1 is None:
            return AuthResult(success=False, handled=True)
        try:
            ctx = spnego.server(protocol="ntlm")
            type2 = ctx.step(type1)
        except Exception as e:  # malformed type1
            log.info("AUTH NTLM bad negotiate message: %s", e)
            await server.push("501 5.5.2 Invalid NTLM negotiate message")
            return AuthResult(success=False, handled=True)
        type3 = await server.challenge_auth(type2)
        if not isinstance(type3, bytes):
            return AuthResult(success=False, handled=True)
        extra = {}
        try:
            auth = Authenticate.unpack(type3)
            extra = {
                "ntlm_user": auth.user_name,
                "ntlm_domain": auth.domain_name,
                "ntlm_workstation": auth.workstation,
                "ntlm_v2": bool(auth.nt_challenge_response and len(auth.nt_challenge_response) > 24),
                "ntlm_ess": bool(auth.flags & NegotiateFlags.extended_session_security),
                "ntlm_unicode": bool(auth.flags & NegotiateFlags.unicode),
                "ntlm_flags": f"0x{int(auth.flags):08x}",
            }
        except Exception as e:
            log.info("AUTH NTLM bad authenticate message: %s", e)
            await server.push("501 5.5.2 Invalid NTLM authenticate message")
            return AuthResult(success=False, handled=True)
        try:
            ctx.step(type3)
            ok = ctx.complete
        except Exception as e:
            log.info("AUTH NTLM failed %s: %s", extra, e)
            ok = False
        if not ok:
            return AuthResult(success=False, handled=False)
        principal = ctx.client_principal or ""
        log.info("AUTH NTLM ok principal=%r %s", principal, extra)
        return AuthResult(success=True, auth_data=AuthInfo("NTLM", principal, extra))

    # ---- envelope hooks -----------------------------------------------------------
    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        """Adds each --advertise keyword (e.g. REQUIRETLS, which Postfix does not offer)."""
        session.host_name = hostname
        for kw in self.args.advertise:
            responses.insert(len(responses) - 1, "250-%s" % kw)
        return responses

    async def handle_RCPT(self, server, session, envelope: Envelope, address, rcpt_options):
        if address.lower() in self.reject:
            return "550 5.1.1 <%s>: Recipient address rejected: User unknown" % address
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session: Session, envelope: Envelope):
        content = envelope.original_content or b""
        try:
            msgid = BytesHeaderParser().parsebytes(content).get("Message-ID")
        except Exception:
            msgid = None
        ai = session.auth_data if isinstance(session.auth_data, AuthInfo) else None
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "mail_options": envelope.mail_options,
            "rcpt_options": envelope.rcpt_options,
            "auth_mechanism": ai.mechanism if ai else None,
            "auth_user": ai.login if ai else None,
            "message_id": str(msgid).strip() if msgid else None,
            "size": len(content),
            "tls": session.ssl is not None,
            "peer": list(session.peer) if session.peer else None,
            "helo": session.host_name,
            "received_at": time.time(),
            "server_mode": self.args.mode,
        }
        if ai and ai.extra:
            meta["ntlm"] = ai.extra
        base = self.store.save(content, meta)
        log.info("stored %s from=%s to=%s auth=%s", base, envelope.mail_from, envelope.rcpt_tos, meta["auth_user"])
        return "250 2.0.0 OK queued as %s" % os.path.basename(base)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=["basic", "ntlm", "badscram"], required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--users", required=True)
    ap.add_argument("--maildir", required=True)
    ap.add_argument("--pidfile")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--reject-rcpt", action="append", default=[])
    ap.add_argument("--no-auth-required", action="store_true")
    ap.add_argument("--ms-initiation", action="store_true",
                    help="ntlm: answer a bare 'AUTH NTLM' with '334 NTLM supported' (MS-SMTPNTLM) instead of '334 '")
    ap.add_argument("--ntlm-lm-compat", type=int, default=5,
                    help="ntlm: LM_COMPAT_LEVEL for the acceptor; 5 (default) = accept NTLMv2 only, 3 = also v1/LM")
    ap.add_argument("--record", help="badscram: append a JSON line per AUTH command and SCRAM step here")
    ap.add_argument("--data-size-limit", type=int, default=33554432)
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--advertise", action="append", default=[],
                    help="an extra EHLO keyword taken bare on MAIL FROM and recorded (e.g. REQUIRETLS)")
    args = ap.parse_args()

    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stdout)
    logging.getLogger("mail.log").setLevel(logging.DEBUG if args.verbose else logging.ERROR)
    # aiosmtpd warns that AUTH without TLS is insecure: that is intended here.
    warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")

    if args.mode == "ntlm":
        os.environ["NTLM_USER_FILE"] = os.path.abspath(args.users)
        os.environ["LM_COMPAT_LEVEL"] = str(args.ntlm_lm_compat)
        exclude = ["PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-256"]
    elif args.mode == "badscram":
        exclude = ["NTLM"]
    else:
        exclude = ["NTLM", "SCRAM-SHA-256"]

    tls_context = None
    if args.cert and args.key:
        tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls_context.load_cert_chain(args.cert, args.key)

    handler = Handler(args)

    advertised = {kw.upper() for kw in args.advertise}

    class AdvertisingSMTP(SMTP):
        """Takes the bare --advertise keywords as MAIL FROM parameters (aiosmtpd refuses
        parameters it does not know) and records them in the envelope's mail_options."""

        async def smtp_MAIL(self, arg: str) -> None:
            words = (arg or "").split(" ")
            extra = [w for w in words[1:] if w.upper() in advertised]
            await super().smtp_MAIL(" ".join([words[0]] + [w for w in words[1:] if w.upper() not in advertised]))
            if extra and self.envelope.mail_from is not None:
                self.envelope.mail_options.extend(extra)

    class RecordingSMTP(SMTP):
        """Records every AUTH command's mechanism (badscram), whatever aiosmtpd then answers."""

        async def smtp_AUTH(self, arg: str) -> None:
            mechanism = arg.split()[0].upper() if arg and arg.split() else ""
            handler.record(self, "auth-command", mechanism)
            await super().smtp_AUTH(arg)

    def factory():
        cls = RecordingSMTP if args.mode == "badscram" else AdvertisingSMTP if advertised else SMTP
        return cls(
            handler,
            hostname="localhost",
            ident=f"relaykit-aiosmtpd-{args.mode}",
            data_size_limit=args.data_size_limit,
            enable_SMTPUTF8=True,
            decode_data=False,
            tls_context=tls_context,
            require_starttls=False,
            auth_required=not args.no_auth_required,
            auth_require_tls=False,
            auth_exclude_mechanism=exclude,
            authenticator=handler.authenticator,
        )

    async def run():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(factory, host=args.host, port=args.port,
                                          family=socket.AF_INET6 if ":" in args.host else socket.AF_INET)
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if args.pidfile:
            with open(args.pidfile, "w") as fh:
                fh.write(f"{os.getpid()}\n")
        log.info("listening on %s:%d mode=%s maildir=%s", args.host, args.port, args.mode, args.maildir)
        await stop.wait()
        server.close()
        await server.wait_closed()
        log.info("stopped")

    try:
        asyncio.run(run())
    finally:
        if args.pidfile:
            try:
                os.unlink(args.pidfile)
            except FileNotFoundError:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
