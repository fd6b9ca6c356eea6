"""relaykit: SMTP server profiles with encrypted passwords and runtime replacement tags.

One Rust core does the work; this package translates it. ``test``/``send`` block (with the GIL
released, so other threads run); ``test_async``/``send_async`` are their asyncio forms.
``Mailer`` (and ``AsyncMailer``, its asyncio form) sends many messages over a few kept-open
connections. The
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
import inspect
import logging
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Awaitable, Callable, Optional, TypedDict, Union

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
    Delivery,
    MailerStats,
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
    "AsyncMailer",
    "Attachment",
    "AuthAttempt",
    "AuthInfo",
    "Delivery",
    "MailerStats",
    "RateLimit",
    "RetryPolicy",
    "SendOutcome",
    "Record",
    "Rejection",
    "RelayCheck",
    "SendResult",
    "ServerInfo",
    "Stage",
    "TestReport",
    "TlsInfo",
    "TokenProvider",
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


TraceCallback = Callable[..., Any]
"""``trace(direction, line)``: ``direction`` is ``"C"`` (relaykit sent the line) or ``"S"``
(the server did); ``line`` has no CRLF and AUTH payloads are already ``<redacted>``. A callable
that also takes a ``connection`` keyword (or ``**kwargs``), or else a third positional
parameter, is given the line's connection id as well: 1, 2, ... for a mailer's connections (in
the order they opened), ``None`` for :func:`test` and :func:`send`."""

RelayCheckArg = Union[tuple[str, str], Sequence[str], Mapping[str, str], None]

TokenProvider = Callable[[str, str], Union[str, Awaitable[str]]]
"""``token_provider(username, reason)``: an OAuth 2.0 access token (a ``str``) for OAUTHBEARER or
XOAUTH2, instead of the profile's password. ``reason`` is ``"initial"`` (a new connection logs
in) or ``"refresh"`` (the server rejected the token given before: return a fresh one). It may be
a plain callable, run on a relaykit worker thread (never on the event loop), or a coroutine
function: :func:`test_async`, :func:`send_async` and an :class:`AsyncMailer` made inside a
running loop await its coroutine on that loop; the blocking API runs it with
:func:`asyncio.run` on the worker thread. An exception, a value that is not a ``str``, or no
answer within the profile's ``timeout_secs`` fails the login with ``AuthFailedError`` naming the
token provider. The token is never logged or traced."""

log = logging.getLogger("relaykit")


def _token_provider(provider: Optional[TokenProvider], profile: Profile,
                    loop: Optional[asyncio.AbstractEventLoop] = None) -> Optional[Callable[[str, str], Any]]:
    """The callable the core calls on a worker thread, ``(username, reason)``: the caller's, with
    a coroutine it returns run to its end (on ``loop`` when that loop is running, else with
    :func:`asyncio.run`), bounded by the profile's timeout. Its value is returned as it is: the
    core checks that it is a ``str``."""
    if provider is None:
        return None
    if not callable(provider):
        raise TypeError(f"token_provider must be callable, not {type(provider).__name__}")
    timeout = float(profile.timeout_secs)

    def call(username: str, reason: str) -> Any:
        out = provider(username, reason)
        if not inspect.isawaitable(out):
            return out
        if loop is not None and loop.is_running() and not loop.is_closed():
            fut = asyncio.run_coroutine_threadsafe(_awaited(out), loop)
            try:
                return fut.result(timeout)
            except BaseException:
                fut.cancel()
                raise
        return asyncio.run(asyncio.wait_for(_awaited(out), timeout))

    return call


async def _awaited(aw: Awaitable[Any]) -> Any:
    return await aw


def _connection_style(trace: TraceCallback) -> Optional[str]:
    """How ``trace`` takes the connection id: ``"keyword"``, ``"positional"`` or not at all
    (``None``, also when its signature cannot be read), so that a two-argument callable
    written before connection ids existed keeps working."""
    try:
        params = inspect.signature(trace).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind == p.VAR_KEYWORD or (p.name == "connection" and p.kind != p.POSITIONAL_ONLY) for p in params):
        return "keyword"
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return "positional" if len(positional) >= 3 else None


def _tracer(trace: Optional[TraceCallback]) -> Optional[Callable[[str, str, Optional[int]], None]]:
    """The callback the core calls, ``(direction, line, connection)``: the caller's, given the
    connection as it takes it, plus the ``relaykit`` logger when it logs DEBUG (decided per
    call, so a silent logger costs nothing)."""
    logging_on = log.isEnabledFor(logging.DEBUG)
    if trace is None and not logging_on:
        return None
    style = _connection_style(trace) if trace is not None else None

    def call(direction: str, line: str, connection: Optional[int]) -> None:
        if logging_on:
            if connection is None:
                log.debug("%s: %s", direction, line)
            else:
                log.debug("[%d] %s: %s", connection, direction, line)
        if trace is None:
            return
        if style == "keyword":
            trace(direction, line, connection=connection)
        elif style == "positional":
            trace(direction, line, connection)
        else:
            trace(direction, line)

    return call


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
    token_provider: Optional[TokenProvider] = None,
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
    current-user NTLM. ``token_provider`` gives OAUTHBEARER/XOAUTH2 tokens (see
    :data:`TokenProvider`).
    """
    report = TestReport(*_native._test(profile, keyring, context, _options(relay_check, ntlm_helper),
                                       _tracer(trace), _token_provider(token_provider, profile)))
    return _log_report(profile, report)


