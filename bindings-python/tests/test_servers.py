"""Test and Send against the real servers of tests/servers/: report fields, bytes on arrival,
exceptions with their fields, the JSON form, asyncio, threads, Ctrl-C, fork, and the redacted
trace in the `relaykit` logger."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import keyword
import logging
import os
import signal
import socket
import sys
import threading
import time
import typing
import uuid
from collections.abc import Iterator
from typing import Any, Optional

import pytest
from servers import aiosmtpd, arrived, dovecot_starttls, env, needs_servers

import relaykit
from relaykit import _native
from relaykit._view import View

pytestmark = needs_servers


def unique_id() -> str:
    return f"<{uuid.uuid4().hex}@relaykit.test>"


def hello(to: Optional[list[str]] = None, **kw: Any) -> relaykit.Message:
    return relaykit.Message(env("RK_USER"), to=to or [env("RK_RCPT")], subject="relaykit python test",
                            text="Hello from the Python binding.\n", message_id=kw.pop("message_id", unique_id()), **kw)


@contextlib.contextmanager
def silent_listener() -> Iterator[tuple[socket.socket, int]]:
    """A socket that listens and never answers: the kernel completes the TCP handshake, and the
    SMTP greeting never comes."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    try:
        yield s, s.getsockname()[1]
    finally:
        s.close()


# --- Test ---------------------------------------------------------------------------------


def test_report_fields_on_starttls_with_relay_check() -> None:
    r = relaykit.test(dovecot_starttls(), relay_check=(env("RK_USER"), env("RK_RCPT")))
    assert r.ok is True and r.error is None and r.warnings == ()
    names = [s.name for s in r.stages]
    assert names == ["dns", "connect", "greeting", "ehlo", "tls", "ehlo", "auth", "mail_from", "rcpt_to",
                     "rset", "quit"]
    assert all(s.ok and s.ms >= 0 for s in r.stages)
    assert r.server is not None and "ESMTP" in r.server.banner
    assert r.server.size_limit == 31457280
    assert set(r.server.auth_mechanisms) == set(env("RK_DOVECOT_MECHS").split(","))
    assert r.tls is not None and r.tls.verified and r.tls.version in ("TLSv1.3", "TLSv1.2")
    assert "CN=localhost" in r.tls.subject and r.tls.verify_error is None
    assert r.auth is not None and r.auth.mechanism == "SCRAM-SHA-256"
    assert [a.to_dict() for a in r.auth.attempts] == [{"mechanism": "SCRAM-SHA-256", "ok": True, "code": 235}]
    assert isinstance(r.auth.attempts[0], relaykit.AuthAttempt) and r.auth.attempts[0].message is None
    assert r.relay is not None and r.relay.from_ == env("RK_USER")
    assert r.relay.to_dict() == {"from": env("RK_USER"), "to": env("RK_RCPT"), "ok": True, "reply": "250 2.1.5 Ok"}
    d = r.to_dict()
    assert d["relay"]["from"] == env("RK_USER") and json.loads(r.to_json()) == d


def test_relay_check_as_dict_and_refused_relay() -> None:
    p = relaykit.Profile(env("RK_HOST"), port=int(env("RK_DOVECOT_PLAIN_PORT")), starttls="never")
    r = relaykit.test(p, relay_check={"from": env("RK_USER"), "to": env("RK_RELAY_RCPT")})
    assert r.ok is False and r.error is None
    assert r.relay is not None and not r.relay.ok and r.relay.reply.startswith("554 5.7.1")
    assert [s.name for s in r.stages if not s.ok] == ["rcpt_to"]
    assert not any("STARTTLS" in w for w in r.warnings)  # starttls="never": nothing to warn about


def test_wrong_password_is_in_the_report() -> None:
    r = relaykit.test(dovecot_starttls(password=env("RK_BAD_PASS"), auth_mechanisms=["PLAIN"]))
    assert r.ok is False
    assert isinstance(r.error, relaykit.AuthFailedError)
    assert (r.error.kind, r.error.stage, r.error.code, r.error.enhanced_code) == ("auth_failed", "auth", 535, "5.7.8")
    assert r.error.hint is not None and "535" in r.error.hint
    assert r.auth is not None and r.auth.mechanism is None and r.auth.attempts[0].code == 535
    assert isinstance(r.stages[-1], relaykit.Stage) and (r.stages[-1].name, r.stages[-1].ok) == ("auth", False)
    assert r.to_dict()["error"]["kind"] == "auth_failed"


