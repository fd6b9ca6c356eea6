"""The runtime plumbing for blocking calls: the GIL is released while waiting, Ctrl-C
interrupts within a second, and the runtime survives fork()."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import pytest

from relaykit import _native


def test_blocking_call_releases_the_gil() -> None:
    ticks = 0
    stop = threading.Event()

    def spin() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            time.sleep(0.001)

    t = threading.Thread(target=spin)
    t.start()
    time.sleep(0.02)
    before = ticks
    start = time.monotonic()
    _native._sleep(300)
    elapsed = time.monotonic() - start
    during = ticks - before
    stop.set()
    t.join()
    assert elapsed >= 0.29
    assert during > 20, f"the other thread made {during} steps while Rust slept 300 ms"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_interrupts_a_blocking_call() -> None:
    timer = threading.Timer(0.2, lambda: os.kill(os.getpid(), signal.SIGINT))
    start = time.monotonic()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        _native._sleep(10_000)
    assert time.monotonic() - start < 1.2
    timer.join()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_runtime_survives_fork() -> None:
    _native._sleep(10)  # the parent's runtime exists now
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        signal.alarm(5)  # a child stuck on the parent's dead runtime would hang
        try:
            _native._sleep(10)
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    _native._sleep(10)  # and the parent's still works