def send(
    profile: Profile,
    message: Message,
    *,
    keyring: Optional[Keyring] = None,
    context: Optional[RrtContext] = None,
    trace: Optional[TraceCallback] = None,
    ntlm_helper: Optional[Sequence[str]] = None,
    token_provider: Optional[TokenProvider] = None,
    transport: Optional[dict[str, Any]] = None,
    progress: Optional[Callable[[int, int], None]] = None,
) -> SendResult:
    """Sends ``message`` through the profile's server (§6). Blocks with the GIL released;
    Ctrl-C cancels it.

    Returns what the server accepted and refused (a partly refused recipient list is not an
    error). Raises the exception of the failure's kind (§7) with ``.stage``, ``.code``,
    ``.enhanced_code``, ``.message`` and ``.hint``, e.g. ``AuthFailedError`` with
    ``code == 535``; ``RecipientRejectedError`` when no recipient was accepted. ``context``
    also expands tags in the message when it asks for that. ``token_provider`` gives
    OAUTHBEARER/XOAUTH2 tokens (see :data:`TokenProvider`). ``transport={"capture": {"dir":
    "/path"}}`` validates and prepares the message as a real send does but connects nowhere:
    it writes ``<message-id>.eml`` and ``<message-id>.json`` into the directory and returns
    every recipient accepted with the reply ``250 captured``. ``progress(written, total)`` is
    called with the bytes of the message written so far, at most every 64 KiB or 100 ms and
    once at the end (``written == total``); an exception in it goes to
    ``sys.unraisablehook`` and the send goes on.
    """
    try:
        result = SendResult(*_native._send(profile, message, keyring, context,
                                           _given(ntlm_helper=ntlm_helper, transport=transport),
                                           _tracer(trace), _token_provider(token_provider, profile), progress))
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
    token_provider: Optional[TokenProvider] = None,
) -> TestReport:
    """:func:`test` for asyncio: runs on relaykit's own I/O threads, never blocks the event
    loop; cancelling the awaiting task cancels the Test."""
    loop = asyncio.get_running_loop()
    report = TestReport(*await _native._test_async(loop, profile, keyring, context,
                                                   _options(relay_check, ntlm_helper), _tracer(trace),
                                                   _token_provider(token_provider, profile, loop)))
    return _log_report(profile, report)


async def send_async(
    profile: Profile,
    message: Message,
    *,
    keyring: Optional[Keyring] = None,
    context: Optional[RrtContext] = None,
    trace: Optional[TraceCallback] = None,
    ntlm_helper: Optional[Sequence[str]] = None,
    token_provider: Optional[TokenProvider] = None,
    transport: Optional[dict[str, Any]] = None,
    progress: Optional[Callable[[int, int], None]] = None,
) -> SendResult:
    """:func:`send` for asyncio: runs on relaykit's own I/O threads, never blocks the event
    loop; cancelling the awaiting task cancels the Send."""
    loop = asyncio.get_running_loop()
    try:
        result = SendResult(*await _native._send_async(loop, profile, message, keyring, context,
                                                       _given(ntlm_helper=ntlm_helper, transport=transport),
                                                       _tracer(trace),
                                                       _token_provider(token_provider, profile, loop), progress))
    except RelayKitError as e:
        _log_send_error(profile, e)
        raise
    return _log_result(profile, result)