def test_unverified_certificate_is_a_warning_in_opportunistic_tls() -> None:
    p = relaykit.Profile(env("RK_HOST"), port=int(env("RK_DOVECOT_PLAIN_PORT")))  # no CA given
    r = relaykit.test(p)
    assert r.ok is True
    assert r.tls is not None and r.tls.verified is False and r.tls.verify_error
    assert any("not verified" in w for w in r.warnings)
    assert r.to_dict()["tls"]["verify_error"] == r.tls.verify_error


def test_tls_failure_and_refused_connection_are_in_the_report() -> None:
    r = relaykit.test(relaykit.Profile(env("RK_HOST"), port=int(env("RK_DOVECOT_IMPLICIT_PORT")),
                                       encrypted_connection=True, tls_mode="implicit"))  # CA not trusted
    assert not r.ok and isinstance(r.error, relaykit.TlsError) and r.error.stage == "tls"
    with silent_listener() as (s, port):
        pass  # closed again: nothing listens on the port now
    r = relaykit.test(relaykit.Profile("127.0.0.1", port=port))
    assert not r.ok and isinstance(r.error, relaykit.ConnectError) and r.error.stage == "connect"


def test_invalid_input_raises() -> None:
    p = dovecot_starttls()
    p.starttls = "never"  # a setter does not validate; Test does (with encrypted_connection)
    with pytest.raises(relaykit.ConfigError, match=r"\$\.starttls"):
        relaykit.test(p)
    with pytest.raises(relaykit.ConfigError, match=r"options\.relay_check\.to: is required"):
        relaykit.test(dovecot_starttls(), relay_check={"from": env("RK_USER")})
    with pytest.raises(relaykit.ConfigError, match=r"options\.relay_check\.to: is required"):
        relaykit.test(dovecot_starttls(), relay_check=(env("RK_USER"), " "))
    with pytest.raises(relaykit.ConfigError, match=r"options\.relay_check"):
        relaykit.test(dovecot_starttls(), relay_check=("a@b", "c@d", "e@f"))
    with pytest.raises(relaykit.RrtError, match="NOPE"):
        relaykit.test(dovecot_starttls(username="~APP::%NOPE%~"))
    enc = dovecot_starttls()
    relaykit.encrypt_password(enc, env("RK_PASS"), relaykit.Keyring.generate())
    with pytest.raises(relaykit.CryptoError):
        relaykit.test(enc, keyring=relaykit.Keyring())


def test_keyring_and_context_are_used() -> None:
    keyring = relaykit.Keyring.generate()
    p = dovecot_starttls(username="~APP::%user%~", id="py-test")
    relaykit.encrypt_password(p, env("RK_PASS"), keyring)
    ctx = relaykit.RrtContext()
    ctx.set("APP", "user", env("RK_USER"))
    assert relaykit.test(p, keyring=keyring, context=ctx).ok


# --- Send ---------------------------------------------------------------------------------


def test_send_raw_bytes_arrive_exactly() -> None:
    mid = unique_id()
    raw = (f"From: {env('RK_USER')}\r\nTo: {env('RK_RCPT')}\r\nSubject: exact bytes\r\nMessage-ID: {mid}\r\n\r\n"
           ".leading dot is stuffed on the wire and unstuffed on arrival\r\nbody\r\n").encode()
    m = relaykit.Message(env("RK_USER"), to=[env("RK_RCPT")], raw=raw)
    res = relaykit.send(aiosmtpd(), m)
    assert res.accepted == (env("RK_RCPT"),) and res.rejected == ()
    assert res.reply.startswith("250")
    data, meta = arrived(mid)
    assert data == raw
    assert meta["mail_from"] == env("RK_USER") and meta["rcpt_tos"] == [env("RK_RCPT")]


