"""The exceptions relaykit raises: one class per error kind of the specification (§7).

Every class derives from :class:`RelayKitError`, which carries the kind, the stage, the SMTP
reply (code and enhanced code), a hint and the message, read from the core's JSON of the error.
The native module looks these classes up by name in its exhaustive map from kind to class,
which also gives each class its ``kind``; messages never contain a password, a protected value
or key material.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Optional

from . import _native
from ._view import View

__all__ = [
    "RelayKitError",
    "ConfigError",
    "RrtError",
    "CryptoError",
    "DnsError",
    "ConnectError",
    "SmtpTimeoutError",
    "TlsError",
    "ProtocolError",
    "AuthUnsupportedError",
    "AuthFailedError",
    "SenderRejectedError",
    "RecipientRejectedError",
    "MessageRejectedError",
    "RelayKitIOError",
    "InternalError",
]


class RelayKitError(View, Exception):
    """Base class of every relaykit error.

    ``str(err)`` is the whole description (kind, stage, message, server reply, hint);
    ``err.message`` is the message with the server's reply text but without kind or hint. The
    attributes are read from the core's JSON of the error (§8), which ``to_dict()`` returns.
    """

    kind: ClassVar[str] = ""
    """The snake_case kind of §7, e.g. ``"auth_failed"`` (set below from the native module's map)."""

    # The keys of the error's JSON, for type checkers; the values come from that JSON.
    stage: Optional[str]
    """The stage of a Test or Send, e.g. ``"auth"``, where it happened in one."""
    code: Optional[int]
    """The SMTP reply code, e.g. 535, where the server replied."""
    enhanced_code: Optional[str]
    """The enhanced status code, e.g. ``"5.7.8"``, where the server sent one."""
    message: str
    """What went wrong, naming the field, tag or stage, with the server's reply where there was one."""
    hint: Optional[str]
    """Something a person can act on, where relaykit knows one."""

    def __init__(self, description: str, error: Mapping[str, Any]) -> None:
        """``description`` is the core's Display text; ``error`` the core's JSON of the error."""
        super().__init__(description)
        self._json = dict(error)

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (str(self), self._json), self.__dict__)


class ConfigError(RelayKitError, ValueError):
    """The profile, message or an option is invalid; the message names the JSON path."""


class RrtError(RelayKitError):
    """A runtime replacement tag could not be expanded (undefined, or restricted here)."""


class CryptoError(RelayKitError):
    """A password envelope or key could not be used."""


class DnsError(RelayKitError):
    """The server's name did not resolve."""


class ConnectError(RelayKitError):
    """No TCP connection could be made."""


class SmtpTimeoutError(RelayKitError, TimeoutError):
    """A stage did not finish within ``timeout_secs`` (also a builtin ``TimeoutError``)."""


class TlsError(RelayKitError):
    """TLS could not be negotiated or the certificate was not trusted."""


class ProtocolError(RelayKitError):
    """The server said something that is not SMTP, or not what the stage expects."""


class AuthUnsupportedError(RelayKitError):
    """No authentication mechanism that both sides support is allowed."""


class AuthFailedError(RelayKitError):
    """The server rejected the credentials."""


class SenderRejectedError(RelayKitError):
    """The server refused the envelope sender (MAIL FROM)."""


class RecipientRejectedError(RelayKitError):
    """The server refused every recipient (RCPT TO)."""


class MessageRejectedError(RelayKitError):
    """The server refused the message content (DATA)."""


class RelayKitIOError(RelayKitError, OSError):
    """A local read or write failed, e.g. an attachment file (also a builtin ``OSError``)."""


class InternalError(RelayKitError):
    """A bug in relaykit; please report it."""


for _kind, _name in _native._error_classes():
    globals()[_name].kind = _kind
