"""A process that exits right after awaiting relaykit must exit cleanly (#12): 200 short-lived
interpreters each await one test_async, send_async or AsyncMailer.send against aiosmtpd and
return at once, while relaykit's runtime thread may still be delivering the result. Before
the fix about one in nine died with SIGSEGV or "Fatal Python error: PyGILState_Release".
Needs the aiosmtpd role (tests/servers/); about 40 s on two cores."""

from __future__ import annotations

import concurrent.futures
import os
import pathlib
import subprocess
import sys
import time

import pytest

from servers import ENV, env

RUNS = 200
PARALLEL = 4
EACH_SECS = 30
TOTAL_SECS = 300
CHILD = pathlib.Path(__file__).with_name("exit_child.py")

pytestmark = pytest.mark.skipif(ENV is None, reason="no servers.env: start tests/servers/start.sh")


def test_exit_right_after_an_await_is_clean() -> None:
    child_env = dict(os.environ, RK_EXIT_HOST=env("RK_HOST"), RK_EXIT_PORT=env("RK_AIOSMTPD_PORT"),
                     RK_EXIT_USER=env("RK_USER"), RK_EXIT_PASS=env("RK_PASS"), RK_EXIT_RCPT=env("RK_RCPT"))
    modes = ["test", "send", "mailer"]
    deadline = time.monotonic() + TOTAL_SECS

    def one(i: int) -> tuple[str, int, str]:
        mode = modes[i % len(modes)]
        left = deadline - time.monotonic()
        if left <= 0:
            return mode, -1000, "not started: the total time ran out"
        try:
            p = subprocess.run([sys.executable, str(CHILD), mode], env=child_env, capture_output=True, text=True,
                               timeout=min(EACH_SECS, left))
        except subprocess.TimeoutExpired:
            return mode, -1001, "timed out"
        return mode, p.returncode, p.stderr

    with concurrent.futures.ThreadPoolExecutor(PARALLEL) as pool:
        results = list(pool.map(one, range(RUNS)))
    failed = [(m, rc, err[-300:]) for m, rc, err in results if rc != 0 or "Fatal Python error" in err]
    assert not failed, f"{len(failed)} of {RUNS} exits failed, e.g. {failed[:3]}"