def test_send_built_message_arrives_as_prepared() -> None:
    m = relaykit.Message(env("RK_USER"), to=[env("RK_RCPT")], subject="Grüße ~APP::%n%~", text="text ü\n",
                         html="<p>html</p>", attachments=[relaykit.Attachment("a.bin", "application/octet-stream",
                                                                            data=bytes(range(256)))],
                         message_id=unique_id(), expand_rrts=True)
    ctx = relaykit.RrtContext()
    ctx.set("APP", "n", "42")
    res = relaykit.send(aiosmtpd(auth_mechanisms=["CRAM-MD5"]), m, context=ctx)
    assert res.message_id == m.message_id
    data, meta = arrived(m.message_id or "")
    assert meta["auth_mechanism"] == "CRAM-MD5"
    prepared = m.prepare(ctx)
    # Date and MIME boundaries differ per preparation; everything else must be what prepare() gives.
    def stable(b: bytes) -> list[bytes]:
        return [line for line in b.split(b"\r\n") if not line.startswith((b"Date:", b"--", b"Content-Type: multipart"))
                and b"boundary=" not in line]

    assert stable(data) == stable(prepared.data)
    assert b"\n" not in data.replace(b"\r\n", b"")  # CRLF only
    assert f"Message-ID: {m.message_id}".encode() in data
    assert b"subject: =?utf-8?" in data.lower() and b" 42\r\n" in data  # an encoded word; the tag expanded
    assert base64.b64encode(bytes(range(256)))[:60] in data


def test_partial_rejection_is_in_the_result() -> None:
    m = hello(to=[env("RK_RCPT"), env("RK_REJECT_RCPT")])
    res = relaykit.send(aiosmtpd(), m)
    assert res.accepted == (env("RK_RCPT"),)
    assert len(res.rejected) == 1
    rej = res.rejected[0]
    assert (rej.address, rej.code, rej.enhanced_code) == (env("RK_REJECT_RCPT"), 550, "5.1.1")
    assert res.to_dict()["rejected"][0] == {"address": rej.address, "code": 550, "enhanced_code": "5.1.1",
                                            "message": rej.message}
    _, meta = arrived(m.message_id or "")
    assert meta["rcpt_tos"] == [env("RK_RCPT")]


def test_send_raises_the_error_of_its_kind() -> None:
    with pytest.raises(relaykit.AuthFailedError) as ei:
        relaykit.send(dovecot_starttls(password=env("RK_BAD_PASS"), auth_mechanisms=["PLAIN"]), hello())
    e = ei.value
    assert (e.kind, e.stage, e.code, e.enhanced_code) == ("auth_failed", "auth", 535, "5.7.8")
    assert e.hint is not None and "535" in e.hint
    assert e.to_dict() == {"kind": "auth_failed", "stage": "auth", "code": 535, "enhanced_code": "5.7.8",
                           "message": e.message, "hint": e.hint, "transient": False, "fate": "rejected"}
    assert env("RK_BAD_PASS") not in str(e) and env("RK_BAD_PASS") not in repr(e)

    with pytest.raises(relaykit.RecipientRejectedError) as ri:
        relaykit.send(aiosmtpd(), hello(to=[env("RK_REJECT_RCPT")]))
    assert (ri.value.code, ri.value.enhanced_code, ri.value.stage) == (550, "5.1.1", "rcpt_to")

    with pytest.raises(relaykit.ConfigError):  # header injection, before any connection
        relaykit.send(aiosmtpd(), relaykit.Message(env("RK_USER"), to=[env("RK_RCPT")], subject="a\r\nBcc: x@y"))
    with pytest.raises(relaykit.AuthUnsupportedError):  # PLAIN without TLS is refused locally
        relaykit.send(aiosmtpd(allow_plaintext_password=False, auth_mechanisms=["PLAIN"]), hello())