class RateLimit(TypedDict):
    """The ``rate_limit`` option: at most ``messages`` per ``per_secs`` seconds, shared by all
    the mailer's connections, spaced evenly (retries count)."""

    messages: int
    per_secs: float


class RetryPolicy(TypedDict, total=False):
    """The ``retry`` option (each key optional, the core's default where left out): up to
    ``max_attempts`` transactions per message in all (default 3; 1 turns retries off), waiting
    ``base_delay_ms`` (200) doubled after each attempt, at most ``max_delay_ms`` (10,000),
    each wait drawn between half of that and all of it."""

    max_attempts: int
    base_delay_ms: int
    max_delay_ms: int


SendOutcome = Union[SendResult, RelayKitError]
"""One message's outcome in :meth:`Mailer.send_many`: its :class:`SendResult`, or the exception
of its failure (an instance, not raised), whose ``fate`` says whether it may have been
delivered anyway (``"unknown"``) or not (``"rejected"``)."""


def _outcomes(profile: Profile, raw: list[Any]) -> list[SendOutcome]:
    out: list[SendOutcome] = [o if isinstance(o, RelayKitError) else SendResult(*o) for o in raw]
    if log.isEnabledFor(logging.DEBUG):
        failed = sum(isinstance(o, RelayKitError) for o in out)
        log.debug("send_many via %s:%d: %d sent, %d failed", profile.server, profile.effective_port,
                  len(out) - failed, failed)
    return out


class _MailerBase:
    """What :class:`Mailer` and :class:`AsyncMailer` share: creation (the options) and
    ``stats``."""

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
        rate_limit: Optional[RateLimit] = None,
        retry: Optional[RetryPolicy] = None,
        retry_unknown: Optional[bool] = None,
        stream_window: Optional[int] = None,
        max_queued: Optional[int] = None,
        trace: Optional[TraceCallback] = None,
        ntlm_helper: Optional[Sequence[str]] = None,
        token_provider: Optional[TokenProvider] = None,
    ) -> None:
        options = _given(max_connections=max_connections, max_messages_per_connection=max_messages_per_connection,
                         idle_timeout_secs=idle_timeout_secs, rate_limit=rate_limit, retry=retry,
                         retry_unknown=retry_unknown, stream_window=stream_window, max_queued=max_queued,
                         ntlm_helper=ntlm_helper)
        # An AsyncMailer made inside a running loop awaits a coroutine provider on that loop.
        try:
            loop: Optional[asyncio.AbstractEventLoop] = (
                asyncio.get_running_loop() if isinstance(self, AsyncMailer) else None)
        except RuntimeError:
            loop = None
        self._native = _native._Mailer(profile, keyring, context, options, _tracer(trace),
                                       _token_provider(token_provider, profile, loop))
        self._profile = copy.copy(profile)  # for the log lines: where this mailer sends to

    @property
    def stats(self) -> MailerStats:
        """What the mailer has done so far (a snapshot of the core's counters): ``sent``,
        ``failed``, ``retried`` (retries after a transient failure), ``reconnects`` (dead
        connections replaced), ``connections_opened``, ``open_connections`` and ``queued``
        (messages waiting for a connection now)."""
        return MailerStats(self._native.stats)

    async def _send_async(self, message: Message) -> SendResult:
        loop = asyncio.get_running_loop()
        try:
            result = SendResult(*await self._native.send_async(loop, message))
        except RelayKitError as e:
            _log_send_error(self._profile, e)
            raise
        return _log_result(self._profile, result)

    async def _close_async(self) -> None:
        await self._native.close_async(asyncio.get_running_loop())

    def __repr__(self) -> str:
        return repr(self._native)


