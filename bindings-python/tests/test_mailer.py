"""relaykit.Mailer and AsyncMailer: many messages over few pooled connections. The option
checks need no server; the rest sends to the real Postfix + Dovecot role (STARTTLS, as
test_servers.py does, or plain for the 1,000-message send_many and the "idle" listener) and
reads what arrived from the recipient's Maildir."""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import os
import pathlib
import re
import threading
import time
import uuid
from typing import Any, Optional

import pytest
import servers
from servers import dovecot_starttls, env, needs_servers, state_dir

import relaykit

WAIT_SECS = 120.0  # bound on waiting for Postfix to deliver a batch into the Maildir


def offline_profile(**kw: Any) -> relaykit.Profile:
    """A profile no test connects to (the discard port): creation must not connect."""
    return relaykit.Profile("127.0.0.1", port=9, starttls="never", **kw)


def message(message_id: str, **kw: Any) -> relaykit.Message:
    return relaykit.Message(env("RK_USER"), to=[env("RK_RCPT")], subject=kw.pop("subject", "relaykit mailer test"),
                            text="Sent through a pooled relaykit.Mailer.\n", message_id=message_id, **kw)


def run_prefix(name: str) -> str:
    """A Message-ID prefix no other run shares: the Maildir keeps earlier runs' messages."""
    return f"<{name}.{uuid.uuid4().hex}."


def delivered(prefix: str, want: int) -> collections.Counter[str]:
    """How many files in the recipient's Maildir carry each Message-ID starting with `prefix`,
    polled (bounded) until `want` distinct ones have arrived."""
    local, domain = env("RK_RCPT").split("@", 1)
    maildir = pathlib.Path(env("RK_DOVECOT_MAIL_DIR")) / domain / local
    pattern = re.compile(re.escape(prefix).encode() + rb"[^>]*>")
    counts: collections.Counter[str] = collections.Counter()
    seen: set[pathlib.Path] = set()
    deadline = time.monotonic() + WAIT_SECS
    while True:
        for sub in ("new", "cur"):
            for path in (maildir / sub).iterdir() if (maildir / sub).is_dir() else ():
                if path in seen:
                    continue
                seen.add(path)
                try:
                    found = pattern.search(path.read_bytes())
                except FileNotFoundError:  # moved from new/ to cur/ meanwhile: seen there
                    seen.discard(path)
                    continue
                if found:
                    counts[found.group().decode()] += 1
        if len(counts) >= want:
            return counts
        assert time.monotonic() < deadline, f"only {len(counts)} of {want} messages arrived within {WAIT_SECS} s"
        time.sleep(0.1)  # polling a mailbox, bounded above


# --- options: the core's, checked at creation -----------------------------------------------


@pytest.mark.parametrize(("key", "value"), [
    ("max_connections", 0),
    ("max_connections", 10_001),
    ("max_connections", "2"),
    ("max_messages_per_connection", 0),
    ("idle_timeout_secs", -1.0),
    ("idle_timeout_secs", 0),
    ("retry", {"max_attempts": 0}),
    ("rate_limit", {"messages": 0, "per_secs": 1}),
    ("retry_unknown", "yes"),
    ("max_queued", 0),
])
def test_bad_options_fail_at_creation_naming_the_key(key: str, value: Any) -> None:
    with pytest.raises(relaykit.ConfigError) as info:
        relaykit.Mailer(offline_profile(), **{key: value})
    assert info.value.message.startswith(f"options.{key}"), info.value.message


def test_bad_profile_fails_at_creation_without_connecting() -> None:
    with pytest.raises(relaykit.ConfigError, match="tls_ca_file"):
        relaykit.Mailer(offline_profile(tls_ca_file="/nonexistent/ca.pem"), max_connections=1)


def test_options_not_given_are_the_cores_defaults() -> None:
    with relaykit.Mailer(offline_profile(), max_connections=None, idle_timeout_secs=None) as m:
        assert isinstance(m.stats, relaykit.MailerStats)
        assert m.stats.to_dict() == {"sent": 0, "failed": 0, "retried": 0, "reconnects": 0, "connections_opened": 0,
                                     "open_connections": 0, "queued": 0}
        assert (m.stats.retried, m.stats.queued) == (0, 0)
        assert "127.0.0.1" in repr(m)


