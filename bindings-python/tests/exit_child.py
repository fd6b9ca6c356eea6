"""A script that returns right after awaiting one relaykit call, for test_exit.py: the
interpreter starts finalizing while relaykit's runtime thread may still be delivering the
result (issue #12: SIGSEGV / "Fatal Python error: PyGILState_Release" at exit).

Usage: python exit_child.py test|send|mailer   (the server from RK_EXIT_* environment variables)
"""

from __future__ import annotations

import asyncio
import os
import sys

import relaykit


def profile() -> relaykit.Profile:
    return relaykit.Profile(os.environ["RK_EXIT_HOST"], port=int(os.environ["RK_EXIT_PORT"]), starttls="never",
                            requires_authentication=True, allow_plaintext_password=True,
                            username=os.environ["RK_EXIT_USER"], password=os.environ["RK_EXIT_PASS"])


def message() -> relaykit.Message:
    return relaykit.Message(os.environ["RK_EXIT_USER"], to=[os.environ["RK_EXIT_RCPT"]], subject="exit test",
                            text="sent right before the interpreter exits\n")


async def main(mode: str) -> None:
    if mode == "test":
        report = await relaykit.test_async(profile())
        assert report.ok, report
    elif mode == "send":
        await relaykit.send_async(profile(), message())
    elif mode == "mailer":
        await relaykit.AsyncMailer(profile()).send(message())
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