class Mailer(_MailerBase):
    """Sends many messages to one server over a few kept-open connections (a pool): the
    profile is resolved once, here, and each send reuses an idle connection or opens one (at
    most ``max_connections`` at once). Messages of concurrent senders are pipelined on a busy
    connection; a connection the server closed while idle is replaced without an error;
    transient failures (4xx, a lost connection) are retried with backoff.

    Safe to share between threads: :meth:`send` and :meth:`send_many` block with the GIL
    released, so threads send in parallel over the pool. :meth:`send_async` and
    :meth:`close_async` are asyncio forms on the same pool, and :meth:`as_async` gives an
    :class:`AsyncMailer` sharing it. ``with Mailer(...) as m:`` (or ``async with``) closes it.

    The options are the core's (``None`` means its default): ``max_connections`` (2),
    ``max_messages_per_connection`` (100; then the connection is replaced),
    ``idle_timeout_secs`` (30; an idle connection is then closed), ``rate_limit``
    (:class:`RateLimit`; none), ``retry`` (:class:`RetryPolicy`), ``retry_unknown`` (False:
    a message whose fate is unknown is not sent again), ``stream_window`` (6: messages a
    CHUNKING connection writes ahead of their replies) and ``max_queued`` (10,000: messages
    waiting for a connection at most; a send then waits for room); ``trace`` (see :data:`TraceCallback`:
    it may take each line's connection id), ``ntlm_helper`` and ``token_provider`` (see
    :data:`TokenProvider`; asked for each new connection) are Send's. A bad profile or
    option raises ``ConfigError`` naming the field (``options.retry.max_attempts``) now,
    before any connection.
    """

    __slots__ = ()

    def send(self, message: Message) -> SendResult:
        """Sends ``message`` over a pooled connection, retrying transient failures; returns
        and raises as :func:`send` does, the exception with ``.transient``, ``.fate`` and
        ``.attempts``. A bad message fails alone, before any connection is used. Blocks with
        the GIL released; Ctrl-C cancels it. After :meth:`close` it raises ``ConfigError``."""
        try:
            result = SendResult(*self._native.send(message))
        except RelayKitError as e:
            _log_send_error(self._profile, e)
            raise
        return _log_result(self._profile, result)

    def send_many(self, messages: Iterable[Message]) -> list[SendOutcome]:
        """Sends every message, all queued at once so that the connections pipeline them.
        Returns one outcome per message, in order: its :class:`SendResult`, or the exception of
        its failure as a value (never raised, so one bad message fails alone); after
        :meth:`close` every outcome is that ``ConfigError``. Blocks with the GIL released."""
        return _outcomes(self._profile, self._native.send_many(list(messages)))

    async def send_async(self, message: Message) -> SendResult:
        """:meth:`send` for asyncio: never blocks the event loop; cancelling the awaiting task
        cancels the send."""
        return await self._send_async(message)

    def close(self) -> None:
        """Closes the mailer: messages queued or in flight still get their outcome, then every
        connection is closed with QUIT; returns when they are. Later sends raise
        ``ConfigError``. Closing again does nothing."""
        self._native.close()

    async def close_async(self) -> None:
        """:meth:`close` for asyncio."""
        await self._close_async()

    def as_async(self) -> AsyncMailer:
        """An :class:`AsyncMailer` on this mailer's pool (the same connections and counters)."""
        return AsyncMailer._sharing(self)

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


class AsyncMailer(_MailerBase):
    """:class:`Mailer` for asyncio: the same options and pool, with awaitable :meth:`send`,
    :meth:`send_many` and :meth:`close`; ``async with AsyncMailer(...) as m:`` closes it on
    exit. The work runs on relaykit's own I/O threads and never blocks the event loop;
    cancelling an awaiting task cancels its send. Safe to share between tasks (and loops)."""

    __slots__ = ()

    @classmethod
    def _sharing(cls, mailer: Mailer) -> AsyncMailer:
        m = cls.__new__(cls)
        m._native, m._profile = mailer._native, mailer._profile
        return m

    async def send(self, message: Message) -> SendResult:
        """:meth:`Mailer.send`, awaited."""
        return await self._send_async(message)

    async def send_many(self, messages: Iterable[Message]) -> list[SendOutcome]:
        """:meth:`Mailer.send_many`, awaited: one outcome per message, in order."""
        loop = asyncio.get_running_loop()
        return _outcomes(self._profile, await self._native.send_many_async(loop, list(messages)))

    async def close(self) -> None:
        """:meth:`Mailer.close`, awaited."""
        await self._close_async()

    async def __aenter__(self) -> AsyncMailer:
        return self

    async def __aexit__(self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException],
                        tb: Optional[TracebackType]) -> None:
        await self.close()
