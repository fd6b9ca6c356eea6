"""The capture transport (#16) through Python: ``transport={"capture": {"dir": ...}}`` keeps the
exact bytes a real send delivers (checked against aiosmtpd) and connects nowhere."""

from __future__ import annotations

import asyncio
import json
import pathlib
import uuid

import pytest

import relaykit
from servers import aiosmtpd, arrived, env, needs_servers


def raw_message(mid: str) -> relaykit.Message:
    raw = (f"From: {env('RK_USER')}\r\nTo: {env('RK_RCPT')}\r\nSubject: capture\r\nMessage-ID: {mid}\r\n"
           "Date: Wed, 02 Dec 2026 00:00:00 +0000\r\n\r\n.leading dot\r\nGr\u00fc\u00dfe\r\n").encode()
    return relaykit.Message(env("RK_USER"), to=[env("RK_RCPT")], raw=raw)


@needs_servers
def test_a_directory_capture_holds_what_aiosmtpd_received(tmp_path: pathlib.Path) -> None:
    mid = f"<py-capture.{uuid.uuid4().hex}@relaykit.test>"
    m = raw_message(mid)
    relaykit.send(aiosmtpd(), m)
    received, _ = arrived(mid)
    r = relaykit.send(aiosmtpd(), m, transport={"capture": {"dir": str(tmp_path)}})
    stem = mid.strip("<>")
    assert (tmp_path / f"{stem}.eml").read_bytes() == received
    envelope = json.loads((tmp_path / f"{stem}.json").read_text(encoding="utf-8"))
    assert envelope["recipients"] == [env("RK_RCPT")] and envelope["from"] == env("RK_USER")
    assert envelope["result"]["reply"] == "250 captured"
    assert list(r.accepted) == [env("RK_RCPT")] and r.message_id == mid


def test_capture_connects_nowhere_and_bad_options_name_the_field(tmp_path: pathlib.Path) -> None:
    nowhere = relaykit.Profile("127.0.0.1", port=9, starttls="never")
    m = relaykit.Message("alice@relaykit.test", to=["bob@relaykit.test"], subject="s", text="t\n",
                         message_id="<nowhere@relaykit.test>")
    r = asyncio.run(relaykit.send_async(nowhere, m, transport={"capture": {"dir": str(tmp_path)}}))
    assert list(r.accepted) == ["bob@relaykit.test"]
    assert b"Subject: s" in (tmp_path / "nowhere@relaykit.test.eml").read_bytes()
    with pytest.raises(relaykit.ConfigError) as e:
        relaykit.send(nowhere, m, transport={"capture": "disk"})
    assert e.value.message.startswith("options.transport")
    # A capture to memory could not be read back from Python: refused, never silently kept.
    with pytest.raises(relaykit.ConfigError) as e:
        relaykit.send(nowhere, m, transport={"capture": "memory"})
    assert e.value.message.startswith("options.transport") and "directory" in e.value.message
