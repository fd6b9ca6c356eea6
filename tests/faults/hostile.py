#!/usr/bin/env python3
"""The hostile SMTP server of the fault suite (role "hostile" of tests/servers, issue #12).

Why a fake: these are faults a real server will not produce on demand — a close or a stall at a
chosen stage, a reply trickled at one byte a second, an endless line, 100,000 continuation
lines, invalid codes, garbage where a TLS handshake belongs, a SCRAM server that fails its own
proof, NTLM challenges with offsets out of bounds, a 535 that echoes the client's password.
Every other server test uses a real server (Postfix, Dovecot, Cyrus, MailDev, aiosmtpd).

One listening port per scenario: scenario i of --scenarios (tests/faults/scenarios.json) on
--base-port + i. A scenario's behaviour is data (README of tests/servers, "hostile"):

  {"name": "close_after_ehlo", "doc": "...", "tls_required": false,
   "ehlo": ["PIPELINING", "AUTH PLAIN"],          # the EHLO keywords (default: DEFAULT_EHLO)
   "greeting": [STEP, ...],                       # default: 220 greeting
   "on": {"EHLO": [STEP, ...], "AUTH PLAIN": [...], "MAIL": [...], "DOT": [...]}}

"on" maps a command verb (for AUTH, "AUTH <MECH>" is tried before "AUTH") or "DOT" (the end
of a message's data) to the steps that replace its default handling. Steps:

  {"reply": "250 ok"}        lines separated by "\\n", each sent with CRLF; templates below
  {"raw": "220 x\\n"}         sent as is (each char one byte, latin-1: "\\u00ff" is byte 0xff)
  {"repeat": "250-x\\r\\n", "times": N}   the raw text N times
  {"trickle": "220 x\\r\\n", "bps": 1}   the raw text at bps bytes per second
  {"endless": "A"}           the raw text over and over until the client goes (bounded)
  {"garbage": N}             N bytes of deterministic noise
  {"read": N}                read N lines from the client (recorded; the last is {payload})
  {"recv": true}             read whatever bytes come next (a TLS ClientHello), not as lines
  {"tls": true}              TLS handshake as the server (the test CA's certificate)
  {"data": true}             read a message's data up to the final "."
  {"stall": true}            answer nothing until the client goes (bounded)
  {"close": true}            close the connection
  {"sasl": NAME, ...}        a named SASL handler: scram, ntlm, echo (see their docs below)

Templates in "reply": {payload} is the last base64 word the client sent in an AUTH exchange
(the initial response or the last line read), {decoded} its base64 decoding (NULs as spaces).

Every connection is appended to --record as one JSON line when it ends:
  {"scenario": "...", "port": 2601, "conn": 7, "tls_required": true, "tls": false,
   "auth_before_tls": false, "lines": ["EHLO x", "QUIT"]}
`auth_before_tls` is true when an AUTH command, or any line of an AUTH exchange, arrived
while the connection was not (yet) TLS. AUTH payloads are recorded as their length only.

Python >= 3.11 (asyncio's StreamWriter.start_tls and asyncio.timeout).
"""

import argparse
import asyncio
import base64
import hashlib
import itertools
import json
import os
import ssl
import struct
import sys

