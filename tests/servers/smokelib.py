"""What smoke.py and smoke_reach.py share: servers.env, the check harness and the summary.

Standard library only. ``check(name)`` runs the decorated function at once and records a
PASS/FAIL line; ``finish(label)`` prints "N passed, N failed" and exits 1 on any failure (or
when nothing was checked).
"""
from __future__ import annotations

import base64
import os
import ssl
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
STATE = os.environ.get("RELAYKIT_STATE", os.path.join(HERE, "..", ".state"))
POLL_SECS = float(os.environ.get("RK_WAIT_SECS", "30"))


def load_env(path):
    env = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.rstrip("\n")
            if line and not line.startswith("#") and "=" in line:
                k, v = line.split("=", 1)
                env[k] = v
    return env


E = load_env(os.path.join(STATE, "servers.env"))
ROLES = E["RK_ROLES"].split()
HOST = E["RK_HOST"]
CTX = ssl.create_default_context(cafile=E["RK_CA_FILE"])  # verifies chain + name "localhost"

results = []
T0 = time.monotonic()


def check(name):
    def deco(fn):
        t = time.monotonic()
        try:
            fn()
            results.append((name, True))
            print(f"PASS {name} ({time.monotonic() - t:.2f}s)", flush=True)
        except Exception as e:
            results.append((name, False))
            print(f"FAIL {name} ({time.monotonic() - t:.2f}s): {e!r}", flush=True)
            if os.environ.get("RK_SMOKE_TRACE"):
                traceback.print_exc()
        return fn
    return deco


def b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def finish(label):
    npass = sum(1 for _, ok in results if ok)
    nfail = len(results) - npass
    print(f"# {label} took {time.monotonic() - T0:.1f}s")
    print(f"{npass} passed, {nfail} failed")
    sys.exit(1 if nfail or not results else 0)