# --- against Postfix + Dovecot --------------------------------------------------------------


@needs_servers
def test_two_hundred_messages_from_threads_over_two_connections() -> None:
    threads, each = 8, 25
    prefix = run_prefix("py-m200")
    # No recycling within the run (the core's default of 100 per connection would open a third).
    mailer = relaykit.Mailer(dovecot_starttls(), max_connections=2, max_messages_per_connection=threads * each)
    errors: list[BaseException] = []
    results: list[relaykit.SendResult] = []
    lock = threading.Lock()

    def worker(t: int) -> None:
        for i in range(each):
            mid = f"{prefix}{t}.{i}@relaykit.test>"
            try:
                r = mailer.send(message(mid))
                assert r.message_id == mid
                with lock:
                    results.append(r)
            except BaseException as e:  # noqa: BLE001 - reported below
                with lock:
                    errors.append(e)

    pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join(180)
    assert not any(th.is_alive() for th in pool), "200 sends took longer than 180 s"
    assert not errors, errors[:3]
    s = mailer.stats
    assert (s.sent, s.failed, len(results)) == (200, 0, 200), s
    assert s.connections_opened <= 2, s
    assert s.open_connections <= 2, s
    mailer.close()
    assert mailer.stats.open_connections == 0, "close QUITs the idle connections"
    counts = delivered(prefix, threads * each)
    assert len(counts) == threads * each
    assert all(n == 1 for n in counts.values()), [k for k, n in counts.items() if n != 1]


@needs_servers
def test_asyncio_gather_over_one_mailer() -> None:
    prefix = run_prefix("py-async")
    mids = [f"{prefix}{i}@relaykit.test>" for i in range(20)]

    async def main() -> tuple[list[relaykit.SendResult], relaykit.MailerStats]:
        async with relaykit.Mailer(dovecot_starttls(), max_connections=2) as m:
            results = await asyncio.gather(*(m.send_async(message(mid)) for mid in mids))
            return list(results), m.stats

    results, stats = asyncio.run(main())
    assert [r.message_id for r in results] == mids
    assert stats.sent == 20 and stats.connections_opened <= 2, stats
    assert set(delivered(prefix, len(mids))) == set(mids)


@needs_servers
def test_send_after_close_fails_at_once() -> None:
    prefix = run_prefix("py-closed")
    with relaykit.Mailer(dovecot_starttls()) as m:
        m.send(message(f"{prefix}1@relaykit.test>"))
        assert m.stats.open_connections == 1
    assert m.stats.open_connections == 0, "leaving the with block closed the mailer"
    # In a worker thread so that a hang fails the test instead of stopping the run.
    ex = concurrent.futures.ThreadPoolExecutor(1)
    try:
        start = time.monotonic()
        late = ex.submit(m.send, message(f"{prefix}2@relaykit.test>"))
        with pytest.raises(relaykit.ConfigError, match="closed"):
            late.result(timeout=5)
        assert time.monotonic() - start < 1.0
    finally:
        ex.shutdown(wait=False)
    m.close()  # closing again does nothing
    s = m.stats
    assert (s.sent, s.failed, s.connections_opened) == (1, 1, 1), s

    async def closed_async() -> None:
        a = relaykit.Mailer(dovecot_starttls())
        await a.close_async()
        with pytest.raises(relaykit.ConfigError, match="closed"):
            await asyncio.wait_for(a.send_async(message(f"{prefix}3@relaykit.test>")), 5)

    asyncio.run(closed_async())


@needs_servers
def test_a_bad_message_fails_alone() -> None:
    prefix = run_prefix("py-bad")
    with relaykit.Mailer(dovecot_starttls()) as m:
        bad = message(f"{prefix}bad@relaykit.test>", subject="hello\r\nBcc: victim@example.net")
        with pytest.raises(relaykit.ConfigError) as info:
            m.send(bad)
        assert info.value.message.startswith("message.subject:"), info.value.message
        assert m.stats.connections_opened == 0, "a bad message is refused before any connection"
        good = f"{prefix}good@relaykit.test>"
        assert m.send(message(good)).message_id == good
        s = m.stats
    assert (s.sent, s.failed) == (1, 1), s
    assert set(delivered(prefix, 1)) == {good}



