"""Runs the shared conformance vectors (tests/conformance/vectors/*.json) through the Python
binding. The Rust, C and Node runners read the same files."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any, Callable

import pytest

import relaykit
from relaykit import _native

VECTORS = Path(__file__).resolve().parents[2] / "tests" / "conformance" / "vectors"


def load(name: str) -> list[dict[str, Any]]:
    tests: list[dict[str, Any]] = json.loads((VECTORS / name).read_text(encoding="utf-8"))["tests"]
    return tests


def check_error(t: dict[str, Any], err: relaykit.RelayKitError) -> None:
    exp = t["expected"]
    assert err.kind == exp["kind"], f"{t['id']}: {err}"
    # The core's message (without the server's reply) is what the vectors describe.
    if "path" in exp:
        assert err.message.startswith(exp["path"] + ": "), f"{t['id']}: {err.message!r}"
    for word in exp.get("message_contains", []):
        assert word in err.message, f"{t['id']}: {err.message!r} should contain {word!r}"


def test_vector_files_are_all_run() -> None:
    assert sorted(p.name for p in VECTORS.glob("*.json")) == ["profile.json", "rrt.json", "rules.json", "secret.json"]


@pytest.mark.parametrize("t", load("profile.json"), ids=lambda t: t["id"])
def test_profile(t: dict[str, Any]) -> None:
    text = t["input_text"] if "input_text" in t else json.dumps(t["input"])
    exp = t["expected"]
    if exp["result"] == "valid":
        p = relaykit.Profile.from_json(text)
        assert p.effective_port == exp["effective_port"]
        if "json" in exp:
            assert p.to_dict() == exp["json"]
        again = relaykit.Profile.from_json(p.to_json())
        assert again == p
        # Keyword construction reads the same keys as JSON.
        if "input" in t and isinstance(t["input"], dict):
            assert relaykit.Profile(**t["input"]) == p
    else:
        assert exp["result"] == "invalid"
        with pytest.raises(relaykit.RelayKitError) as info:
            relaykit.Profile.from_json(text)
        check_error(t, info.value)


@pytest.mark.parametrize("t", load("rrt.json"), ids=lambda t: t["id"])
def test_rrt(t: dict[str, Any]) -> None:
    inp = t["input"]
    ctx = relaykit.RrtContext(inp.get("env", {}), missing=inp.get("missing", "error"))
    setters = {"plain": ctx.set, "protected": ctx.set_protected, "restricted": ctx.set_restricted}
    for v in inp.get("values", []):
        setters[v["kind"]](v["id"], v["name"], v["value"])
    exp = t["expected"]
    if exp["result"] == "ok":
        assert ctx.expand(inp["value"], inp["field"]) == exp["value"]
    else:
        with pytest.raises(relaykit.RelayKitError) as info:
            ctx.expand(inp["value"], inp["field"])
        check_error(t, info.value)


@pytest.mark.parametrize("t", load("secret.json"), ids=lambda t: t["id"])
def test_secret(t: dict[str, Any]) -> None:
    exp = t["expected"]
    field = t.get("field") or "password"
    pid = t.get("profile_id")

    def run() -> dict[str, Any]:
        k = relaykit.Keyring.from_text(t["keys"]) if t["keys"] else relaykit.Keyring()
        action = t["action"]
        if action == "encrypt":
            nonce = bytes.fromhex(t["nonce"])
            return {"envelope": _native._encrypt_with_nonce(k, t["plaintext"], field, pid, nonce)}
        if action == "decrypt":
            return {"plaintext": k.decrypt(t["envelope"], field, pid)}
        assert action == "load_keys", action
        return {"key_ids": k.key_ids, "newest": k.newest_key_id}

    if exp["result"] == "ok":
        got = run()
        for key, want in exp.items():
            if key == "result":
                continue
            if key == "key_ids_count":
                assert len(got["key_ids"]) == want
            else:
                assert got[key] == want, key
    else:
        with pytest.raises(relaykit.CryptoError) as info:
            run()
        check_error(t, info.value)


def run_rule(t: dict[str, Any]) -> dict[str, Any]:
    """A rules.json action through the Python API: keyword construction and property setters,
    Message and Attachment, Message.prepare. Returns what `expected` may check."""
    action = t["action"]
    if action in ("set_ntlm_current_user", "set_port"):
        p = relaykit.Profile(**t["profile"])
        if action == "set_ntlm_current_user":
            p.use_ntlm_current_user = True
        else:
            p.port = t["value"]
        return {"profile": p}
    if action == "profile_json":
        return {"profile": relaykit.Profile.from_json(json.dumps(t["profile"]))}
    if action == "raw_message":
        ctx = relaykit.RrtContext()
        for id_, name, value in t["rrt"]:
            ctx.set(id_, name, value)
        raw = relaykit.Message(t["envelope_from"], to=t["to"], raw=t["raw"].encode())
        return {"prepared": raw.prepare(ctx)}
    if action == "attachment_default_type":
        part = relaykit.Attachment(filename=t["filename"], data=base64.b64decode(t["content_base64"]))
        built = relaykit.Message(t["from"], to=[t["to"]], text=t["text"], attachments=[part])
        return {"prepared": built.prepare()}
    raise AssertionError(f"{t['id']}: unknown action {action!r}")


def _valid(p: relaykit.Profile) -> bool:
    try:
        p.validate()
    except relaykit.ConfigError:
        return False
    return True


# What each key of a rules.json `expected` reads from the outcome; an unknown key fails.
RULE_CHECKS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "requires_authentication": lambda o: o["profile"].requires_authentication,
    "valid": lambda o: _valid(o["profile"]),
    "effective_port": lambda o: o["profile"].effective_port,
    "envelope_from": lambda o: o["prepared"].envelope_from,
    "recipients": lambda o: o["prepared"].recipients,
}


@pytest.mark.parametrize("t", load("rules.json"), ids=lambda t: t["id"])
def test_rules(t: dict[str, Any]) -> None:
    exp = t["expected"]
    if "error" in exp:
        with pytest.raises(relaykit.RelayKitError) as info:
            run_rule(t)
        assert (info.value.kind, info.value.message) == (exp["error"]["kind"], exp["error"]["message"]), t["id"]
        return
    outcome = run_rule(t)
    for key, want in exp.items():
        if key in ("bytes_contain", "bytes_lack"):
            data = outcome["prepared"].data.decode()
            assert (want in data) is (key == "bytes_contain"), f"{t['id']}: {key} {want!r} in {data!r}"
        else:
            assert key in RULE_CHECKS, f"{t['id']}: unknown expectation {key!r}"
            assert RULE_CHECKS[key](outcome) == want, f"{t['id']}: {key}"


def test_an_unknown_rule_action_fails() -> None:
    with pytest.raises(AssertionError, match="unknown action"):
        run_rule({"id": "x", "action": "nope"})
