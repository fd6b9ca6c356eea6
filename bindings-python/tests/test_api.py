"""The Python surface: keyword construction, properties, keyrings, RRTs, messages, and that no
repr or exception ever shows a secret."""

from __future__ import annotations

import base64
import copy
import os
import pathlib
import pickle

import pytest

import relaykit

SECRET = "Tr0ub4dor&3-never-shown"
KEY = bytes(range(32))


def test_profile_keywords_and_properties() -> None:
    p = relaykit.Profile("smtp.example.com", port=587, encrypted_connection=True, tls_mode="starttls",
                         requires_authentication=True, username="alice", password="pa~ss",
                         auth_mechanisms=["plain", "LOGIN"], id="prod", tls_ca_file=pathlib.Path("/etc/ca.pem"))
    assert (p.server, p.port, p.effective_port, p.tls_mode, p.starttls) == ("smtp.example.com", 587, 587,
                                                                            "starttls", None)
    assert p.auth_mechanisms == ["PLAIN", "LOGIN"]
    assert p.tls_ca_file == "/etc/ca.pem"
    assert p.password == "pa~ss" and p.password_display == "pa~ss" and not p.password_encrypted
    p.port = None
    assert p.effective_port == 465
    p.encrypted_connection = False
    p.tls_mode = None
    p.starttls = "never"
    p.validate()
    assert p.to_dict()["starttls"] == "never"
    with pytest.raises(relaykit.ConfigError, match=r"^config: \$\.tls_mode: `bogus` is not one of"):
        p.tls_mode = "bogus"
    p.encrypted_connection = True
    with pytest.raises(relaykit.ConfigError, match=r"\$\.starttls"):
        p.validate()
    q = copy.deepcopy(p)
    assert q == p and q is not p
    names = "`preference`, `as_listed`"
    with pytest.raises(relaykit.ConfigError, match=rf"^config: \$\.auth_order: `fastest` is not one of {names}$"):
        p.auth_order = "fastest"


def test_setters_follow_the_cores_rules() -> None:
    p = relaykit.Profile("smtp.example.com", port=2525)
    with pytest.raises(relaykit.ConfigError, match=r"^config: \$\.port: 0 is out of range"):
        p.port = 0
    assert p.port == 2525  # a refused value changes nothing
    p.port = None
    assert p.effective_port == 25
    p.use_ntlm_current_user = True
    assert p.requires_authentication
    p.use_ntlm_current_user = False
    assert p.requires_authentication  # turning it off leaves authentication as it was


def test_from_json_and_dict_round_trip() -> None:
    p = relaykit.Profile.from_json('{"server": "[::1]", "port": 1025}')
    assert relaykit.Profile.from_dict(p.to_dict()) == p
    with pytest.raises(relaykit.ConfigError, match=r"\$\.prot: unknown field `prot`"):
        relaykit.Profile.from_json('{"server": "x.example", "prot": 25}')
    with pytest.raises(relaykit.ConfigError, match=r"\$\.server"):
        relaykit.Profile("")
    # Keywords are the JSON's keys, read by the core's reader: the same error for a wrong one.
    with pytest.raises(relaykit.ConfigError, match=r"^config: \$\.prot: unknown field `prot`"):
        relaykit.Profile("x.example", prot=25)  # type: ignore[call-arg]
    assert relaykit.Profile("x.example", timeout_secs=5, tls_verify=False) == relaykit.Profile.from_dict(
        {"server": "x.example", "timeout_secs": 5, "tls_verify": False})


def test_encrypt_password_and_rotation() -> None:
    k = relaykit.Keyring()
    assert k.add_key(KEY, "old") == "old"
    p = relaykit.Profile("smtp.example.com", requires_authentication=True, username="u", password="x", id="prod")
    relaykit.encrypt_password(p, SECRET, k)
    assert p.password_encrypted and p.password_display == "********"
    saved = p.to_json()
    assert SECRET not in saved and '"password": "enc:v1:old:' in saved
    assert k.decrypt(p.password or "", profile_id="prod") == SECRET
    assert p.rotate_password(k) is False
    new_id = k.generate_key()
    assert k.key_ids == ["old", new_id] and k.newest_key_id == new_id and len(k) == 2
    assert p.rotate_password(k) is True
    assert (p.password or "").startswith(f"enc:v1:{new_id}:")
    loaded = relaykit.Profile.from_json(p.to_json())
    assert loaded.password_encrypted
    with pytest.raises(relaykit.CryptoError, match="failed authentication"):
        k.decrypt(p.password or "", profile_id="other")


