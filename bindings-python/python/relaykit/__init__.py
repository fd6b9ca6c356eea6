"""relaykit: SMTP server profiles with encrypted passwords and runtime replacement tags.

One Rust core does the work; this package translates it. ``test``/``send`` block (with the GIL
released, so other threads run); ``test_async``/``send_async`` are their asyncio forms. The
protocol trace (AUTH payloads redacted) and relaykit's events go to the ``logging`` logger
``relaykit`` at DEBUG.

>>> import relaykit
>>> keyring = relaykit.Keyring.generate()
>>> profile = relaykit.Profile("smtp.example.com", encrypted_connection=True,
...                            requires_authentication=True, username="alice", password="s3cret")
>>> relaykit.encrypt_password(profile, "s3cret", keyring)
>>> profile.password_display
'********'
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Callable, Optional, Union

from . import _native
from ._native import (
    Attachment,
    Keyring,
    Message,
    PreparedMessage,
    Profile,
    RrtContext,
    __version__,
)
from .errors import (
    AuthFailedError,
    AuthUnsupportedError,
    ConfigError,
    ConnectError,
    CryptoError,
    DnsError,
    InternalError,
    MessageRejectedError,
    ProtocolError,
    RecipientRejectedError,
    RelayKitError,
    RelayKitIOError,
    RrtError,
    SenderRejectedError,
    SmtpTimeoutError,
    TlsError,
)
from .results import (
    AuthAttempt,
    AuthInfo,
    Record,
    Rejection,
    RelayCheck,
    SendResult,
    ServerInfo,
    Stage,
    TestReport,
    TlsInfo,
)

__all__ = [
    "Attachment",
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
    "TraceCallback",
    "send",
    "send_async",
    "test",
    "test_async",
    "AuthFailedError",
    "AuthUnsupportedError",
    "ConfigError",
    "ConnectError",
    "CryptoError",
    "DnsError",
    "InternalError",
    "Keyring",
    "Message",
    "MessageRejectedError",
    "PreparedMessage",
    "Profile",
    "ProtocolError",
    "RecipientRejectedError",
    "RelayKitError",
    "RelayKitIOError",
    "RrtContext",
    "RrtError",
    "SenderRejectedError",
    "SmtpTimeoutError",
    "TlsError",
    "__version__",
    "encrypt_password",
]


def encrypt_password(profile: Profile, plaintext: str, keyring: Keyring) -> None:
    """Gives ``profile`` the envelope of ``plaintext`` under the keyring's newest key and marks
    its password encrypted (§8). The plaintext is literal: tags in it are never expanded."""
    profile.encrypt_password(plaintext, keyring)


TraceCallback = Callable[[str, str], Any]
"""``trace(direction, line)``: ``direction`` is ``"C"`` (relaykit sent the line) or ``"S"``
(the server did); ``line`` has no CRLF and AUTH payloads are already ``<redacted>``."""

RelayCheckArg = Union[tuple[str, str], Sequence[str], Mapping[str, str], None]

log = logging.getLogger("relaykit")


def _tracer(trace: Optional[TraceCallback]) -> Optional[TraceCallback]:
    """The callback the core calls: the caller's, plus the ``relaykit`` logger when it logs
    DEBUG (decided per call, so a silent logger costs nothing)."""
    if not log.isEnabledFor(logging.DEBUG):
        return trace

    def both(direction: str, line: str) -> None:
        log.debug("%s: %s", direction, line)
        if trace is not None:
            trace(direction, line)

    return both


def _options(relay_check: RelayCheckArg = None, ntlm_helper: Optional[Sequence[str]] = None) -> dict[str, Any]:
    """The keywords given, as the options' JSON form (the keywords are its keys), which the core
    reads and checks, naming ``options.<key>`` in its errors. A ``(from, to)`` pair is the
    Python spelling of the relay check's object."""
    if isinstance(relay_check, (tuple, list)) and len(relay_check) == 2:
        relay_check = {"from": relay_check[0], "to": relay_check[1]}
    given = {"relay_check": relay_check, "ntlm_helper": ntlm_helper}
    return {k: v for k, v in given.items() if v is not None}


def _log_report(profile: Profile, report: TestReport) -> TestReport:
    if report.ok:
        log.debug("Test of %s:%d: ok (%s)", profile.server, profile.effective_port,
                  ", ".join(f"{s.name} {s.ms:.1f} ms" for s in report.stages))
    else:
        log.debug("Test of %s:%d failed: %s", profile.server, profile.effective_port, report.error)
    return report


