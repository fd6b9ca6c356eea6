#!/usr/bin/env python3
"""The Python runner of the conformance cases: it executes the concrete inputs that the judge
(`relaykit-conformance expand`, tests/conformance/README.md) writes on stdin, one JSON line each,
through the public API of the `relaykit` package, and prints one outcome line per input.
Whether an outcome is right is the judge's to say. Run by bindings-python/run_tests.sh as

    relaykit-conformance run --lang python -- python tests/conformance/run_python.py

Every outcome also gets ``elapsed_ms``, ``trace`` (every line of the trace callback) and
``logs`` (every ``logging`` record of the ``relaykit`` logger, at DEBUG), which the judge checks
(``within_secs``, no secret anywhere).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
import urllib.parse
import urllib.request
from typing import Any, Optional

import relaykit


class Collect(logging.Handler):
    """Keeps every record's message (relaykit's logger, DEBUG and up)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(f"{record.levelname} {record.name}: {record.getMessage()}")


LOGS = Collect()


class Provider:
    """The case's declarative ``token_provider`` (tests/conformance/README.md): tokens from
    ``token_url`` (``grant_type=password``), kept and given to each new connection, a new one on
    ``"refresh"``; ``revoke_first`` revokes the first before giving it, ``refresh_same`` gives
    the same again on refresh, ``fail`` raises, ``returns`` returns that value. ``calls`` are
    the reasons asked, in order."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.token: Optional[str] = None
        self.fetched = 0
        self.calls: list[str] = []
        self.lock = threading.Lock()

    def post(self, url: str, **form: str) -> dict[str, Any]:
        req = urllib.request.Request(url, data=urllib.parse.urlencode(form).encode())
        with urllib.request.urlopen(req, timeout=10) as r:
            return dict(json.loads(r.read() or b"{}"))

    def fetch(self) -> str:
        s = self.spec
        token = str(self.post(s["token_url"], grant_type="password", username=s["username"],
                              password=s["password"])["access_token"])
        self.fetched += 1
        if self.fetched == 1 and s.get("revoke_first"):
            self.post(s["revoke_url"], token=token)
        return token

    def __call__(self, username: str, reason: str) -> Any:
        with self.lock:
            self.calls.append(reason)
            if "fail" in self.spec:
                raise RuntimeError(self.spec["fail"])
            if "returns" in self.spec:
                return self.spec["returns"]
            if self.token is None or (reason == "refresh" and not self.spec.get("refresh_same")):
                self.token = self.fetch()
            return self.token


def observed(case: dict[str, Any]) -> dict[str, Any]:
    """:func:`execute`'s outcome with ``elapsed_ms``, ``trace``, ``logs`` and, for a case with
    a token provider, ``token_calls``."""
    trace: list[str] = []
    LOGS.messages = []
    provider = Provider(case["token_provider"]) if "token_provider" in case else None
    if provider is not None:
        case = dict(case, options=dict(case.get("options") or {}, token_provider=provider))
    start = time.monotonic()
    outcome = execute(case, lambda direction, line: trace.append(f"{direction}: {line}"))
    outcome["elapsed_ms"] = round((time.monotonic() - start) * 1000)
    outcome["trace"] = trace
    outcome["logs"] = LOGS.messages
    if provider is not None:
        outcome["token_calls"] = provider.calls
    return outcome


def execute(case: dict[str, Any], trace: relaykit.TraceCallback) -> dict[str, Any]:
    """The outcome object of README's table, from the public API."""
    keyring = relaykit.Keyring.from_text(case["keyring"]) if "keyring" in case else relaykit.Keyring()
    options = dict(case.get("options") or {}, trace=trace)
    try:
        profile = relaykit.Profile.from_dict(case["profile"])
        context = relaykit.RrtContext()
        for method, id_, name, value in case.get("rrt", []):
            getattr(context, method)(id_, name, value)
        if case["action"] == "test":
            report = relaykit.test(profile, keyring=keyring, context=context, **options)
            return {"status": "ok", "report": report.to_dict()}
        if case["action"] == "mailer":
            return run_mailer(case, profile, keyring, context, options)
        message = relaykit.Message.from_json(json.dumps(case["message"]))
        result = relaykit.send(profile, message, keyring=keyring, context=context, **options)
        return {"status": "ok", "result": result.to_dict()}
    except relaykit.RelayKitError as e:
        return {"status": "error", "error": e.to_dict()}


def run_mailer(case: dict[str, Any], profile: Any, keyring: Any, context: Any, options: dict[str, Any]) -> dict[str, Any]:
    """A mailer case: ``send_many``, ``close`` (the ``with``), then the stats."""
    messages = [relaykit.Message.from_json(json.dumps(m)) for m in case["messages"]]
    with relaykit.Mailer(profile, keyring=keyring, context=context, **options) as mailer:
        outcomes = mailer.send_many(messages)
    return {
        "status": "ok",
        "stats": mailer.stats.to_dict(),
        "outcomes": [
            {"status": "error", "error": o.to_dict()}
            if isinstance(o, relaykit.RelayKitError)
            else {"status": "ok", "result": o.to_dict()}
            for o in outcomes
        ],
    }


def main() -> int:
    logger = logging.getLogger("relaykit")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(LOGS)
    for line in sys.stdin:
        case = json.loads(line)
        if "action" not in case:
            continue  # a skip or an invalid case: the judge reports it
        try:
            out = {"id": case["id"], "outcome": observed(case)}
        except Exception as e:  # noqa: BLE001 - the judge fails this case; the others still run
            out = {"id": case["id"], "runner_error": f"{type(e).__name__}: {e}"}
        print(json.dumps(out, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
