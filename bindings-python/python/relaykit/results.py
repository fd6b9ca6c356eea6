"""What :func:`relaykit.test` and :func:`relaykit.send` return: frozen dataclasses with the
fields of the core's ``TestReport`` and ``SendResult``.

``to_dict()`` gives the one JSON form of the specification (§8), the same value the core and
every other binding produce; ``to_json()`` gives it as compact JSON text. The objects are built
from that JSON form by the package, so nothing the core reports is lost on the way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Optional

from .errors import RelayKitError

__all__ = [
    "AuthAttempt",
    "AuthInfo",
    "Rejection",
    "RelayCheck",
    "SendResult",
    "ServerInfo",
    "Stage",
    "TestReport",
    "TlsInfo",
]


def _dumps(value: Any) -> str:
    # The core's compact form: no spaces, UTF-8 kept as is, keys in the order §8 lists them.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class Stage:
    """One stage of a Test (``"dns"``, ``"connect"``, ``"tls"``, ``"greeting"``, ``"ehlo"``,
    ``"auth"``, ``"mail_from"``, ``"rcpt_to"``, ``"rset"``, ``"quit"``): whether it succeeded
    and how many milliseconds it took."""

    name: str
    ok: bool
    ms: float

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "ms": self.ms}


@dataclass(frozen=True)
class ServerInfo:
    """What the server said about itself: its greeting, EHLO keywords (with parameters, as
    sent), SIZE limit and AUTH mechanisms (after STARTTLS, where it was used)."""

    banner: str
    extensions: tuple[str, ...]
    size_limit: Optional[int]
    auth_mechanisms: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "banner": self.banner,
            "extensions": list(self.extensions),
            "size_limit": self.size_limit,
            "auth_mechanisms": list(self.auth_mechanisms),
        }


@dataclass(frozen=True)
class TlsInfo:
    """The TLS connection as negotiated. ``verify_error`` says why the certificate did not
    verify when the session went on anyway (opportunistic TLS, or ``tls_verify=False``)."""

    version: str
    cipher: str
    subject: str
    issuer: str
    not_after: str
    verified: bool
    verify_error: Optional[str] = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "version": self.version,
            "cipher": self.cipher,
            "subject": self.subject,
            "issuer": self.issuer,
            "not_after": self.not_after,
            "verified": self.verified,
        }
        if self.verify_error is not None:
            d["verify_error"] = self.verify_error
        return d


@dataclass(frozen=True)
class AuthAttempt:
    """One authentication attempt: the mechanism, whether it worked, the server's reply code
    and, when it failed, the reply or local reason."""

    mechanism: str
    ok: bool
    code: Optional[int]
    message: Optional[str] = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"mechanism": self.mechanism, "ok": self.ok, "code": self.code}
        if self.message is not None:
            d["message"] = self.message
        return d


@dataclass(frozen=True)
class AuthInfo:
    """Authentication: the mechanism that succeeded (``None`` if none did) and every attempt."""

    mechanism: Optional[str]
    attempts: tuple[AuthAttempt, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"mechanism": self.mechanism, "attempts": [a.to_dict() for a in self.attempts]}


@dataclass(frozen=True)
class RelayCheck:
    """The relay check of a Test (MAIL FROM ``from_``, RCPT TO ``to``, then RSET): whether the
    server would accept the message, and its reply."""

    from_: str
    to: str
    ok: bool
    reply: str

    def to_dict(self) -> dict[str, Any]:
        return {"from": self.from_, "to": self.to, "ok": self.ok, "reply": self.reply}


@dataclass(frozen=True)
class TestReport:
    """The result of :func:`relaykit.test` (the dialog's Test button).

    A failure on the server's side is in the report: ``ok`` is false and ``error`` is the
    exception of its kind (``AuthFailedError`` with ``.code``, ``.stage``, ``.hint``), which
    ``raise report.error`` raises.
    """

    __test__ = False  # not a pytest test class

    ok: bool
    stages: tuple[Stage, ...]
    server: Optional[ServerInfo]
    tls: Optional[TlsInfo]
    auth: Optional[AuthInfo]
    relay: Optional[RelayCheck]
    warnings: tuple[str, ...]
    error: Optional[RelayKitError]

    def to_dict(self) -> dict[str, Any]:
        """The §8 JSON form as plain Python objects."""
        d: dict[str, Any] = {
            "ok": self.ok,
            "stages": [s.to_dict() for s in self.stages],
            "server": None if self.server is None else self.server.to_dict(),
            "tls": None if self.tls is None else self.tls.to_dict(),
            "auth": None if self.auth is None else self.auth.to_dict(),
        }
        if self.relay is not None:
            d["relay"] = self.relay.to_dict()
        d["warnings"] = list(self.warnings)
        d["error"] = None if self.error is None else self.error.to_dict()
        return d

    def to_json(self) -> str:
        """The §8 JSON form as compact text."""
        return _dumps(self.to_dict())


@dataclass(frozen=True)
class Rejection:
    """A recipient the server refused, with its reply."""

    address: str
    code: int
    enhanced_code: Optional[str]
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"address": self.address, "code": self.code, "enhanced_code": self.enhanced_code,
                "message": self.message}


@dataclass(frozen=True)
class SendResult:
    """The result of :func:`relaykit.send`: the recipients the server accepted and refused,
    the Message-ID, and the server's final reply (usually with its queue id)."""

    accepted: tuple[str, ...]
    rejected: tuple[Rejection, ...]
    message_id: Optional[str]
    reply: str

    def to_dict(self) -> dict[str, Any]:
        """The §8 JSON form as plain Python objects."""
        return {
            "accepted": list(self.accepted),
            "rejected": [r.to_dict() for r in self.rejected],
            "message_id": self.message_id,
            "reply": self.reply,
        }

    def to_json(self) -> str:
        """The §8 JSON form as compact text."""
        return _dumps(self.to_dict())


# From the core's §8 JSON (the native module hands that over) to the dataclasses.


def _opt(d: Optional[dict[str, Any]], build: Any) -> Any:
    return None if d is None else build(d)


def _report(text: str, error: Optional[RelayKitError]) -> TestReport:
    d = json.loads(text)
    return TestReport(
        ok=d["ok"],
        stages=tuple(Stage(s["name"], s["ok"], s["ms"]) for s in d["stages"]),
        server=_opt(d.get("server"), lambda s: ServerInfo(
            s["banner"], tuple(s["extensions"]), s["size_limit"], tuple(s["auth_mechanisms"]))),
        tls=_opt(d.get("tls"), lambda t: TlsInfo(
            t["version"], t["cipher"], t["subject"], t["issuer"], t["not_after"], t["verified"],
            t.get("verify_error"))),
        auth=_opt(d.get("auth"), lambda a: AuthInfo(
            a["mechanism"],
            tuple(AuthAttempt(x["mechanism"], x["ok"], x["code"], x.get("message")) for x in a["attempts"]))),
        relay=_opt(d.get("relay"), lambda r: RelayCheck(r["from"], r["to"], r["ok"], r["reply"])),
        warnings=tuple(d["warnings"]),
        error=error,
    )


def _result(text: str) -> SendResult:
    d = json.loads(text)
    return SendResult(
        accepted=tuple(d["accepted"]),
        rejected=tuple(Rejection(r["address"], r["code"], r["enhanced_code"], r["message"]) for r in d["rejected"]),
        message_id=d["message_id"],
        reply=d["reply"],
    )
