"""A small typed use of the API; `mypy --strict` checks it against py.typed and _native.pyi."""

from __future__ import annotations

import pathlib
from typing import Optional

import relaykit


def build(tmp: pathlib.Path) -> str:
    keyring = relaykit.Keyring.generate()
    key_id: str = keyring.generate_key()
    profile = relaykit.Profile(
        "smtp.example.com",
        encrypted_connection=True,
        requires_authentication=True,
        username="~ACC::%user%~",
        password="placeholder",
        id="prod",
    )
    relaykit.encrypt_password(profile, "s3cret", keyring)
    changed: bool = profile.rotate_password(keyring)
    port: int = profile.effective_port
    ctx = relaykit.RrtContext({"HOME": "/home/a"}, missing="error")
    ctx.set("ACC", "user", "alice@example.com")
    user: str = ctx.expand(profile.username or "", field="username")
    msg = relaykit.Message(
        from_="alice@example.com",
        to=["bob@example.com"],
        subject="hi",
        attachments=[relaykit.Attachment(path=tmp / "a.pdf", content_type="application/pdf")],
        headers={"X-Id": "1"},
    )
    try:
        msg.prepare(ctx)
    except relaykit.RelayKitIOError as e:
        code: int | None = e.code
        print(e.kind, code)
    except relaykit.RelayKitError as e:
        print(e.kind, e.stage, e.hint)
    print(key_id, changed, port, user)
    return profile.to_json()


def check(profile: relaykit.Profile, msg: relaykit.Message, keyring: relaykit.Keyring) -> list[str]:
    lines: list[str] = []
    report: relaykit.TestReport = relaykit.test(profile, keyring=keyring, relay_check=("a@example.com", "b@example.com"),
                                                trace=lambda direction, line: lines.append(f"{direction}: {line}"))
    if not report.ok and report.error is not None:
        code: int | None = report.error.code
        print(report.error.kind, report.error.stage, code, report.error.hint)
    for stage in report.stages:
        ms: float = stage.ms
        print(stage.name, stage.ok, ms)
    if report.tls is not None and report.auth is not None:
        print(report.tls.verified, report.auth.mechanism, [a.code for a in report.auth.attempts])
    try:
        result: relaykit.SendResult = relaykit.send(profile, msg, keyring=keyring)
        print(result.accepted, [(r.address, r.code, r.enhanced_code, r.message) for r in result.rejected])
        print(result.message_id, result.reply, result.to_json(), report.to_dict()["ok"])
    except relaykit.AuthFailedError as e:
        print(e.code, e.stage, e.hint, e.to_dict())
    return lines


async def check_async(profile: relaykit.Profile, msgs: list[relaykit.Message]) -> list[relaykit.SendResult]:
    import asyncio

    report = await relaykit.test_async(profile, relay_check={"from": "a@example.com", "to": "b@example.com"})
    print(report.ok)
    return list(await asyncio.gather(*(relaykit.send_async(profile, m) for m in msgs)))


def many(profile: relaykit.Profile, msgs: list[relaykit.Message]) -> int:
    with relaykit.Mailer(profile, max_connections=4, idle_timeout_secs=30.0) as mailer:
        for m in msgs:
            r: relaykit.SendResult = mailer.send(m)
            print(r.accepted)
        opened: int = mailer.stats.connections_opened
        outcomes: list[relaykit.SendOutcome] = mailer.send_many(msgs)
        for o in outcomes:
            if isinstance(o, relaykit.RelayKitError):
                print(o.transient, o.fate, o.attempts)
            else:
                print(o.attempts, o.message_id)
    return opened


def many_with_options(profile: relaykit.Profile) -> relaykit.MailerStats:
    def trace(direction: str, line: str, connection: Optional[int]) -> None:
        print(connection, direction, line)

    retry: relaykit.RetryPolicy = {"max_attempts": 5}
    with relaykit.Mailer(profile, rate_limit={"messages": 10, "per_secs": 1.0}, retry=retry, retry_unknown=False,
                         trace=trace) as mailer:
        return mailer.stats


async def many_asyncio(profile: relaykit.Profile, msgs: list[relaykit.Message]) -> list[relaykit.SendOutcome]:
    async with relaykit.AsyncMailer(profile, max_connections=2) as mailer:
        r: relaykit.SendResult = await mailer.send(msgs[0])
        print(r.reply, mailer.stats.queued)
        return await mailer.send_many(msgs[1:])


async def many_async(profile: relaykit.Profile, msgs: list[relaykit.Message]) -> list[relaykit.SendResult]:
    import asyncio

    async with relaykit.Mailer(profile, max_messages_per_connection=50) as mailer:
        return list(await asyncio.gather(*(mailer.send_async(m) for m in msgs)))


def oauth(profile: relaykit.Profile, msg: relaykit.Message) -> relaykit.SendResult:
    def sync_provider(username: str, reason: str) -> str:
        return f"token-for-{username}-{reason}"

    async def async_provider(username: str, reason: str) -> str:
        return sync_provider(username, reason)

    provider: relaykit.TokenProvider = async_provider
    report = relaykit.test(profile, token_provider=provider)
    print(report.ok)
    with relaykit.Mailer(profile, token_provider=sync_provider) as mailer:
        print(mailer.stats.sent)
    return relaykit.send(profile, msg, token_provider=sync_provider)