DEFAULT_EHLO = ["PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "SIZE 31457280", "AUTH PLAIN LOGIN"]
STALL_BOUND_SECS = 120  # a stalled connection is closed after this, whatever the client does
ENDLESS_BOUND = 64 * 1024 * 1024  # bytes an endless line sends at most
MAX_LINE = 1024 * 1024  # what this server reads as one client line


def redact_auth(line):
    """`AUTH MECH <payload>` as `AUTH MECH <N chars>`: the record holds no credential."""
    words = line.split(" ", 2)
    if words[0].upper() == "AUTH" and len(words) == 3:
        return f"{words[0]} {words[1]} <{len(words[2])} chars>"
    return line


class Closed(Exception):
    """The scenario closed the connection (or the client went away)."""


def lat1(text):
    return text.encode("latin-1")


def b64(data):
    return base64.b64encode(data).decode()


def unb64(text):
    try:
        return base64.b64decode(text, validate=False)
    except (ValueError, TypeError):
        return b""


class Server:
    def __init__(self, scenarios, record, cert, key):
        self.scenarios = scenarios
        self.record_path = record
        self.conns = itertools.count(1)
        self.tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.tls.load_cert_chain(cert, key)

    def record(self, entry):
        with open(self.record_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")

    def handler(self, scenario, port):
        async def handle(reader, writer):
            s = Session(self, scenario, port, next(self.conns), reader, writer)
            try:
                await s.run()
            except (Closed, ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, OSError):
                pass  # the scenario or the client ended it
            except Exception as e:  # noqa: BLE001 - a bug here must not kill the other scenarios
                print(f"hostile: {scenario['name']}: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
            finally:
                s.finish()

        return handle


class Session:
    def __init__(self, server, scenario, port, conn, reader, writer):
        self.server, self.sc, self.port, self.conn = server, scenario, port, conn
        self.reader, self.writer = reader, writer
        self.lines = []
        self.in_tls = False
        self.auth_before_tls = False
        self.payload = ""
        self.in_auth = False
        self.finished = False

    def finish(self):
        if self.finished:
            return
        self.finished = True
        try:
            self.writer.close()
        except Exception:  # noqa: BLE001 - already gone
            pass
        self.server.record({
            "scenario": self.sc["name"], "port": self.port, "conn": self.conn,
            "tls_required": bool(self.sc.get("tls_required")), "tls": self.in_tls,
            "auth_before_tls": self.auth_before_tls, "lines": self.lines,
        })

    # ------------------------------------------------------------- io --------
    async def write(self, data):
        if self.writer.is_closing():
            raise Closed()
        self.writer.write(data)
        await self.writer.drain()

    async def readline(self):
        try:
            line = await asyncio.wait_for(self.reader.readuntil(b"\n"), STALL_BOUND_SECS)
        except asyncio.LimitOverrunError as e:
            raise Closed() from e
        except asyncio.TimeoutError as e:
            raise Closed() from e
        text = line.decode("utf-8", "replace").rstrip("\r\n")
        self.lines.append(f"<AUTH line of {len(text)} chars>" if self.in_auth else redact_auth(text))
        if self.in_auth and not self.in_tls:
            self.auth_before_tls = True
        return text

    async def wait_gone(self):
        """Reads (and records) until the client closes, bounded."""
        try:
            async with asyncio.timeout(STALL_BOUND_SECS):
                while True:
                    await self.readline()
        except (TimeoutError, asyncio.IncompleteReadError):
            pass
        raise Closed()

    # ------------------------------------------------------------- steps -----
    def template(self, text):
        decoded = unb64(self.payload).decode("utf-8", "replace").replace("\0", " ")
        return text.replace("{payload}", self.payload).replace("{decoded}", decoded)

    async def steps(self, steps):
        for step in steps:
            await self.step(step)

    async def step(self, st):  # noqa: C901 - one branch per step kind
        if "sasl" in st:
            await SASL[st["sasl"]](self, st)
        elif "reply" in st:
            text = self.template(st["reply"])
            await self.write(b"".join(line.encode("utf-8") + b"\r\n" for line in text.split("\n")))
        elif "raw" in st:
            await self.write(lat1(st["raw"]))
        elif "repeat" in st:
            chunk = lat1(st["repeat"])
            per = max(1, 65536 // max(1, len(chunk)))
            left = int(st["times"])
            while left > 0:
                n = min(per, left)
                await self.write(chunk * n)
                left -= n
        elif "trickle" in st:
            delay = 1.0 / float(st.get("bps", 1))
            for byte in lat1(st["trickle"]):
                await self.write(bytes([byte]))
                await asyncio.sleep(delay)  # the fault itself: a slow server, not synchronisation
        elif "endless" in st:
            chunk = lat1(st["endless"]) * max(1, 65536 // max(1, len(st["endless"])))
            sent = 0
            while sent < ENDLESS_BOUND:
                await self.write(chunk)
                sent += len(chunk)
            raise Closed()
        elif "garbage" in st:
            n = int(st["garbage"])
            out = bytearray()
            seed = b"relaykit hostile garbage"
            while len(out) < n:
                seed = hashlib.sha256(seed).digest()
                out += seed
            await self.write(bytes(out[:n]))
        elif "read" in st:
            for _ in range(int(st["read"])):
                line = await self.readline()
                if self.in_auth:
                    self.payload = line.strip()
        elif "recv" in st:
            data = await asyncio.wait_for(self.reader.read(65536), STALL_BOUND_SECS)
            if not data:
                raise Closed()
            self.lines.append(f"<{len(data)} bytes>")
        elif "tls" in st:
            await self.writer.start_tls(self.server.tls)
            self.in_tls = True
        elif "data" in st:
            await self.read_data()
        elif "stall" in st:
            await self.wait_gone()
        elif "close" in st:
            raise Closed()
        else:
            raise ValueError(f"unknown step {st}")

    async def read_data(self):
        size = 0
        while True:
            line = await self.reader.readuntil(b"\n")
            if line in (b".\r\n", b".\n"):
                break
            size += len(line)
        self.lines.append(f"<{size} bytes of data>")
        self.lines.append(".")

    # ------------------------------------------------------------- session ---
    def ehlo_reply(self):
        words = [w for w in self.sc.get("ehlo", DEFAULT_EHLO) if not (self.in_tls and w.upper() == "STARTTLS")]
        lines = ["hostile.test greets you"] + words
        return "\n".join(("250-" if i < len(lines) - 1 else "250 ") + w for i, w in enumerate(lines))

    async def run(self):
        on = self.sc.get("on", {})
        await self.steps(self.sc.get("greeting", [{"reply": "220 hostile.test ESMTP " + self.sc["name"]}]))
        while True:
            line = await self.readline()
            verb, _, arg = line.partition(" ")
            verb = verb.upper()
            key = verb
            if verb == "AUTH":
                mech = arg.split(" ", 1)[0].upper()
                key = f"AUTH {mech}" if f"AUTH {mech}" in on else "AUTH"
                self.in_auth = True
                self.payload = arg.split(" ", 1)[1].strip() if " " in arg else ""
                if not self.in_tls:
                    self.auth_before_tls = True
            if key in on:
                await self.steps(on[key])
            else:
                await self.default(verb, arg)
            self.in_auth = False

    async def default(self, verb, arg):
        on = self.sc.get("on", {})
        if verb == "EHLO":
            await self.step({"reply": self.ehlo_reply()})
        elif verb == "HELO":
            await self.step({"reply": "250 hostile.test"})
        elif verb == "STARTTLS":
            if "STARTTLS" in [w.upper() for w in self.sc.get("ehlo", DEFAULT_EHLO)] and not self.in_tls:
                await self.steps([{"reply": "220 2.0.0 Ready to start TLS"}, {"tls": True}])
            else:
                await self.step({"reply": "502 5.5.1 STARTTLS not offered"})
        elif verb == "AUTH":
            mech = arg.split(" ", 1)[0].upper()
            if mech == "PLAIN":
                if not self.payload:
                    await self.steps([{"reply": "334 "}, {"read": 1}])
                await self.step({"reply": "235 2.7.0 Authentication successful"})
            elif mech == "LOGIN":
                await self.steps([{"reply": "334 VXNlcm5hbWU6"}, {"read": 1}, {"reply": "334 UGFzc3dvcmQ6"},
                                  {"read": 1}, {"reply": "235 2.7.0 Authentication successful"}])
            else:
                await self.step({"reply": "504 5.5.4 mechanism not supported"})
        elif verb == "MAIL":
            await self.step({"reply": "250 2.1.0 Ok"})
        elif verb == "RCPT":
            await self.step({"reply": "250 2.1.5 Ok"})
        elif verb == "DATA":
            await self.steps([{"reply": "354 End data with <CR><LF>.<CR><LF>"}, {"data": True}])
            await self.steps(on.get("DOT", [{"reply": "250 2.0.0 Ok: queued as HOSTILE"}]))
        elif verb in ("RSET", "NOOP"):
            await self.step({"reply": "250 2.0.0 Ok"})
        elif verb == "QUIT":
            await self.steps([{"reply": "221 2.0.0 Bye"}, {"close": True}])
        else:
            await self.step({"reply": "502 5.5.2 Error: command not recognized"})


# ------------------------------------------------------------------ SASL ------
async def initial_or_read(s):
    """The client's first SASL message: the initial response, or a line after an empty 334."""
    if not s.payload:
        await s.steps([{"reply": "334 "}, {"read": 1}])
    return unb64(s.payload)


async def sasl_scram(s, st):
    """SCRAM-SHA-256 as a server that knows no password, with one fault:
    wrong_signature (v= of random bytes), missing_signature (235 right after the client's
    proof, no v=), nonce_not_extended (r= is the client's nonce alone), iterations (i= as given
    by "iterations", with a valid salt and nonce), bad_base64 (the server-first is not base64)."""
    fault = st["fault"]
    first = (await initial_or_read(s)).decode("utf-8", "replace")
    bare = first.split(",", 2)[2] if first.count(",") >= 2 else first
    attrs = dict(kv.split("=", 1) for kv in bare.split(",") if "=" in kv)
    cnonce = attrs.get("r", "")
    nonce = cnonce if fault == "nonce_not_extended" else cnonce + "hostileServerNonce"
    iterations = int(st.get("iterations", 4096))
    server_first = f"r={nonce},s={b64(b'hostile-salt-16b')},i={iterations}"
    if fault == "bad_base64":
        await s.step({"reply": "334 !!!this is not base64!!!"})
    else:
        await s.step({"reply": "334 " + b64(server_first.encode())})
    await s.step({"read": 1})
    if s.payload == "*":
        await s.step({"reply": "501 5.7.0 Authentication cancelled"})
        return
    if fault == "missing_signature":
        await s.step({"reply": "235 2.7.0 Authentication successful"})
        return
    await s.step({"reply": "334 " + b64(b"v=" + base64.b64encode(os.urandom(32)))})
    await s.step({"read": 1})
    if s.payload == "*":
        await s.step({"reply": "501 5.7.0 Authentication cancelled"})
    else:
        await s.step({"reply": "235 2.7.0 Authentication successful"})


def ntlm_type2(variant):
    """An NTLM CHALLENGE_MESSAGE (MS-NLMP 2.2.1.2) broken as `variant` says."""
    flags = 0x00000001 | 0x00000200 | 0x00080000 | 0x00800000 | 0x02000000  # unicode ntlm ess target-info version
    target = "RELAYKIT".encode("utf-16-le")
    info = struct.pack("<HH", 2, len(target)) + target + struct.pack("<HH", 0, 0)
    header_len = 56
    tn_off, ti_off = header_len, header_len + len(target)
    tn_len, ti_len = len(target), len(info)
    if variant == "target_info_out_of_bounds":
        ti_off, ti_len = 60000, 4000
    elif variant == "target_name_out_of_bounds":
        tn_off, tn_len = 0xFFFFFFF0, 0xFFFF
    elif variant == "target_info_overlong_av":
        info = struct.pack("<HH", 2, 5000) + target
        ti_len = len(info)
    msg = (b"NTLMSSP\0" + struct.pack("<I", 2) + struct.pack("<HHI", tn_len, tn_len, tn_off)
           + struct.pack("<I", flags) + b"\x01\x23\x45\x67\x89\xab\xcd\xef" + b"\0" * 8
           + struct.pack("<HHI", ti_len, ti_len, ti_off) + b"\x06\x01\xb1\x1d\0\0\0\x0f" + target + info)
    if variant == "truncated":
        return msg[:20]
    return msg


async def sasl_ntlm(s, st):
    """NTLM with a broken type-2 challenge ("variant": truncated, target_info_out_of_bounds,
    target_name_out_of_bounds, target_info_overlong_av); any type-3 is refused with 535."""
    await initial_or_read(s)
    await s.step({"reply": "334 " + b64(ntlm_type2(st["variant"]))})
    await s.step({"read": 1})
    if s.payload == "*":
        await s.step({"reply": "501 5.7.0 Authentication cancelled"})
    else:
        await s.step({"reply": "535 5.7.8 Authentication failed"})


async def sasl_echo(s, st):
    """Reads the whole exchange of PLAIN or LOGIN (whatever the client sent) and answers with
    st["answer"], whose {payload}/{decoded} repeat what the client sent last."""
    mech = st.get("mech", "PLAIN")
    if mech == "LOGIN":
        if not s.payload:
            await s.steps([{"reply": "334 VXNlcm5hbWU6"}, {"read": 1}])
        await s.steps([{"reply": "334 UGFzc3dvcmQ6"}, {"read": 1}])
    else:
        await initial_or_read(s)
    await s.step({"reply": st["answer"]})


SASL = {"scram": sasl_scram, "ntlm": sasl_ntlm, "echo": sasl_echo}


def env_name(name):
    return "RK_HOSTILE_" + name.upper().replace("-", "_") + "_PORT"


async def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    ap.add_argument("--scenarios", required=True)
    ap.add_argument("--base-port", type=int, default=int(os.environ.get("RK_HOSTILE_BASE_PORT", 2600)))
    ap.add_argument("--record", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--env-out", help="write RK_HOSTILE_<SCENARIO>_PORT=... lines here once listening")
    args = ap.parse_args()
    with open(args.scenarios, encoding="utf-8") as f:
        scenarios = json.load(f)["scenarios"]
    names = [sc["name"] for sc in scenarios]
    if len(set(names)) != len(names):
        sys.exit("hostile: duplicate scenario names")
    server = Server(scenarios, args.record, args.cert, args.key)
    servers = []
    for i, sc in enumerate(scenarios):
        port = args.base_port + i
        servers.append(await asyncio.start_server(server.handler(sc, port), "127.0.0.1", port, limit=MAX_LINE))
    if args.env_out:
        tmp = args.env_out + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            for i, sc in enumerate(scenarios):
                f.write(f"{env_name(sc['name'])}={args.base_port + i}\n")
        os.replace(tmp, args.env_out)
    print(f"hostile: {len(scenarios)} scenarios on 127.0.0.1:{args.base_port}..{args.base_port + len(scenarios) - 1}",
          file=sys.stderr, flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


if __name__ == "__main__":
    asyncio.run(main())
