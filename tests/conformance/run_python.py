#!/usr/bin/env python3
"""The Python runner of the conformance cases (tests/conformance/cases/*.json) against the real
servers, following tests/conformance/README.md, through the public API of the `relaykit`
package only. Run by bindings-python/run_tests.sh inside its venv:

    python tests/conformance/run_python.py [CASE_FILE ...]    (default: every file in cases/)

Prints one line per case (`ok`, `FAIL` with the path of the first mismatch, `skip` with the
reason) and exits non-zero if a case failed or none ran.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any, Optional

import relaykit

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
_VAR = re.compile(r"\$\{([^}]*)\}")
_MISSING = object()


class Missing(Exception):
    """A variable the case uses is not defined."""


def variables() -> dict[str, str]:
    """The environment first, then $RELAYKIT_STATE/servers.env (default tests/.state)."""
    state = Path(os.environ.get("RELAYKIT_STATE") or ROOT / "tests" / ".state")
    found: dict[str, str] = {}
    env_file = state / "servers.env"
    if env_file.is_file():
        for line in env_file.read_text(encoding="utf-8").splitlines():
            if line and not line.startswith("#") and "=" in line:
                key, value = line.split("=", 1)
                found[key.strip()] = value
    found.update(os.environ)
    return found


def substitute(value: Any, vars: dict[str, str]) -> Any:
    """`${NAME}` inside any string; a string that is exactly `#{NAME}` becomes NAME's value
    parsed as JSON."""
    if isinstance(value, str):
        if value.startswith("#{") and value.endswith("}"):
            name = value[2:-1]
            if name not in vars:
                raise Missing(name)
            return json.loads(vars[name])

        def one(m: re.Match[str]) -> str:
            if m.group(1) not in vars:
                raise Missing(m.group(1))
            return vars[m.group(1)]

        return _VAR.sub(one, value)
    if isinstance(value, list):
        return [substitute(v, vars) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, vars) for k, v in value.items()}
    return value


def with_base(profile: Any) -> Any:
    """A profile with `$base` is that object with the other keys laid over it."""
    if not isinstance(profile, dict) or "$base" not in profile:
        return profile
    base = profile["$base"]
    if not isinstance(base, dict):
        raise ValueError("$base is not an object")
    merged = dict(base)
    merged.update({k: v for k, v in profile.items() if k != "$base"})
    return merged


def _show(value: Any) -> str:
    return "nothing" if value is _MISSING else json.dumps(value, ensure_ascii=False)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def mismatch(pattern: Any, value: Any, path: str) -> Optional[str]:
    """None when `value` (`_MISSING`: absent) matches `pattern`, else the first mismatch."""
    def fail(why: str) -> str:
        return f"{path}: {why}; got {_show(value)}"

    if pattern is None:
        return None if value is _MISSING or value is None else fail("expected null or absent")
    if isinstance(pattern, dict) and len(pattern) == 1 and next(iter(pattern)).startswith("$"):
        op, arg = next(iter(pattern.items()))
        if op == "$any" and value is not _MISSING and value is not None:
            return None
        if op == "$contains" and isinstance(value, str) and isinstance(arg, str) and arg in value:
            return None
        if op == "$has" and isinstance(value, list):
            for i, want in enumerate(arg if isinstance(arg, list) else []):
                if not any(mismatch(want, item, path) is None for item in value):
                    return fail(f"no element matches {op}[{i}] = {json.dumps(want)}")
            return None
        return fail(f"expected {op} {json.dumps(arg)}")
    if isinstance(pattern, dict):
        if not isinstance(value, dict):
            return fail("expected an object")
        for key, want in pattern.items():
            why = mismatch(want, value.get(key, _MISSING), f"{path}.{key}")
            if why:
                return why
        return None
    if isinstance(pattern, list):
        if not isinstance(value, list):
            return fail("expected an array")
        if len(value) != len(pattern):
            return fail(f"expected {len(pattern)} elements")
        for i, (want, got) in enumerate(zip(pattern, value)):
            why = mismatch(want, got, f"{path}[{i}]")
            if why:
                return why
        return None
    if _is_number(pattern):
        return None if _is_number(value) and value == pattern else fail(f"expected {json.dumps(pattern)}")
    if isinstance(pattern, bool):
        return None if isinstance(value, bool) and value is pattern else fail(f"expected {json.dumps(pattern)}")
    return None if value == pattern and type(value) is type(pattern) else fail(f"expected {json.dumps(pattern)}")


def error_outcome(e: relaykit.RelayKitError) -> dict[str, Any]:
    return {"status": "error", "error": e.to_dict()}


def run_case(case: dict[str, Any]) -> dict[str, Any]:
    """The outcome object of README's table, from the public API."""
    try:
        profile = relaykit.Profile.from_dict(with_base(case["profile"]))
    except relaykit.RelayKitError as e:
        return error_outcome(e)
    keyring = relaykit.Keyring.from_text(case["keyring"]) if "keyring" in case else relaykit.Keyring()
    context = relaykit.RrtContext()
    rrt = case.get("rrt") or {}
    try:
        for method in ("set", "set_protected", "set_restricted"):
            entries = rrt.get(method) or []
            # [[id, name, value], ...] as the cases write it; {"ID::NAME": value} also works.
            triples = ([(*k.split("::", 1), v) for k, v in entries.items()] if isinstance(entries, dict)
                       else [tuple(t) for t in entries])
            for id_, name, value in triples:
                getattr(context, method)(id_, name, value)
    except relaykit.RelayKitError as e:
        return error_outcome(e)
    options = dict(case.get("options") or {})
    action = case.get("action")
    try:
        if action == "test":
            report = relaykit.test(profile, keyring=keyring, context=context, **options)
            return {"status": "ok", "report": report.to_dict()}
        if action == "send":
            message = relaykit.Message.from_json(json.dumps(case.get("message")))
            result = relaykit.send(profile, message, keyring=keyring, context=context, **options)
            return {"status": "ok", "result": result.to_dict()}
    except relaykit.RelayKitError as e:
        return error_outcome(e)
    raise ValueError(f"unknown action {action!r}")