def plain_dovecot(port_key: str = "RK_DOVECOT_PLAIN_PORT") -> relaykit.Profile:
    """A plain listener of Postfix + Dovecot (no TLS: the 1,000-message run measures the mailer,
    not TLS), logging in with CRAM-MD5."""
    return relaykit.Profile(env("RK_HOST"), port=int(env(port_key)), starttls="never", requires_authentication=True,
                            auth_mechanisms=["CRAM-MD5"], username=env("RK_USER"), password=env("RK_PASS"),
                            timeout_secs=30)


@needs_servers
def test_send_many_a_thousand_with_one_bad_message() -> None:
    n, bad = 1000, 500
    prefix = run_prefix("py-many")
    mids = [f"{prefix}{i}@relaykit.test>" for i in range(n)]
    batch = [message(mid, subject="bad\r\nBcc: victim@example.net" if i == bad else "send_many")
             for i, mid in enumerate(mids)]
    with relaykit.Mailer(plain_dovecot(), max_connections=2) as m:
        outcomes = m.send_many(batch)
        s = m.stats
    assert len(outcomes) == n
    failed = outcomes[bad]
    assert isinstance(failed, relaykit.ConfigError), failed
    assert failed.message.startswith("message.subject:"), failed.message
    assert (failed.transient, failed.fate) == (False, "rejected")
    sent = [o for i, o in enumerate(outcomes) if i != bad]
    assert all(isinstance(o, relaykit.SendResult) for o in sent), [o for o in sent if not isinstance(o, relaykit.SendResult)][:3]
    assert [o.message_id for o in sent if isinstance(o, relaykit.SendResult)] == mids[:bad] + mids[bad + 1:]
    assert all(o.attempts >= 1 for o in sent if isinstance(o, relaykit.SendResult))
    assert (s.sent, s.failed, s.queued) == (n - 1, 1, 0), s
    counts = delivered(prefix, n - 1)
    assert set(counts) == set(mids) - {mids[bad]}
    assert all(k == 1 for k in counts.values()), [mid for mid, k in counts.items() if k != 1][:5]


@needs_servers
def test_send_many_after_close_gives_each_message_the_error() -> None:
    m = relaykit.Mailer(dovecot_starttls())
    m.close()
    outcomes = m.send_many([message(f"<py-late.{i}@relaykit.test>") for i in range(3)])
    assert len(outcomes) == 3
    assert all(isinstance(o, relaykit.ConfigError) and "closed" in o.message for o in outcomes), outcomes
    assert m.send_many([]) == []
    assert m.stats.failed == 3


@needs_servers
def test_a_refusal_is_final_with_its_fate_and_attempts() -> None:
    refused = relaykit.Message(env("RK_USER"), to=[env("RK_REJECT_RCPT")], subject="refused", text="x\n")
    with relaykit.Mailer(dovecot_starttls()) as m:
        with pytest.raises(relaykit.RecipientRejectedError) as info:
            m.send(refused)
        [outcome] = m.send_many([refused])
    e = info.value
    assert e.code is not None and 500 <= e.code < 600, e
    assert (e.transient, e.fate, e.attempts) == (False, "rejected", 1)
    assert isinstance(outcome, relaykit.RecipientRejectedError) and outcome.to_dict() == e.to_dict()
    assert m.stats.retried == 0


@needs_servers
def test_async_mailer() -> None:
    prefix = run_prefix("py-amailer")
    mids = [f"{prefix}{i}@relaykit.test>" for i in range(30)]

    async def main() -> tuple[relaykit.SendResult, list[relaykit.SendOutcome], relaykit.MailerStats]:
        async with relaykit.AsyncMailer(dovecot_starttls(), max_connections=2, retry={"max_attempts": 2}) as m:
            one = await m.send(message(mids[0]))
            rest = await m.send_many(message(mid) for mid in mids[1:])
            stats = m.stats
        with pytest.raises(relaykit.ConfigError, match="closed"):
            await asyncio.wait_for(m.send(message(f"{prefix}late@relaykit.test>")), 5)
        return one, rest, stats

    one, rest, stats = asyncio.run(main())
    assert one.message_id == mids[0]
    assert [o.message_id for o in rest if isinstance(o, relaykit.SendResult)] == mids[1:]
    assert (stats.sent, stats.failed) == (30, 0) and stats.connections_opened <= 2, stats
    assert set(delivered(prefix, len(mids))) == set(mids)


