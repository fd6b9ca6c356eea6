"""The exception classes: one per kind of §7, their hierarchy and attributes."""

from __future__ import annotations

import pickle

import pytest

import relaykit
from relaykit import _native, errors

KINDS = [
    "config", "rrt", "crypto", "dns", "connect", "timeout", "tls", "protocol", "auth_unsupported",
    "auth_failed", "sender_rejected", "recipient_rejected", "message_rejected", "io", "internal",
]


def test_every_core_kind_maps_to_its_own_class() -> None:
    mapping = _native._error_classes()
    assert [k for k, _ in mapping] == KINDS  # the core's ErrorKind::ALL, in §7 order
    classes = [getattr(errors, name) for _, name in mapping]
    assert len(set(classes)) == len(classes)
    for (kind, _), cls in zip(mapping, classes):
        assert issubclass(cls, relaykit.RelayKitError)
        assert cls.kind == kind
        assert getattr(relaykit, cls.__name__) is cls
    assert set(errors.__all__) == {c.__name__ for c in classes} | {"RelayKitError"}


def test_builtin_bases() -> None:
    assert issubclass(relaykit.ConfigError, ValueError)
    assert issubclass(relaykit.SmtpTimeoutError, TimeoutError)
    assert issubclass(relaykit.RelayKitIOError, OSError)
    assert not issubclass(relaykit.CryptoError, ValueError)


def test_config_error_from_the_core() -> None:
    with pytest.raises(ValueError) as info:
        relaykit.Profile("smtp.example.com", port=70000)
    e = info.value
    assert isinstance(e, relaykit.ConfigError)
    assert e.kind == "config"
    assert e.message == "$.port: 70000 is out of range: a port is 1 to 65535 (leave it unset for the default)"
    assert str(e) == "config: " + e.message
    assert e.stage is None and e.code is None and e.enhanced_code is None and e.hint is None
    # The attributes are read from the core's JSON of the error, which to_dict() returns as it is.
    assert e.to_dict() == {"kind": "config", "message": e.message, "transient": False, "fate": "rejected"}
    assert (e.transient, e.fate, e.attempts) == (False, "rejected", None)
    with pytest.raises(AttributeError):
        e.nope  # type: ignore[attr-defined]  # a key the JSON does not have and no class declares


def test_io_error_is_an_oserror(tmp_path: object) -> None:
    m = relaykit.Message("a@example.com", to=["b@example.com"], text="hi",
                         attachments=[relaykit.Attachment(path="/nonexistent/relaykit-file.pdf")])
    with pytest.raises(OSError) as info:
        m.prepare(relaykit.RrtContext({}))
    assert isinstance(info.value, relaykit.RelayKitIOError)
    assert info.value.kind == "io"
    assert "relaykit-file.pdf" in info.value.message


def test_attributes_and_pickle() -> None:
    json = {"kind": "auth_failed", "stage": "auth", "code": 535, "enhanced_code": "5.7.8",
            "message": "PLAIN rejected: server replied 535 5.7.8 bad", "hint": "check the password"}
    e = relaykit.AuthFailedError("auth_failed at auth: PLAIN rejected", json)
    assert (e.kind, e.stage, e.code, e.enhanced_code, e.hint) == ("auth_failed", "auth", 535, "5.7.8",
                                                                  "check the password")
    assert e.message == json["message"] and e.to_dict() == json and e.to_dict() is not e.to_dict()
    again = pickle.loads(pickle.dumps(e))
    assert type(again) is relaykit.AuthFailedError
    assert (str(again), again.to_dict()) == (str(e), json)
    t = relaykit.SmtpTimeoutError("timeout at connect: no answer in 30 s",
                                  {"kind": "timeout", "stage": "connect", "message": "no answer in 30 s"})
    assert isinstance(t, TimeoutError) and t.stage == "connect" and t.code is None


def test_every_class_constructs() -> None:
    for name in errors.__all__:
        cls = getattr(errors, name)
        e = cls("x", {"kind": cls.kind, "message": "x", "code": 1})
        assert str(e) == "x" and e.code == 1 and e.message == "x"
