"""relaykit: SMTP server profiles with encrypted passwords and runtime replacement tags.

One Rust core does the work; this package translates it. Test and Send (``test``/``send`` and
``test_async``/``send_async``) come with the core's SMTP engine.

>>> import relaykit
>>> keyring = relaykit.Keyring.generate()
>>> profile = relaykit.Profile("smtp.example.com", encrypted_connection=True,
...                            requires_authentication=True, username="alice", password="s3cret")
>>> relaykit.encrypt_password(profile, "s3cret", keyring)
>>> profile.password_display
'********'
"""

from __future__ import annotations

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

__all__ = [
    "Attachment",
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
