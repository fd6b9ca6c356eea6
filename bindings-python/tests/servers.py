"""The real SMTP servers of tests/servers/ (read from $RELAYKIT_STATE/servers.env), and what
arrived at them. Tests that need a server skip when no servers.env exists."""

from __future__ import annotations

import json
import os
import pathlib
import time
from typing import Any, Optional

import pytest

import relaykit

ROOT = pathlib.Path(__file__).resolve().parents[2]
WAIT_SECS = 10.0  # bound on every poll for an arrival


def state_dir() -> pathlib.Path:
    return pathlib.Path(os.environ.get("RELAYKIT_STATE") or ROOT / "tests" / ".state")


def load_env() -> Optional[dict[str, str]]:
    path = state_dir() / "servers.env"
    if not path.is_file():
        return None
    env: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#") and "=" in line:
            k, v = line.split("=", 1)
            env[k.strip()] = v
    return env


ENV = load_env()
needs_servers = pytest.mark.skipif(ENV is None, reason=f"no servers.env under {state_dir()} (tests/servers/start.sh)")


def env(key: str) -> str:
    assert ENV is not None
    if key not in ENV:
        pytest.skip(f"{key} is not in servers.env (role not started)")
    return ENV[key]


def dovecot_starttls(**kw: Any) -> relaykit.Profile:
    """The example profile that passes Test: STARTTLS on 2587, verified against the test CA."""
    args: dict[str, Any] = dict(port=int(env("RK_DOVECOT_STARTTLS_PORT")), encrypted_connection=True,
                                tls_ca_file=env("RK_CA_FILE"), requires_authentication=True,
                                username=env("RK_USER"), password=env("RK_PASS"))
    args.update(kw)
    return relaykit.Profile(env("RK_HOST"), **args)


def aiosmtpd(port: Optional[int] = None, **kw: Any) -> relaykit.Profile:
    """aiosmtpd (exact bytes kept): AUTH required, no TLS, so plaintext mechanisms are allowed."""
    args: dict[str, Any] = dict(port=port or int(env("RK_AIOSMTPD_PORT")), starttls="never",
                                requires_authentication=True, allow_plaintext_password=True,
                                username=env("RK_USER"), password=env("RK_PASS"))
    args.update(kw)
    return relaykit.Profile(env("RK_HOST"), **args)


def arrived(message_id: str) -> tuple[bytes, dict[str, Any]]:
    """The exact DATA bytes and metadata of the message aiosmtpd stored with `message_id`;
    polls (bounded) because the .json is written when the message is complete."""
    folder = pathlib.Path(env("RK_AIOSMTPD_DIR"))
    deadline = time.monotonic() + WAIT_SECS
    seen: set[str] = set()
    while time.monotonic() < deadline:
        for meta_path in sorted(folder.glob("*.json")):
            if meta_path.name in seen:
                continue
            seen.add(meta_path.name)
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if meta.get("message_id") == message_id:
                return (folder / meta["eml"]).read_bytes(), meta
        time.sleep(0.05)
    raise AssertionError(f"{message_id} did not arrive at aiosmtpd within {WAIT_SECS} s")