def test_keyring_files_and_text(tmp_path: pathlib.Path) -> None:
    k = relaykit.Keyring.generate()
    path = tmp_path / "key"
    k.write_file(path)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert relaykit.Keyring.from_file(path).key_ids == k.key_ids
    assert relaykit.Keyring.from_text(k.export()).key_ids == k.key_ids
    path.chmod(0o644)
    with pytest.raises(relaykit.CryptoError, match="refused"):
        relaykit.Keyring.from_file(str(path))
    env = k.encrypt(SECRET)
    assert k.reencrypt(env) != env
    with pytest.raises(relaykit.CryptoError, match="32 bytes"):
        k.add_key(b"short")


def test_keyring_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAYKIT_KEY", "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
    assert relaykit.Keyring.from_env().key_ids == ["k1"]


def test_rrt_context() -> None:
    ctx = relaykit.RrtContext({"USERNAME": "jdoe"})
    ctx.set("ACC", "Customer", "acme")
    ctx.set_protected("ACC", "invoice", SECRET)
    ctx.set_restricted("ACC", "pw", SECRET)
    assert ctx.expand("~WIN::USERNAME~@~ACC::%Customer%~") == "jdoe@acme"
    assert ctx.expand("~ACC::%@pw%~", field="password") == SECRET
    with pytest.raises(relaykit.RrtError, match="restricted") as info:
        ctx.expand("~ACC::%@pw%~", field="server")
    assert SECRET not in str(info.value)
    with pytest.raises(relaykit.RrtError, match=r"undefined tag ~ACC::%nope%~"):
        ctx.expand("~ACC::%nope%~")
    ctx.missing = "empty"
    assert ctx.missing == "empty" and ctx.expand("a~ACC::%nope%~b") == "ab"
    assert ctx.remove("ACC", "$invoice") is True and ctx.remove("ACC", "$invoice") is False
    with pytest.raises(ValueError):
        relaykit.RrtContext(missing="ignore")


def test_message_with_path_attachments(tmp_path: pathlib.Path) -> None:
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(b"%PDF-1.4 relaykit")
    logo = tmp_path / "logo.png"
    logo.write_bytes(b"\x89PNG....")
    ctx = relaykit.RrtContext({})
    ctx.set("ACC", "cust", "ACME")
    m = relaykit.Message(
        from_="Billing <billing@example.com>", to=["bob@example.com"], bcc=["audit@example.com"],
        subject="Invoice for ~ACC::%cust%~", text="Hello", html='<img src="cid:logo">',
        attachments=[relaykit.Attachment(path=pdf, content_type="application/pdf"),
                     relaykit.Attachment(filename="notes.txt", content_type="text/plain", data=b"n")],
        inline=[relaykit.Attachment(path=os.fspath(logo), content_type="image/png", content_id="logo")],
        headers={"X-Campaign": "q3"}, message_id="id-1@example.com")
    assert m.attachments[0].path == pdf and m.attachments[1].data == b"n"
    prepared = m.prepare(ctx)
    data = prepared.data.decode()
    assert prepared.recipients == ["bob@example.com", "audit@example.com"]
    assert prepared.envelope_from == "billing@example.com"
    assert prepared.message_id == "<id-1@example.com>"
    assert "Subject: Invoice for ACME\r\n" in data
    assert 'filename="report.pdf"' in data and "X-Campaign: q3\r\n" in data
    assert "audit@" not in data
    with pytest.raises(TypeError):
        relaykit.Attachment(data=b"x", path=pdf)
    as_json = prepared.to_dict()
    assert (as_json["envelope_from"], as_json["recipients"]) == (prepared.envelope_from, prepared.recipients)
    assert base64.b64decode(as_json["bytes_base64"]) == prepared.data


def test_message_headers_raw_json_and_injection() -> None:
    m = relaykit.Message("a@example.com", to=["b@example.com"], headers=[("X-A", "1"), ("X-A", "2")])
    assert m.headers == [("X-A", "1"), ("X-A", "2")]
    raw = relaykit.Message("a@example.com", to=["b@example.com"], raw=b"Subject: r\n\nbody\n")
    assert raw.prepare().data == b"Subject: r\r\n\r\nbody\r\n"
    j = relaykit.Message.from_json('{"from": "a@example.com", "to": "b@example.com", "subject": "s"}')
    assert j.to == ["b@example.com"] and j.from_ == "a@example.com"
    with pytest.raises(relaykit.ConfigError, match=r"message\.subject"):
        relaykit.Message("a@example.com", to=["b@example.com"], subject="x\r\nBcc: v@example.com").prepare()
    with pytest.raises(relaykit.ConfigError, match="^config: message: not valid JSON"):
        relaykit.Message.from_json("{")


