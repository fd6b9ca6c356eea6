"""#15 "reach" through the Python API: the proxy, proxy_password and protocol properties, and
against the real servers (roles socks, httpproxy, lmtp, unixsmtp): Send through SOCKS5 and
HTTP CONNECT, a wrong proxy password at stage "proxy", LMTP over the Unix socket with a partial
result, SMTP over a Unix socket, each delivery read from its Maildir; and the proxy password
never in a repr, an error or the `relaykit` logger."""

from __future__ import annotations

import base64
import logging
import pathlib
import time
import uuid
from typing import Optional

import pytest
from servers import ENV, WAIT_SECS, env

import relaykit

SECRET = "Pr0xy-Secret-never-shown"
KEY = bytes(range(32))
needs_servers = pytest.mark.skipif(ENV is None, reason="no servers.env (tests/servers/start.sh)")


def test_reach_properties_follow_the_cores_rules() -> None:
    p = relaykit.Profile("lmtp.example.com", proxy="socks5h://relay@proxy.example.com:1080",
                         proxy_password="pr~xy", protocol="lmtp")
    assert (p.proxy, p.proxy_password, p.protocol) == ("socks5h://relay@proxy.example.com:1080", "pr~xy", "lmtp")
    assert not p.proxy_password_encrypted
    d = p.to_dict()
    assert (d["proxy"], d["proxy_password"], d["protocol"]) == (p.proxy, "pr~xy", "lmtp")
    p.protocol = "smtp"
    assert "protocol" not in p.to_dict()  # the default is left out
    with pytest.raises(relaykit.ConfigError, match=r"^config: \$\.protocol: "):
        p.protocol = "esmtp"
    k = relaykit.Keyring()
    k.add_key(KEY, "k1")
    p.encrypt_proxy_password(SECRET, k)
    assert p.proxy_password_encrypted and (p.proxy_password or "").startswith("enc:v1:k1:")
    assert SECRET not in p.to_json() and SECRET not in repr(p)
    p.proxy_password = None
    p.validate()
    with pytest.raises(relaykit.ConfigError, match=r"\$\.proxy: "):
        relaykit.Profile("smtp.example.com", proxy="socks5://proxy.example.com")
    with pytest.raises(relaykit.ConfigError, match=r"\$\.server: "):
        relaykit.Profile("unix:relative/path")
    with pytest.raises(relaykit.ConfigError, match=r"\$\.proxy_password: applies only with a proxy"):
        relaykit.Profile("smtp.example.com", proxy_password="x")
    unix = relaykit.Profile("unix:/nonexistent/relaykit.sock")
    with pytest.raises(relaykit.ConfigError, match=r"\$\.server: no Unix socket at /nonexistent/relaykit.sock"):
        relaykit.test(unix)


def test_reprs_and_errors_hide_the_proxy_password() -> None:
    url = relaykit.Profile("smtp.example.com", proxy=f"http://u:{SECRET}@proxy.example.com:3128")
    field = relaykit.Profile("smtp.example.com", proxy="http://u@proxy.example.com:3128", proxy_password=SECRET)
    for p in (url, field):
        assert SECRET not in repr(p) and SECRET not in str(p)
    with pytest.raises(relaykit.ConfigError) as info:
        relaykit.Profile("smtp.example.com", proxy=f"socks5://u:{SECRET}@proxy.example.com")
    assert SECRET not in str(info.value) and SECRET not in repr(info.value)


def _mid(what: str) -> str:
    return f"<reach-py.{what}.{uuid.uuid4().hex}@relaykit.test>"


def _message(mid: str, *to: str) -> relaykit.Message:
    return relaykit.Message(env("RK_USER"), to=list(to), subject=f"relaykit python reach {mid}",
                            text="sent by bindings-python/tests/test_reach.py\n", message_id=mid)


def _wait_for(maildir: pathlib.Path, mid: str) -> bytes:
    """The stored message carrying `mid`, polled (bounded) in a Maildir's new/ and cur/."""
    deadline = time.monotonic() + WAIT_SECS
    while time.monotonic() < deadline:
        for sub in ("new", "cur"):
            for f in (maildir / sub).glob("*"):
                data = f.read_bytes()
                if mid.encode() in data:
                    return data
        time.sleep(0.05)
    raise AssertionError(f"{mid} did not arrive in {maildir} within {WAIT_SECS} s")


