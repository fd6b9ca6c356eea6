"""The progress callable of a send (#16), against aiosmtpd: increasing counts ending at the
total, which matches what aiosmtpd stored; a raising callable does not break the send."""

from __future__ import annotations

import uuid

import pytest

import relaykit
from servers import aiosmtpd, arrived, env, needs_servers


def big(mid: str, size: int) -> relaykit.Message:
    data = bytes(range(251)) * (size // 251 + 1)
    return relaykit.Message(env("RK_USER"), to=[env("RK_RCPT")], subject="progress", text="big\n", message_id=mid,
                            attachments=[relaykit.Attachment(filename="big.bin", content_type="application/octet-stream",
                                                             data=data[:size])])


@needs_servers
def test_progress_increases_to_the_total_of_a_multi_megabyte_send() -> None:
    calls: list[tuple[int, int]] = []
    mid = f"<py-progress.{uuid.uuid4().hex}@relaykit.test>"
    relaykit.send(aiosmtpd(), big(mid, 3 << 20), progress=lambda w, t: calls.append((w, t)))
    _, meta = arrived(mid)
    total = calls[-1][1]
    assert total in (meta["size"], meta["size"] + 3)  # DATA adds the ".\r\n" terminator
    assert calls[-1][0] == total and all(t == total for _, t in calls)
    assert all(a[0] < b[0] for a, b in zip(calls, calls[1:])), calls
    assert 2 <= len(calls) <= -(-total // 65536)


@needs_servers
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # each raise is reported so
def test_a_raising_progress_callable_does_not_break_the_send() -> None:
    seen: list[int] = []

    def boom(written: int, total: int) -> None:
        seen.append(written)
        raise RuntimeError("host callback failed")

    mid = f"<py-progress-raise.{uuid.uuid4().hex}@relaykit.test>"
    r = relaykit.send(aiosmtpd(), big(mid, 1 << 20), progress=boom)
    assert list(r.accepted) == [env("RK_RCPT")]
    _, meta = arrived(mid)
    assert meta["size"] > 1 << 20 and seen, "the message arrived whole and the callable was called"