def test_send_timeout_releases_the_gil() -> None:
    ticks = 0
    stop = threading.Event()

    def spin() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            time.sleep(0.001)

    t = threading.Thread(target=spin)
    t.start()
    with silent_listener() as (_, port):
        start = time.monotonic()
        with pytest.raises(relaykit.SmtpTimeoutError) as ei:
            relaykit.send(relaykit.Profile("127.0.0.1", port=port, timeout_secs=0.5), hello())
        elapsed = time.monotonic() - start
    stop.set()
    t.join()
    assert isinstance(ei.value, TimeoutError) and ei.value.stage == "greeting"
    assert 0.45 <= elapsed < 3
    assert ticks > 50, f"the other thread made {ticks} steps while Send waited {elapsed:.2f} s"


# --- The JSON form is exactly the core's ----------------------------------------------------


def assert_declared(view: View) -> None:
    """Every key of the core's JSON is declared for type checkers on the class that shows it
    (so the typing cannot fall behind the core), recursively."""
    hints = typing.get_type_hints(type(view))
    for key in view.to_dict():
        name = key + "_" if keyword.iskeyword(key) else key
        assert name in hints or isinstance(getattr(type(view), name, None), property), f"{type(view).__name__}.{name}"
        shown = getattr(view, name)
        for item in shown if isinstance(shown, tuple) else (shown,):
            if isinstance(item, View):
                assert_declared(item)


def test_to_dict_and_to_json_are_the_cores_json() -> None:
    cases: list[tuple[relaykit.Profile, Any]] = [
        (dovecot_starttls(), {"relay_check": {"from": env("RK_USER"), "to": env("RK_RCPT")}}),
        (dovecot_starttls(password=env("RK_BAD_PASS"), auth_mechanisms=["PLAIN", "LOGIN"]), None),
        (relaykit.Profile(env("RK_HOST"), port=int(env("RK_DOVECOT_PLAIN_PORT"))),
         {"relay_check": {"from": env("RK_USER"), "to": env("RK_RELAY_RCPT")}}),
    ]
    for profile, options in cases:
        value, text, error = _native._test(profile, None, None, options)
        report = relaykit.TestReport(value, text, error)
        assert report.to_dict() == value == json.loads(text)
        assert list(report.to_dict()) == list(json.loads(text))  # the core's key order too
        assert report.to_json() == text
        assert (report.error is None) is (value["error"] is None)
        if report.error is not None:
            assert report.error.to_dict() == value["error"]
        assert_declared(report)
    value, text = _native._send(aiosmtpd(), hello(to=[env("RK_RCPT"), env("RK_REJECT_RCPT")]))
    result = relaykit.SendResult(value, text)
    assert result.to_dict() == value == json.loads(text) and result.to_json() == text
    assert result.rejected and isinstance(result.rejected[0], relaykit.Rejection)
    assert_declared(result)


# --- asyncio --------------------------------------------------------------------------------


def test_asyncio_gather_of_sends_and_a_test() -> None:
    messages = [hello() for _ in range(6)]

    async def main() -> tuple[list[relaykit.SendResult], relaykit.TestReport]:
        sends = asyncio.gather(*(relaykit.send_async(aiosmtpd(), m) for m in messages))
        test = relaykit.test_async(dovecot_starttls())
        results, report = await asyncio.gather(sends, test)
        return list(results), report

    results, report = asyncio.run(main())
    assert report.ok
    assert [r.message_id for r in results] == [m.message_id for m in messages]
    for m in messages:
        arrived(m.message_id or "")


def test_async_errors_and_invalid_input() -> None:
    async def main() -> None:
        with pytest.raises(relaykit.AuthFailedError) as ei:
            await relaykit.send_async(dovecot_starttls(password=env("RK_BAD_PASS"), auth_mechanisms=["PLAIN"]),
                                      hello())
        assert ei.value.code == 535
        with pytest.raises(relaykit.ConfigError):
            await relaykit.test_async(dovecot_starttls(), relay_check={"to": "x@y"})
        report = await relaykit.test_async(dovecot_starttls(password=env("RK_BAD_PASS"), auth_mechanisms=["PLAIN"]))
        assert isinstance(report.error, relaykit.AuthFailedError)

    asyncio.run(main())


