"""relaykit.Mailer: many messages over few pooled connections. The option checks need no
server; the rest sends to the real Postfix + Dovecot role (STARTTLS, as test_servers.py does)
and reads what arrived from the recipient's Maildir."""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import pathlib
import re
import threading
import time
import uuid
from typing import Any

import pytest
from servers import dovecot_starttls, env, needs_servers

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
])
def test_bad_options_fail_at_creation_naming_the_key(key: str, value: Any) -> None:
    with pytest.raises(relaykit.ConfigError) as info:
        relaykit.Mailer(offline_profile(), **{key: value})
    assert info.value.message.startswith(f"options.{key}:"), info.value.message


def test_bad_profile_fails_at_creation_without_connecting() -> None:
    with pytest.raises(relaykit.ConfigError, match="tls_ca_file"):
        relaykit.Mailer(offline_profile(tls_ca_file="/nonexistent/ca.pem"), max_connections=1)


def test_options_not_given_are_the_cores_defaults() -> None:
    with relaykit.Mailer(offline_profile(), max_connections=None, idle_timeout_secs=None) as m:
        assert m.stats == {"sent": 0, "failed": 0, "reconnects": 0, "connections_opened": 0, "open_connections": 0}
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
    assert (s["sent"], s["failed"], len(results)) == (200, 0, 200), s
    assert s["connections_opened"] <= 2, s
    assert s["open_connections"] <= 2, s
    mailer.close()
    assert mailer.stats["open_connections"] == 0, "close QUITs the idle connections"
    counts = delivered(prefix, threads * each)
    assert len(counts) == threads * each
    assert all(n == 1 for n in counts.values()), [k for k, n in counts.items() if n != 1]


@needs_servers
def test_asyncio_gather_over_one_mailer() -> None:
    prefix = run_prefix("py-async")
    mids = [f"{prefix}{i}@relaykit.test>" for i in range(20)]

    async def main() -> tuple[list[relaykit.SendResult], dict[str, int]]:
        async with relaykit.Mailer(dovecot_starttls(), max_connections=2) as m:
            results = await asyncio.gather(*(m.send_async(message(mid)) for mid in mids))
            return list(results), m.stats

    results, stats = asyncio.run(main())
    assert [r.message_id for r in results] == mids
    assert stats["sent"] == 20 and stats["connections_opened"] <= 2, stats
    assert set(delivered(prefix, len(mids))) == set(mids)


@needs_servers
def test_send_after_close_fails_at_once() -> None:
    prefix = run_prefix("py-closed")
    with relaykit.Mailer(dovecot_starttls()) as m:
        m.send(message(f"{prefix}1@relaykit.test>"))
        assert m.stats["open_connections"] == 1
    assert m.stats["open_connections"] == 0, "leaving the with block closed the mailer"
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
    assert (s["sent"], s["failed"], s["connections_opened"]) == (1, 1, 1), s

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
        assert m.stats["connections_opened"] == 0, "a bad message is refused before any connection"
        good = f"{prefix}good@relaykit.test>"
        assert m.send(message(good)).message_id == good
        s = m.stats
    assert (s["sent"], s["failed"]) == (1, 1), s
    assert set(delivered(prefix, 1)) == {good}