@needs_servers
def test_as_async_shares_the_pool() -> None:
    prefix = run_prefix("py-shared")
    with relaykit.Mailer(dovecot_starttls(), max_connections=1) as m:
        m.send(message(f"{prefix}0@relaykit.test>"))
        a = m.as_async()
        asyncio.run(a.send(message(f"{prefix}1@relaykit.test>")))
        assert (m.stats.sent, m.stats.connections_opened) == (2, 1), m.stats
    assert a.stats.open_connections == 0


@needs_servers
def test_trace_lines_carry_the_connection_when_the_callable_takes_it() -> None:
    with_id: list[tuple[str, Optional[int]]] = []
    keyword: list[Optional[int]] = []
    plain: list[str] = []
    prefix = run_prefix("py-trace")
    traces: list[relaykit.TraceCallback] = [
        lambda d, line, conn: with_id.append((d, conn)),
        lambda d, line, *, connection: keyword.append(connection),
        lambda d, line: plain.append(d),  # written before connection ids: still two arguments
    ]
    for i, trace in enumerate(traces):
        with relaykit.Mailer(dovecot_starttls(), max_connections=1, trace=trace) as m:
            m.send(message(f"{prefix}{i}@relaykit.test>"))
    assert with_id and all(conn == 1 for _, conn in with_id), with_id[:5]
    assert {d for d, _ in with_id} == {"C", "S"}
    assert keyword and set(keyword) == {1}
    assert plain and set(plain) == {"C", "S"}
    outside: list[Optional[int]] = []
    relaykit.send(dovecot_starttls(), message(f"{prefix}send@relaykit.test>"),
                  trace=lambda d, line, connection: outside.append(connection))
    assert outside and set(outside) == {None}


def my_established(port: int) -> int:
    """This process's sockets ESTABLISHED to 127.0.0.1:port (/proc/net/tcp; Linux, as the servers)."""
    fds = pathlib.Path("/proc/self/fd")
    inodes = set()
    for fd in fds.iterdir():
        try:
            link = os.readlink(fd)
        except OSError:  # closed meanwhile
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    remote = f"0100007F:{port:04X}"
    rows = [line.split() for line in pathlib.Path("/proc/net/tcp").read_text().splitlines()[1:]]
    return sum(1 for f in rows if f[2] == remote and f[3] == "01" and f[9] in inodes)


@needs_servers
def test_an_idle_connection_closed_by_postfix_is_replaced() -> None:
    if "RK_POSTFIX_IDLE_PORT" not in (servers.ENV or {}):
        pytest.skip(f"RK_POSTFIX_IDLE_PORT is not in {state_dir()}/servers.env (the dovecot role's idle listener)")
    port, idle = int(env("RK_POSTFIX_IDLE_PORT")), float(env("RK_POSTFIX_IDLE_SECS"))
    prefix = run_prefix("py-idle")
    # The mailer's own idle timeout is far longer than Postfix's: the server closes first.
    with relaykit.Mailer(plain_dovecot("RK_POSTFIX_IDLE_PORT"), max_connections=1, idle_timeout_secs=300) as m:
        m.send(message(f"{prefix}0@relaykit.test>"))
        assert my_established(port) == 1, "the connection is pooled, open"
        deadline = time.monotonic() + idle + 15  # smtpd_timeout, plus slack for a loaded machine
        while my_established(port):
            assert time.monotonic() < deadline, f"Postfix did not close the idle connection within {idle} s + 15 s"
            time.sleep(0.05)  # polling the socket's state, bounded above
        m.send(message(f"{prefix}1@relaykit.test>"))
        s = m.stats
    assert (s.sent, s.failed, s.reconnects, s.connections_opened) == (2, 0, 1, 2), s
    counts = delivered(prefix, 2)
    assert sorted(counts.values()) == [1, 1], counts
