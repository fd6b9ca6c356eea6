"""What :func:`relaykit.test` and :func:`relaykit.send` return: read-only views of the core's
``TestReport`` and ``SendResult`` JSON (§8), which the native module hands over as it is.

``to_dict()`` is that JSON as plain Python objects and ``to_json()`` the core's own text, the
same the core and every other binding produce; attributes read from it (``report.stages[0].ms``).
The annotations below are the one place the Python package lists the keys: for type checkers
(and to tell which class a nested object is shown as); no value passes through them.
"""

from __future__ import annotations

from typing import Any, Optional

from ._view import Record
from .errors import RelayKitError

__all__ = [
    "AuthAttempt",
    "AuthInfo",
    "Record",
    "Rejection",
    "RelayCheck",
    "SendResult",
    "ServerInfo",
    "Stage",
    "TestReport",
    "TlsInfo",
]


class Stage(Record):
    """One stage of a Test (``"dns"``, ``"connect"``, ``"tls"``, ``"greeting"``, ``"ehlo"``,
    ``"auth"``, ``"mail_from"``, ``"rcpt_to"``, ``"rset"``, ``"quit"``): whether it succeeded
    and how many milliseconds it took."""

    __slots__ = ()
    name: str
    ok: bool
    ms: float


class ServerInfo(Record):
    """What the server said about itself: its greeting, EHLO keywords (with parameters, as
    sent), SIZE limit and AUTH mechanisms (after STARTTLS, where it was used)."""

    __slots__ = ()
    banner: str
    extensions: tuple[str, ...]
    size_limit: Optional[int]
    auth_mechanisms: tuple[str, ...]


class TlsInfo(Record):
    """The TLS connection as negotiated. ``verify_error`` says why the certificate did not
    verify when the session went on anyway (opportunistic TLS, or ``tls_verify=False``)."""

    __slots__ = ()
    version: str
    cipher: str
    subject: str
    issuer: str
    not_after: str
    verified: bool
    verify_error: Optional[str]


class AuthAttempt(Record):
    """One authentication attempt: the mechanism, whether it worked, the server's reply code
    and, when it failed, the reply or local reason."""

    __slots__ = ()
    mechanism: str
    ok: bool
    code: Optional[int]
    message: Optional[str]


class AuthInfo(Record):
    """Authentication: the mechanism that succeeded (``None`` if none did) and every attempt."""

    __slots__ = ()
    mechanism: Optional[str]
    attempts: tuple[AuthAttempt, ...]


class RelayCheck(Record):
    """The relay check of a Test (MAIL FROM ``from_``, RCPT TO ``to``, then RSET): whether the
    server would accept the message, and its reply."""

    __slots__ = ()
    from_: str
    to: str
    ok: bool
    reply: str


class TestReport(Record):
    """The result of :func:`relaykit.test` (the dialog's Test button).

    A failure on the server's side is in the report: ``ok`` is false and ``error`` is the
    exception of its kind (``AuthFailedError`` with ``.code``, ``.stage``, ``.hint``), which
    ``raise report.error`` raises; ``to_dict()["error"]`` is its JSON.
    """

    __slots__ = ("_text", "_error")
    __test__ = False  # not a pytest test class
    _text: str
    _error: Optional[RelayKitError]
    ok: bool
    stages: tuple[Stage, ...]
    server: Optional[ServerInfo]
    tls: Optional[TlsInfo]
    auth: Optional[AuthInfo]
    relay: Optional[RelayCheck]
    warnings: tuple[str, ...]

    def __init__(self, json: dict[str, Any], text: str, error: Optional[RelayKitError]) -> None:
        super().__init__(json)
        object.__setattr__(self, "_text", text)
        object.__setattr__(self, "_error", error)

    @property
    def error(self) -> Optional[RelayKitError]:
        """The failure, as the exception of its kind (not raised)."""
        return self._error

    def to_json(self) -> str:
        """The core's §8 JSON text."""
        return self._text

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self._json, self._text, self._error))


class Rejection(Record):
    """A recipient the server refused, with its reply."""

    __slots__ = ()
    address: str
    code: int
    enhanced_code: Optional[str]
    message: str


class SendResult(Record):
    """The result of :func:`relaykit.send`: the recipients the server accepted and refused,
    the Message-ID, and the server's final reply (usually with its queue id)."""

    __slots__ = ("_text",)
    _text: str
    accepted: tuple[str, ...]
    rejected: tuple[Rejection, ...]
    message_id: Optional[str]
    reply: str

    def __init__(self, json: dict[str, Any], text: str) -> None:
        super().__init__(json)
        object.__setattr__(self, "_text", text)

    def to_json(self) -> str:
        """The core's §8 JSON text."""
        return self._text

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self._json, self._text))