def _log_result(profile: Profile, result: SendResult) -> SendResult:
    log.debug("Send via %s:%d: %s accepted, %s rejected, %s", profile.server, profile.effective_port,
              len(result.accepted), len(result.rejected), result.reply)
    return result


def _log_send_error(profile: Profile, e: RelayKitError) -> None:
    log.debug("Send via %s:%d failed: %s", profile.server, profile.effective_port, e)


def test(
    profile: Profile,
    *,
    keyring: Optional[Keyring] = None,
    context: Optional[RrtContext] = None,
    relay_check: RelayCheckArg = None,
    trace: Optional[TraceCallback] = None,
    ntlm_helper: Optional[Sequence[str]] = None,
) -> TestReport:
    """Tests the profile's server (the dialog's Test button, §5): connect, greeting, EHLO, TLS,
    AUTH when required, the relay check when ``relay_check=(from, to)`` (or
    ``{"from": ..., "to": ...}``) is given (MAIL FROM/RCPT TO, then RSET: nothing is sent),
    QUIT. Blocks with the GIL released; Ctrl-C cancels it.

    A failure on the server's side is *in* the report (``report.ok is False``,
    ``report.error``); invalid input (profile, tags, password envelope, options) raises
    ``ConfigError``, ``RrtError`` or ``CryptoError``. ``keyring`` decrypts an encrypted
    password; ``context`` expands the tags. ``trace(direction, line)`` sees the protocol,
    redacted, and is called on a relaykit thread. ``ntlm_helper`` replaces the command of
    current-user NTLM.
    """
    report = TestReport(*_native._test(profile, keyring, context, _options(relay_check, ntlm_helper),
                                       _tracer(trace)))
    return _log_report(profile, report)


def send(
    profile: Profile,
    message: Message,
    *,
    keyring: Optional[Keyring] = None,
    context: Optional[RrtContext] = None,
    trace: Optional[TraceCallback] = None,
    ntlm_helper: Optional[Sequence[str]] = None,
) -> SendResult:
    """Sends ``message`` through the profile's server (§6). Blocks with the GIL released;
    Ctrl-C cancels it.

    Returns what the server accepted and refused (a partly refused recipient list is not an
    error). Raises the exception of the failure's kind (§7) with ``.stage``, ``.code``,
    ``.enhanced_code``, ``.message`` and ``.hint``, e.g. ``AuthFailedError`` with
    ``code == 535``; ``RecipientRejectedError`` when no recipient was accepted. ``context``
    also expands tags in the message when it asks for that.
    """
    try:
        result = SendResult(*_native._send(profile, message, keyring, context, _options(ntlm_helper=ntlm_helper),
                                           _tracer(trace)))
    except RelayKitError as e:
        _log_send_error(profile, e)
        raise
    return _log_result(profile, result)


async def test_async(
    profile: Profile,
    *,
    keyring: Optional[Keyring] = None,
    context: Optional[RrtContext] = None,
    relay_check: RelayCheckArg = None,
    trace: Optional[TraceCallback] = None,
    ntlm_helper: Optional[Sequence[str]] = None,
) -> TestReport:
    """:func:`test` for asyncio: runs on relaykit's own I/O threads, never blocks the event
    loop; cancelling the awaiting task cancels the Test."""
    loop = asyncio.get_running_loop()
    report = TestReport(*await _native._test_async(loop, profile, keyring, context,
                                                   _options(relay_check, ntlm_helper), _tracer(trace)))
    return _log_report(profile, report)


async def send_async(
    profile: Profile,
    message: Message,
    *,
    keyring: Optional[Keyring] = None,
    context: Optional[RrtContext] = None,
    trace: Optional[TraceCallback] = None,
    ntlm_helper: Optional[Sequence[str]] = None,
) -> SendResult:
    """:func:`send` for asyncio: runs on relaykit's own I/O threads, never blocks the event
    loop; cancelling the awaiting task cancels the Send."""
    loop = asyncio.get_running_loop()
    try:
        result = SendResult(*await _native._send_async(loop, profile, message, keyring, context,
                                                       _options(ntlm_helper=ntlm_helper), _tracer(trace)))
    except RelayKitError as e:
        _log_send_error(profile, e)
        raise
    return _log_result(profile, result)
