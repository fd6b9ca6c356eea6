"""A small typed use of the API; `mypy --strict` checks it against py.typed and _native.pyi."""

from __future__ import annotations

import pathlib

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
