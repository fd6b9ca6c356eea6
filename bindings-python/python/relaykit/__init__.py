"""relaykit: SMTP server profiles with encrypted passwords and runtime replacement tags.

One Rust core does the work; this package translates it. ``test``/``send`` block (with the GIL
released, so other threads run); ``test_async``/``send_async`` are their asyncio forms.
``Mailer`` sends many messages over a few kept-open connections. The
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
import copy
import logging
from collections.abc import Mapping, Sequence
from types import TracebackType
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
    "Mailer",
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


def _given(**keywords: Any) -> dict[str, Any]:
    """The keywords given (not ``None``), as the options' JSON form (the keywords are its keys),
    which the core reads and checks, naming ``options.<key>`` in its errors; the defaults and
    ranges are the core's."""
    return {k: v for k, v in keywords.items() if v is not None}


def _options(relay_check: RelayCheckArg = None, ntlm_helper: Optional[Sequence[str]] = None) -> dict[str, Any]:
    """Test's and Send's options (:func:`_given`). A ``(from, to)`` pair is the Python spelling
    of the relay check's object."""
    if isinstance(relay_check, (tuple, list)) and len(relay_check) == 2:
        relay_check = {"from": relay_check[0], "to": relay_check[1]}
    return _given(relay_check=relay_check, ntlm_helper=ntlm_helper)


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


class Mailer:
    """Sends many messages to one server over a few kept-open connections (a pool): the
    profile is resolved once, here, and each send reuses an idle connection or opens one (at
    most ``max_connections`` at once; a send that finds them all busy waits for one).

    Safe to share between threads: :meth:`send` blocks with the GIL released, so threads send
    in parallel over the pool. :meth:`send_async` and :meth:`close_async` are the asyncio
    forms, on the same pool. ``with Mailer(...) as m:`` (or ``async with``) closes it on exit.

    The options are the core's (``None`` means its default): ``max_connections`` (the most
    open at once), ``max_messages_per_connection`` (then the connection is replaced) and
    ``idle_timeout_secs`` (an idle connection older than this is not reused); ``trace`` and
    ``ntlm_helper`` are Send's. A bad profile or option raises ``ConfigError`` naming the
    field (``options.max_connections``) now, before any connection.
    """

    __slots__ = ("_native", "_profile")

    def __init__(
        self,
        profile: Profile,
        *,
        keyring: Optional[Keyring] = None,
        context: Optional[RrtContext] = None,
        max_connections: Optional[int] = None,
        max_messages_per_connection: Optional[int] = None,
        idle_timeout_secs: Optional[float] = None,
        trace: Optional[TraceCallback] = None,
        ntlm_helper: Optional[Sequence[str]] = None,
    ) -> None:
        options = _given(max_connections=max_connections, max_messages_per_connection=max_messages_per_connection,
                         idle_timeout_secs=idle_timeout_secs, ntlm_helper=ntlm_helper)
        self._native = _native._Mailer(profile, keyring, context, options, _tracer(trace))
        self._profile = copy.copy(profile)  # for the log lines: where this mailer sends to

    def send(self, message: Message) -> SendResult:
        """Sends ``message`` over a pooled connection; returns and raises as :func:`send` does.
        A bad message fails alone, before any connection is used. Blocks with the GIL
        released; Ctrl-C cancels it. After :meth:`close` it raises ``ConfigError`` at once."""
        try:
            result = SendResult(*self._native.send(message))
        except RelayKitError as e:
            _log_send_error(self._profile, e)
            raise
        return _log_result(self._profile, result)

    async def send_async(self, message: Message) -> SendResult:
        """:meth:`send` for asyncio: never blocks the event loop; cancelling the awaiting task
        cancels the send."""
        loop = asyncio.get_running_loop()
        try:
            result = SendResult(*await self._native.send_async(loop, message))
        except RelayKitError as e:
            _log_send_error(self._profile, e)
            raise
        return _log_result(self._profile, result)

    def close(self) -> None:
        """Closes the mailer: idle connections are closed with QUIT now, those in use when their
        send ends; later sends raise ``ConfigError``. Closing again does nothing."""
        self._native.close()

    async def close_async(self) -> None:
        """:meth:`close` for asyncio."""
        await self._native.close_async(asyncio.get_running_loop())

    @property
    def stats(self) -> dict[str, int]:
        """What the mailer has done so far, the core's counters: ``sent``, ``failed``,
        ``reconnects``, ``connections_opened`` and ``open_connections`` (a snapshot)."""
        stats: dict[str, int] = self._native.stats
        return stats

    def __enter__(self) -> Mailer:
        return self

    def __exit__(self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.close()

    async def __aenter__(self) -> Mailer:
        return self

    async def __aexit__(self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException],
                        tb: Optional[TracebackType]) -> None:
        await self.close_async()

    def __repr__(self) -> str:
        return repr(self._native)