def main(argv: list[str]) -> int:
    vars = variables()
    roles = set(vars.get("RK_ROLES", "").split())
    files = [Path(a) for a in argv] or sorted((HERE / "cases").glob("*.json"))
    passed = failed = skipped = 0
    for path in files:
        doc = json.loads(path.read_text(encoding="utf-8"))
        for group in doc["testGroups"]:
            role = group["role"]
            family = role.split("-", 1)[0]
            for raw in group["tests"]:
                ident = f"{path.name} #{raw.get('tcId')} [{role}] {raw.get('comment', '')}"
                if family not in roles:
                    print(f"skip {ident}: role family `{family}` not in RK_ROLES")
                    skipped += 1
                    continue
                absent = [v for v in raw.get("requires", []) if v not in vars]
                if absent:
                    print(f"skip {ident}: {absent[0]} is not set")
                    skipped += 1
                    continue
                try:
                    case = substitute(raw, vars)
                except Missing as m:
                    print(f"skip {ident}: variable {m} is not defined")
                    skipped += 1
                    continue
                try:
                    outcome = run_case(case)
                    why = mismatch(case["expect"], outcome, "$")
                    if why:
                        why += f"\n     outcome: {json.dumps(outcome, ensure_ascii=False)}"
                except Exception as e:  # noqa: BLE001 - a runner error fails the case, not the run
                    why = f"{type(e).__name__}: {e}"
                if why:
                    print(f"FAIL {ident}: {why}")
                    failed += 1
                else:
                    print(f"ok   {ident}")
                    passed += 1
    print(f"\nconformance (python): {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