def test_message_dsn_requiretls_and_list_unsubscribe_through_json() -> None:
    """The #16 fields go through the JSON form: headers written, validation naming the field."""
    j = relaykit.Message.from_json(
        '{"from": "a@example.com", "to": "b@example.com", "text": "x", "requiretls": true,'
        ' "dsn": {"ret": "hdrs", "envid": "e-1", "notify": ["success", "failure"]},'
        ' "list_unsubscribe": ["https://example.com/u", "mailto:u@example.com"], "list_unsubscribe_post": true}'
    )
    data = j.prepare().data
    assert b"\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in data
    assert b"<https://example.com/u>," in data and b"<mailto:u@example.com>" in data
    for extra, field in [
        ('"dsn": {"notify": ["never", "delay"]}', r"^config: message\.dsn\.notify: "),
        ('"dsn": {"envid": "a b\\u0001"}', r"^config: message\.dsn\.envid: "),
        ('"list_unsubscribe": "ftp://example.com/u"', r"^config: message\.list_unsubscribe\[0\]: "),
    ]:
        m = relaykit.Message.from_json('{"from": "a@example.com", "to": "b@example.com", "text": "x", ' + extra + "}")
        with pytest.raises(relaykit.ConfigError, match=field):
            m.prepare()

def test_reprs_hide_secrets() -> None:
    k = relaykit.Keyring()
    k.add_key(KEY, "k1")
    plain = relaykit.Profile("smtp.example.com", requires_authentication=True, username="u", password=SECRET)
    enc = relaykit.Profile("smtp.example.com", requires_authentication=True, username="u", password="x")
    enc.encrypt_password(SECRET, k)
    ctx = relaykit.RrtContext({"HOME": SECRET})
    ctx.set("ACC", "plain", SECRET)
    ctx.set_protected("ACC", "prot", SECRET)
    ctx.set_restricted("ACC", "rest", SECRET)
    att = relaykit.Attachment(filename="a.bin", data=SECRET.encode())
    for obj in (plain, enc, k, ctx, att):
        for text in (repr(obj), str(obj)):
            assert SECRET not in text, text
            assert k.export() not in text and "AAECAwQF" not in text, text
    assert "'********'" in repr(plain) and "~ACC::%$prot%~" in repr(ctx) and "k1" in repr(k)
    assert (enc.password or "") not in repr(enc)  # not even the envelope


def test_errors_never_show_secrets() -> None:
    k = relaykit.Keyring.from_text("k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
    env = k.encrypt(SECRET, profile_id="a")
    with pytest.raises(relaykit.CryptoError) as info:
        k.decrypt(env, profile_id="b")
    for text in (str(info.value), repr(info.value), info.value.message):
        assert SECRET not in text and "AAECAwQF" not in text
    with pytest.raises(relaykit.CryptoError) as info2:
        relaykit.Keyring.from_text(SECRET)
    assert SECRET not in str(info2.value)


def test_results_are_read_only_views_of_the_json() -> None:
    # The shape of a real report (test_servers.py checks real ones against the core's JSON).
    json = {"ok": True, "stages": [{"name": "dns", "ok": True, "ms": 0.5}], "server": None, "tls": None,
            "auth": {"mechanism": "PLAIN", "attempts": [{"mechanism": "PLAIN", "ok": True, "code": 235}]},
            "relay": {"from": "a@example.com", "to": "b@example.com", "ok": True, "reply": "250 ok"},
            "warnings": [], "error": None}
    r = relaykit.TestReport(json, "<the core's text>", None)
    assert r.to_dict() == json and r.to_dict() is not json and r.to_json() == "<the core's text>"
    assert isinstance(r.stages[0], relaykit.Stage) and r.stages[0].ms == 0.5 and r.warnings == ()
    assert r.auth is not None and isinstance(r.auth.attempts[0], relaykit.AuthAttempt)
    assert r.auth.attempts[0].message is None  # declared, and left out by the core: None
    assert r.relay is not None and r.relay.from_ == "a@example.com" and r.error is None
    with pytest.raises(AttributeError):
        r.nope  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        r.ok = False  # type: ignore[misc]
    assert r == relaykit.TestReport(json, "", None) and r.stages[0] != relaykit.Record(json["stages"][0])
    assert pickle.loads(pickle.dumps(r)) == r and copy.deepcopy(r) == r
    assert repr(r.stages[0]) == "Stage({'name': 'dns', 'ok': True, 'ms': 0.5})"