def test_async_cancel_aborts_the_send() -> None:
    with silent_listener() as (listener, port):
        listener.setblocking(False)

        async def main() -> float:
            loop = asyncio.get_running_loop()
            task = asyncio.ensure_future(relaykit.send_async(relaykit.Profile("127.0.0.1", port=port), hello()))
            conn, _ = await asyncio.wait_for(loop.sock_accept(listener), 5)  # relaykit connected...
            with conn:
                start = time.monotonic()
                task.cancel()  # ...and waits for a greeting that never comes
                with pytest.raises(asyncio.CancelledError):
                    await task
                elapsed = time.monotonic() - start
                # The aborted task dropped its connection (not after the 30 s timeout).
                assert await asyncio.wait_for(loop.sock_recv(conn, 1), 5) == b""
            return elapsed

        assert asyncio.run(main()) < 0.5


def test_the_event_loop_is_not_blocked() -> None:
    with silent_listener() as (_, port):

        async def main() -> int:
            ticks = 0
            send = asyncio.ensure_future(
                relaykit.send_async(relaykit.Profile("127.0.0.1", port=port, timeout_secs=0.5), hello()))
            while not send.done():
                ticks += 1
                await asyncio.sleep(0.01)
            with pytest.raises(relaykit.SmtpTimeoutError):
                send.result()
            return ticks

        assert asyncio.run(main()) > 20


# --- threads, Ctrl-C, fork ------------------------------------------------------------------


class SlowLink:
    """A TCP relay to aiosmtpd that holds each new connection for `delay` seconds before
    connecting on: a slow network in front of a real server, which the shared servers cannot be
    configured to be. Messages still go to (and are checked at) aiosmtpd."""

    def __init__(self, port: int, delay: float) -> None:
        self.target, self.delay = port, delay
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.port = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    async def _pipe(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await r.read(65536):
                w.write(data)
                await w.drain()
        w.close()

    async def _handle(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await asyncio.sleep(self.delay)
        ur, uw = await asyncio.open_connection("127.0.0.1", self.target)
        await asyncio.gather(self._pipe(r, uw), self._pipe(ur, w))

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()
        server.close()
        pending = asyncio.all_tasks(self.loop)
        for task in pending:
            task.cancel()
        self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self.loop.close()

    def __enter__(self) -> SlowLink:
        self.thread.start()
        assert self.ready.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def test_threads_send_in_parallel() -> None:
    delay = 0.3
    with SlowLink(int(env("RK_AIOSMTPD_PORT")), delay) as link:
        profile = aiosmtpd(port=link.port)
        serial = [hello() for _ in range(8)]
        start = time.monotonic()
        for m in serial:
            relaykit.send(profile, m)
        in_series = time.monotonic() - start

        parallel = [hello() for _ in range(8)]
        errors: list[BaseException] = []

        def one(m: relaykit.Message) -> None:
            try:
                relaykit.send(profile, m)
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=one, args=(m,)) for m in parallel]
        start = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        in_parallel = time.monotonic() - start
    assert not errors
    assert in_series >= 8 * delay
    # Eight waits overlap: parallel takes about one delay, series eight.
    assert in_parallel * 3 < in_series, f"8 sends: {in_parallel:.2f} s in parallel, {in_series:.2f} s in series"
    for m in serial + parallel:
        arrived(m.message_id or "")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_interrupts_a_blocking_send() -> None:
    with silent_listener() as (listener, port):
        listener.settimeout(5)
        interrupted_at: list[float] = []
        accepted: list[socket.socket] = []

        def interrupt_once_connected() -> None:
            conn, _ = listener.accept()  # relaykit is connected and waits for the greeting
            accepted.append(conn)
            interrupted_at.append(time.monotonic())
            os.kill(os.getpid(), signal.SIGINT)

        t = threading.Thread(target=interrupt_once_connected)
        t.start()
        with pytest.raises(KeyboardInterrupt):
            relaykit.send(relaykit.Profile("127.0.0.1", port=port, timeout_secs=30), hello())
        raised_at = time.monotonic()
        t.join(5)
        for conn in accepted:
            conn.close()
    assert interrupted_at and raised_at - interrupted_at[0] < 1.0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_send_survives_fork() -> None:
    assert relaykit.send(aiosmtpd(), hello()).accepted  # the parent's runtime is running
    child_message = hello()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        signal.alarm(10)  # a child stuck on the parent's dead runtime would hang
        try:
            ok = relaykit.send(aiosmtpd(), child_message).accepted == (env("RK_RCPT"),)
            os._exit(0 if ok else 2)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    arrived(child_message.message_id or "")
    assert relaykit.send(aiosmtpd(), hello()).accepted  # and the parent's still works