def _alice(root_key: str) -> pathlib.Path:
    return pathlib.Path(env(root_key)) / env("RK_DOMAIN") / "alice"


def _via(proxy: str, proxy_password: Optional[str] = None) -> relaykit.Profile:
    return relaykit.Profile("127.0.0.1", port=int(env("RK_DOVECOT_PLAIN_PORT")), starttls="never",
                            timeout_secs=10, proxy=proxy, proxy_password=proxy_password)


@needs_servers
def test_send_through_socks5_and_http_connect_and_a_wrong_proxy_password_fails_at_stage_proxy(
        caplog: pytest.LogCaptureFixture) -> None:
    socks = f"socks5://{env('RK_SOCKS_USER')}@127.0.0.1:{env('RK_SOCKS_PORT')}"
    http = f"http://{env('RK_HTTP_PROXY_USER')}@127.0.0.1:{env('RK_HTTP_PROXY_AUTH_PORT')}"
    for what, p in (("socks", _via(socks, proxy_password=env("RK_SOCKS_PASS"))),
                    ("http", _via(http, proxy_password=env("RK_HTTP_PROXY_PASS")))):
        mid = _mid(what)
        r = relaykit.send(p, _message(mid, env("RK_USER")))
        assert r.accepted == (env("RK_USER"),) and r.rejected == ()
        _wait_for(_alice("RK_DOVECOT_MAIL_DIR"), mid)
    report = relaykit.test(_via(socks.replace("socks5:", "socks5h:"), proxy_password=env("RK_SOCKS_PASS")))
    assert report.ok and [s.name for s in report.stages][:2] == ["proxy", "greeting"]
    bad = env("RK_SOCKS_BAD_PASS")
    with caplog.at_level(logging.DEBUG, logger="relaykit"):
        report = relaykit.test(_via(socks, proxy_password=bad))
        with pytest.raises(relaykit.AuthFailedError) as info:
            relaykit.send(_via(http, proxy_password=env("RK_HTTP_PROXY_BAD_PASS")), _message(_mid("bad"), env("RK_USER")))
    assert report.error is not None and (report.error.kind, report.error.stage) == ("auth_failed", "proxy")
    assert (report.error.hint or "").startswith("proxy authentication failed")
    assert info.value.stage == "proxy"
    text = "\n".join(r.getMessage() for r in caplog.records) + report.to_json() + str(info.value) + repr(info.value)
    basic = base64.b64encode(f"{env('RK_HTTP_PROXY_USER')}:{env('RK_HTTP_PROXY_BAD_PASS')}".encode()).decode()
    for secret in (bad, env("RK_HTTP_PROXY_BAD_PASS"), basic):
        assert secret not in text


@needs_servers
def test_lmtp_over_the_unix_socket_is_a_partial_result_and_smtp_over_a_socket_delivers() -> None:
    mid = _mid("lmtp")
    p = relaykit.Profile(f"unix:{env('RK_LMTP_SOCKET')}", protocol="lmtp", timeout_secs=10)
    r = relaykit.send(p, _message(mid, env("RK_USER"), env("RK_LMTP_REJECT_RCPT"), env("RK_LMTP_FULL_RCPT")))
    assert r.accepted == (env("RK_USER"),)
    assert [(x.address, x.code) for x in r.rejected] == [(env("RK_LMTP_REJECT_RCPT"), 550),
                                                          (env("RK_LMTP_FULL_RCPT"), 552)]
    assert [(x.address, x.code) for x in r.deliveries or ()] == [(env("RK_USER"), 250), (env("RK_LMTP_FULL_RCPT"), 552)]
    assert isinstance((r.deliveries or ())[0], relaykit.Delivery)
    _wait_for(_alice("RK_LMTP_MAIL_DIR"), mid)
    mid = _mid("unixsmtp")
    r = relaykit.send(relaykit.Profile(f"unix:{env('RK_SMTP_SOCKET')}", starttls="never", timeout_secs=10),
                      _message(mid, env("RK_USER")))
    assert r.accepted == (env("RK_USER"),)
    _wait_for(_alice("RK_UNIXSMTP_MAIL_DIR"), mid)
