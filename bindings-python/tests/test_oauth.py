"""OAuth2 token providers (``token_provider=``) against the real ``oauth2`` role (Postfix +
Dovecot's oauth2 passdb, tokens from the role's issuer): OAUTHBEARER and XOAUTH2 with a token
revoked mid-run and refreshed through the provider (plain callable and coroutine function, sync
and asyncio API), each message verified in the Maildir by Message-ID; a provider that raises or
returns a non-string is a clear ``AuthFailedError`` naming the provider, at once; no token
appears in a trace, an error or a report."""

from __future__ import annotations

import asyncio
import base64
import email
import json
import logging
import pathlib
import threading
import time
import urllib.parse
import urllib.request
from typing import Any, Optional

import pytest

import relaykit
from servers import WAIT_SECS, env, needs_servers


def post(url: str, **form: str) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(url, data=urllib.parse.urlencode(form).encode())
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return int(r.status), json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return int(e.code), json.loads(e.read() or b"{}")


def issue() -> str:
    code, body = post(env("RK_OAUTH_TOKEN_URL"), grant_type="password", username=env("RK_OAUTH_USER"),
                      password=env("RK_OAUTH_PASS"))
    assert code == 200, body
    return str(body["access_token"])


def revoke(token: str) -> None:
    assert post(env("RK_OAUTH_REVOKE_URL"), token=token)[0] == 200


def profile(mech: str, timeout_secs: float = 10.0) -> relaykit.Profile:
    return relaykit.Profile(env("RK_HOST"), port=int(env("RK_OAUTH_PORT")), timeout_secs=timeout_secs,
                            encrypted_connection=True, tls_mode="starttls", tls_ca_file=env("RK_CA_FILE"),
                            requires_authentication=True, username=env("RK_OAUTH_USER"),
                            auth_mechanisms=[mech])


def message(mid: str) -> relaykit.Message:
    return relaykit.Message(env("RK_OAUTH_USER"), to=[env("RK_RCPT")], subject=f"relaykit python oauth {mid}",
                            text="sent with a token from a Python token provider\n", message_id=mid)


def delivered(mids: list[str]) -> dict[str, int]:
    """How many files in carol's Maildir of the oauth2 role carry each of ``mids``; polls
    (bounded) until every one has arrived."""
    folder = pathlib.Path(env("RK_OAUTH_MAIL_DIR")) / "relaykit.test" / "carol"
    deadline = time.monotonic() + WAIT_SECS * 3
    counts: dict[str, int] = {}
    seen: set[pathlib.Path] = set()
    while True:
        for sub in ("new", "cur"):
            for f in (folder / sub).glob("*"):
                if f in seen:
                    continue
                seen.add(f)
                mid = email.message_from_bytes(f.read_bytes()).get("Message-ID", "").strip()
                if mid in mids:
                    counts[mid] = counts.get(mid, 0) + 1
        if all(m in counts for m in mids):
            return counts
        assert time.monotonic() < deadline, f"only {len(counts)} of {len(mids)} arrived: {counts}"
        time.sleep(0.1)


class Caching:
    """A host's provider: keeps its token for every new connection, gets a fresh one from the
    issuer on ``"refresh"``; records the calls and the tokens it gave."""

    def __init__(self, first: Optional[str] = None) -> None:
        self.token = first
        self.calls: list[str] = []
        self.tokens: list[str] = []
        self.threads: set[int] = set()
        self.lock = threading.Lock()

    def give(self, username: str, reason: str) -> str:
        assert username == env("RK_OAUTH_USER")
        with self.lock:
            if reason == "refresh" or self.token is None:
                self.token = issue()
            self.calls.append(reason)
            self.tokens.append(self.token)
            self.threads.add(threading.get_ident())
            return self.token

    def __call__(self, username: str, reason: str) -> str:
        return self.give(username, reason)


def assert_no_token(tokens: list[str], texts: list[str]) -> None:
    assert tokens
    for t in tokens:
        for form in (t, base64.b64encode(t.encode()).decode()):
            for text in texts:
                assert form not in text, f"a token appears in: {text[:200]}"


def run_mailer(mailer: relaykit.Mailer, provider: Caching, mech: str, tag: str) -> list[str]:
    mids = [f"<py.oauth.{mech}.{tag}.{i}@relaykit.test>" for i in range(6)]
    for mid in mids[:2]:
        mailer.send(message(mid))
    revoke(provider.tokens[0])  # the token "expires" now
    for mid in mids[2:]:
        assert mailer.send(message(mid)).accepted == (env("RK_RCPT"),)
    return mids


@needs_servers
@pytest.mark.parametrize("mech", ["OAUTHBEARER", "XOAUTH2"])
def test_mailer_refreshes_a_revoked_token(mech: str) -> None:
    provider = Caching()
    lines: list[str] = []
    tag = f"{time.time_ns()}"
    with relaykit.Mailer(profile(mech), max_connections=1, max_messages_per_connection=2, token_provider=provider,
                         trace=lambda d, line: lines.append(f"{d}: {line}")) as m:
        mids = run_mailer(m, provider, mech, tag)
        stats = m.stats
    counts = delivered(mids)
    assert all(counts[mid] == 1 for mid in mids), counts
    assert stats.connections_opened == 3
    assert provider.calls == ["initial", "initial", "refresh", "initial"]
    assert provider.tokens[2] != provider.tokens[0]
    assert threading.get_ident() not in provider.threads, "the provider ran on a relaykit worker thread"
    verdicts = [line[3:6] for line in lines if line.startswith("S: 535") or line.startswith("S: 235")]
    assert verdicts == ["235", "535", "235", "235"], lines
    assert any(f"AUTH {mech} <redacted>" in line for line in lines)
    assert_no_token(provider.tokens, lines + [repr(stats)])