# --- trace and logging ----------------------------------------------------------------------


def test_trace_callback_sees_the_protocol() -> None:
    lines: list[tuple[str, str]] = []
    relaykit.send(aiosmtpd(), hello(), trace=lambda d, line: lines.append((d, line)))
    assert lines[0][0] == "S" and lines[0][1].startswith("220")
    assert ("C", "QUIT") in lines
    assert any(d == "C" and line.startswith("AUTH ") for d, line in lines)


def test_a_failing_trace_callback_does_not_break_the_send(monkeypatch: pytest.MonkeyPatch) -> None:
    unraisable: list[BaseException] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: unraisable.append(u.exc_value))
    nested: list[BaseException] = []

    def bad(direction: str, line: str) -> None:
        if line.startswith("220"):
            try:  # a blocking call on relaykit's own thread would deadlock it: refused
                relaykit.test(aiosmtpd())
            except relaykit.RelayKitError as e:
                nested.append(e)
        raise RuntimeError("trace callback failed")

    assert relaykit.send(aiosmtpd(), hello(), trace=bad).accepted
    assert unraisable and all(isinstance(e, RuntimeError) for e in unraisable)
    assert len(nested) == 1 and isinstance(nested[0], relaykit.InternalError)


def _b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"])
def test_log_is_redacted_for_every_mechanism(mechanism: str, caplog: pytest.LogCaptureFixture) -> None:
    user, password = env("RK_USER"), env("RK_PASS")
    with caplog.at_level(logging.DEBUG, logger="relaykit"):
        report = relaykit.test(dovecot_starttls(auth_mechanisms=[mechanism]))
    assert report.ok and report.auth is not None and report.auth.mechanism == mechanism
    records = [r for r in caplog.records if r.name == "relaykit"]
    lines = [r.getMessage() for r in records]
    assert all(r.levelno == logging.DEBUG for r in records)
    assert f"C: AUTH {mechanism}" in " ".join(lines)
    assert any(line.startswith("Test of ") for line in lines)
    text = "\n".join(lines)
    forbidden = {
        "password": password,
        "base64(password)": _b64(password),
        "PLAIN payload": _b64(f"\0{user}\0{password}"),
        "LOGIN user payload": _b64(user),
        "SCRAM client-first": _b64(f"n,,n={user},r=")[:-4],
    }
    # CRAM-MD5's response is computable from the challenge the server sent (which is in the log).
    for line in lines:
        if mechanism == "CRAM-MD5" and line.startswith("S: 334 "):
            challenge = base64.b64decode(line[len("S: 334 "):])
            digest = hmac.new(password.encode(), challenge, hashlib.md5).hexdigest()
            forbidden["CRAM-MD5 response"] = _b64(f"{user} {digest}")
    leaked = [name for name, secret in forbidden.items() if secret in text]
    assert not leaked, f"found in the log: {leaked}"
    # Every client line of the AUTH exchange is redacted.
    start = next(i for i, line in enumerate(lines) if line.startswith("C: AUTH "))
    end = next(i for i, line in enumerate(lines) if line.startswith("S: 235"))
    exchange = [line for line in lines[start:end] if line.startswith("C: ")]
    assert exchange[0] in (f"C: AUTH {mechanism}", f"C: AUTH {mechanism} <redacted>"), "AUTH line not redacted"
    assert all(line == "C: <redacted>" for line in exchange[1:]), "a client AUTH line was not redacted"


def test_logger_off_costs_no_trace() -> None:
    logging.getLogger("relaykit").setLevel(logging.WARNING)
    try:
        assert relaykit._tracer(None) is None
    finally:
        logging.getLogger("relaykit").setLevel(logging.NOTSET)
