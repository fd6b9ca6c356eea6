"""Client certificates (mutual TLS) and SASL EXTERNAL through the Python API, against the
`ccert` role of tests/servers/ (README "ccert"): Postfix relays to RK_RELAY_RCPT only for the
test client certificate; Dovecot submission offers only AUTH EXTERNAL. Relayed messages are
found on arrival in RK_CCERT_MAIL_DIR/_relayed/new with Postfix's "(verified OK)"."""

from __future__ import annotations

import logging
import pathlib
import time
import uuid
from typing import Any

import pytest
from servers import WAIT_SECS, env, needs_servers

import relaykit

pytestmark = needs_servers


def ccert(**kw: Any) -> relaykit.Profile:
    args: dict[str, Any] = dict(port=int(env("RK_CCERT_PORT")), encrypted_connection=True, tls_mode="starttls",
                                tls_ca_file=env("RK_CA_FILE"), timeout_secs=10)
    args.update(kw)
    return relaykit.Profile(env("RK_HOST"), **args)


def right(**kw: Any) -> relaykit.Profile:
    return ccert(tls_client_cert_file=env("RK_CLIENT_CERT"), tls_client_key_file=pathlib.Path(env("RK_CLIENT_KEY")),
                 **kw)


def relayed(message_id: str) -> str:
    folder = pathlib.Path(env("RK_CCERT_MAIL_DIR")) / "_relayed" / "new"
    deadline = time.monotonic() + WAIT_SECS
    while time.monotonic() < deadline:
        for f in folder.glob("*"):
            text = f.read_text(encoding="utf-8", errors="replace")
            if message_id in text:
                return text
        time.sleep(0.05)
    raise AssertionError(f"{message_id} was not relayed within {WAIT_SECS} s")


def message(to: str) -> tuple[relaykit.Message, str]:
    mid = f"<{uuid.uuid4().hex}@relaykit.test>"
    return relaykit.Message(env("RK_USER"), to=[to], subject="mtls", text="client certificate\n", message_id=mid), mid


def key_lines() -> list[str]:
    text = pathlib.Path(env("RK_CLIENT_KEY")).read_text()
    return [line for line in text.splitlines() if not line.startswith("-----") and len(line) > 16]


def test_relay_with_the_certificate_and_the_report_says_it_was_sent() -> None:
    r = relaykit.test(right(), relay_check=(env("RK_USER"), env("RK_RELAY_RCPT")))
    assert r.ok and r.tls is not None and r.tls.client_certificate_sent is True
    assert r.relay is not None and r.relay.ok
    m, mid = message(env("RK_RELAY_RCPT"))
    assert relaykit.send(right(), m).accepted == (env("RK_RELAY_RCPT"),)
    assert "(verified OK)" in relayed(mid)


def test_other_certificate_or_none_is_refused() -> None:
    other = ccert(tls_client_cert_file=env("RK_OTHER_CLIENT_CERT"), tls_client_key_file=env("RK_OTHER_CLIENT_KEY"))
    for p, sent in ((other, True), (ccert(), False)):
        r = relaykit.test(p, relay_check=(env("RK_USER"), env("RK_RELAY_RCPT")))
        assert r.tls is not None and r.tls.client_certificate_sent is sent
        assert r.relay is not None and not r.relay.ok and "Relay access denied" in r.relay.reply
        with pytest.raises(relaykit.RecipientRejectedError) as e:
            relaykit.send(p, message(env("RK_RELAY_RCPT"))[0])
        assert e.value.code == 554


def test_encrypted_inline_key_relays_and_is_never_shown(caplog: pytest.LogCaptureFixture) -> None:
    keyring = relaykit.Keyring.generate()
    p = ccert(id="py-mtls", tls_client_cert_pem=pathlib.Path(env("RK_CLIENT_CERT")).read_text(),
              tls_client_key=pathlib.Path(env("RK_CLIENT_KEY")).read_text())
    assert not p.tls_client_key_encrypted
    p.encrypt_current_tls_client_key(keyring)
    assert p.tls_client_key_encrypted and (p.tls_client_key or "").startswith("enc:v1:")
    saved = p.to_json()
    assert "PRIVATE KEY" not in saved and "PRIVATE KEY" not in repr(p)
    p = relaykit.Profile.from_json(saved)
    m, mid = message(env("RK_RELAY_RCPT"))
    with caplog.at_level(logging.DEBUG, logger="relaykit"):
        relaykit.send(p, m, keyring=keyring)
    assert "(verified OK)" in relayed(mid)
    keyring.generate_key()
    assert p.rotate_password(keyring) is True and p.to_json() != saved
    text = "\n".join(r.getMessage() for r in caplog.records) + repr(p)
    assert not [line for line in key_lines() if line in text]


def test_a_mismatched_or_broken_key_is_a_config_error_naming_the_field() -> None:
    p = ccert(tls_client_cert_file=env("RK_CLIENT_CERT"), tls_client_key_file=env("RK_OTHER_CLIENT_KEY"))
    with pytest.raises(relaykit.ConfigError) as e:
        relaykit.test(p)
    assert e.value.message.startswith(f"$.tls_client_key_file: {env('RK_OTHER_CLIENT_KEY')}: does not match the certificate")
    key = pathlib.Path(env("RK_CLIENT_KEY")).read_text().replace("-----END PRIVATE KEY-----", "")
    p = ccert(tls_client_cert_file=env("RK_CLIENT_CERT"), tls_client_key=key)
    with pytest.raises(relaykit.ConfigError) as e:
        relaykit.send(p, message(env("RK_RCPT"))[0])
    assert e.value.message.startswith("$.tls_client_key: is not a private key")
    assert not [line for line in key_lines() if line in f"{e.value} {e.value!r}"]


def test_sasl_external_logs_in_with_the_certificate() -> None:
    p = right(port=int(env("RK_CCERT_SUBMISSION_PORT")), requires_authentication=True, auth_mechanisms=["EXTERNAL"])
    r = relaykit.test(p)
    assert r.ok and r.auth is not None and r.auth.mechanism == "EXTERNAL"
    assert [a.to_dict() for a in r.auth.attempts] == [{"mechanism": "EXTERNAL", "ok": True, "code": 235}]
    p.username = env("RK_USER2")
    with pytest.raises(relaykit.AuthFailedError):
        relaykit.send(p, message(env("RK_RCPT"))[0])