@needs_servers
def test_async_mailer_with_a_coroutine_provider_on_the_callers_loop() -> None:
    caching = Caching()
    loops: list[asyncio.AbstractEventLoop] = []

    async def provider(username: str, reason: str) -> str:
        loops.append(asyncio.get_running_loop())
        await asyncio.sleep(0)
        return await asyncio.get_running_loop().run_in_executor(None, caching.give, username, reason)

    async def main() -> list[str]:
        tag = f"{time.time_ns()}"
        mids = [f"<py.oauth.async.{tag}.{i}@relaykit.test>" for i in range(4)]
        async with relaykit.AsyncMailer(profile("OAUTHBEARER"), max_connections=1, max_messages_per_connection=2,
                                        token_provider=provider) as m:
            for mid in mids[:2]:
                await m.send(message(mid))
            revoke(caching.tokens[0])
            for mid in mids[2:]:
                await m.send(message(mid))
        assert loops and all(lp is asyncio.get_running_loop() for lp in loops), "awaited on the caller's loop"
        return mids

    mids = asyncio.run(main())
    assert delivered(mids)
    assert caching.calls == ["initial", "initial", "refresh"]


@needs_servers
def test_send_and_test_with_a_dead_token_refresh(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="relaykit")
    for mech in ("OAUTHBEARER", "XOAUTH2"):
        dead = issue()
        revoke(dead)
        provider = Caching(first=dead)
        report = relaykit.test(profile(mech), token_provider=provider)
        assert report.ok, report.error
        assert report.auth is not None
        assert [(a.mechanism, a.ok, a.code) for a in report.auth.attempts] == [(mech, False, 535), (mech, True, 235)]
        assert provider.calls == ["initial", "refresh"]
        # a coroutine function through the blocking API (run with asyncio.run on the worker)
        revoke(provider.tokens[-1])

        async def coro_provider(username: str, reason: str) -> str:
            return provider.give(username, reason)

        mid = f"<py.oauth.send.{mech}.{time.time_ns()}@relaykit.test>"
        r = relaykit.send(profile(mech), message(mid), token_provider=coro_provider)
        assert r.accepted == (env("RK_RCPT"),)
        assert delivered([mid])
        assert provider.calls == ["initial", "refresh", "initial", "refresh"]
        logs = [rec.getMessage() for rec in caplog.records]
        assert any(f"AUTH {mech} <redacted>" in m for m in logs), "the relaykit logger got the trace"
        assert_no_token(provider.tokens, [report.to_json(), repr(report), repr(r), str(report.error)] + logs)


@needs_servers
def test_send_async_with_a_coroutine_provider() -> None:
    async def main() -> relaykit.SendResult:
        async def provider(username: str, reason: str) -> str:
            return await asyncio.get_running_loop().run_in_executor(None, issue)

        mid = f"<py.oauth.sendasync.{time.time_ns()}@relaykit.test>"
        r = await relaykit.send_async(profile("XOAUTH2"), message(mid), token_provider=provider)
        assert delivered([mid])
        return r

    assert asyncio.run(main()).accepted == (env("RK_RCPT"),)


@needs_servers
def test_a_provider_that_raises_is_a_clear_error_at_once() -> None:
    def provider(username: str, reason: str) -> str:
        raise RuntimeError("the issuer answered 503")

    start = time.monotonic()
    with pytest.raises(relaykit.AuthFailedError) as exc:
        relaykit.send(profile("OAUTHBEARER"), message(f"<py.oauth.raise.{time.time_ns()}@relaykit.test>"),
                      token_provider=provider)
    assert time.monotonic() - start < 5
    e = exc.value
    assert e.stage == "auth"
    assert "token provider failed to give a token: RuntimeError: the issuer answered 503" in e.message, e.message
    report = relaykit.test(profile("XOAUTH2"), token_provider=provider)
    assert not report.ok and isinstance(report.error, relaykit.AuthFailedError)
    assert "token provider" in str(report.error)


@needs_servers
@pytest.mark.parametrize("bad", [42, None, b"bytes-token"])
def test_a_provider_returning_a_non_string_names_the_provider(bad: Any) -> None:
    start = time.monotonic()
    report = relaykit.test(profile("OAUTHBEARER"), token_provider=lambda u, r: bad)
    assert time.monotonic() - start < 5
    assert not report.ok and isinstance(report.error, relaykit.AuthFailedError)
    assert f"token_provider returned {type(bad).__name__}, not str" in report.error.message, report.error.message


@needs_servers
def test_a_hanging_coroutine_provider_is_bounded_by_the_timeout() -> None:
    async def provider(username: str, reason: str) -> str:
        await asyncio.sleep(60)
        return "never"

    async def main() -> relaykit.TestReport:
        return await relaykit.test_async(profile("OAUTHBEARER", timeout_secs=2), token_provider=provider)

    start = time.monotonic()
    report = asyncio.run(main())
    took = time.monotonic() - start
    assert 1.5 < took < 8, took
    assert report.error is not None and "token provider failed" in report.error.message


def test_a_provider_that_is_not_callable_is_a_type_error() -> None:
    p = relaykit.Profile("127.0.0.1", port=9, requires_authentication=True, username="u",
                         auth_mechanisms=["OAUTHBEARER"])
    with pytest.raises(TypeError, match="token_provider must be callable"):
        relaykit.test(p, token_provider="a-token")  # type: ignore[arg-type]
