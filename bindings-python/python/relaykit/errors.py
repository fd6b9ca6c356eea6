"""The exceptions relaykit raises: one class per error kind of the specification (§7).

Every class derives from :class:`RelayKitError`, which carries the kind, the stage, the SMTP
reply (code and enhanced code), a hint and the message. The native module looks these classes
up by name; messages never contain a password, a protected value or key material.
"""

from __future__ import annotations

from typing import Any, ClassVar, Optional

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


class RelayKitError(Exception):
    """Base class of every relaykit error.

    ``str(err)`` is the whole description (kind, stage, message, server reply, hint);
    ``err.message`` is the message with the server's reply text but without kind or hint.
    """

    kind: ClassVar[str] = ""
    """The snake_case kind of §7, e.g. ``"auth_failed"``."""

    def __init__(
        self,
        description: str,
        *,
        message: Optional[str] = None,
        stage: Optional[str] = None,
        code: Optional[int] = None,
        enhanced_code: Optional[str] = None,
        hint: Optional[str] = None,
    ) -> None:
        super().__init__(description)
        self.message: str = description if message is None else message
        self.stage: Optional[str] = stage
        """The stage of a Test or Send, e.g. ``"auth"``, where it happened in one."""
        self.code: Optional[int] = code
        """The SMTP reply code, e.g. 535, where the server replied."""
        self.enhanced_code: Optional[str] = enhanced_code
        """The enhanced status code, e.g. ``"5.7.8"``, where the server sent one."""
        self.hint: Optional[str] = hint
        """Something a person can act on, where relaykit knows one."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else self.message

    def to_dict(self) -> dict[str, Any]:
        """The error's JSON form (§8), as in a Test report and the conformance outcome:
        ``{"kind", "stage", "code", "enhanced_code", "message", "hint"}``, absent keys absent."""
        d: dict[str, Any] = {"kind": self.kind}
        if self.stage is not None:
            d["stage"] = self.stage
        if self.code is not None:
            d["code"] = self.code
            if self.enhanced_code is not None:
                d["enhanced_code"] = self.enhanced_code
        d["message"] = self.message
        if self.hint is not None:
            d["hint"] = self.hint
        return d

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class ConfigError(RelayKitError, ValueError):
    """The profile, message or an option is invalid; the message names the JSON path."""

    kind = "config"


class RrtError(RelayKitError):
    """A runtime replacement tag could not be expanded (undefined, or restricted here)."""

    kind = "rrt"


class CryptoError(RelayKitError):
    """A password envelope or key could not be used."""

    kind = "crypto"


class DnsError(RelayKitError):
    """The server's name did not resolve."""

    kind = "dns"


class ConnectError(RelayKitError):
    """No TCP connection could be made."""

    kind = "connect"


class SmtpTimeoutError(RelayKitError, TimeoutError):
    """A stage did not finish within ``timeout_secs`` (also a builtin ``TimeoutError``)."""

    kind = "timeout"


class TlsError(RelayKitError):
    """TLS could not be negotiated or the certificate was not trusted."""

    kind = "tls"


class ProtocolError(RelayKitError):
    """The server said something that is not SMTP, or not what the stage expects."""

    kind = "protocol"


class AuthUnsupportedError(RelayKitError):
    """No authentication mechanism that both sides support is allowed."""

    kind = "auth_unsupported"


class AuthFailedError(RelayKitError):
    """The server rejected the credentials."""

    kind = "auth_failed"


class SenderRejectedError(RelayKitError):
    """The server refused the envelope sender (MAIL FROM)."""

    kind = "sender_rejected"


class RecipientRejectedError(RelayKitError):
    """The server refused every recipient (RCPT TO)."""

    kind = "recipient_rejected"


class MessageRejectedError(RelayKitError):
    """The server refused the message content (DATA)."""

    kind = "message_rejected"


class RelayKitIOError(RelayKitError, OSError):
    """A local read or write failed, e.g. an attachment file (also a builtin ``OSError``)."""

    kind = "io"


class InternalError(RelayKitError):
    """A bug in relaykit; please report it."""

    kind = "internal"
