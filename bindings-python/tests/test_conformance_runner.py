"""The pattern rules of tests/conformance/README.md as the Python runner implements them (the
runner itself runs over the real cases in run_tests.sh)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

_PATH = Path(__file__).resolve().parents[2] / "tests" / "conformance" / "run_python.py"
_spec = importlib.util.spec_from_file_location("run_python", _PATH)
assert _spec is not None and _spec.loader is not None
runner: Any = importlib.util.module_from_spec(_spec)
sys.modules["run_python"] = runner
_spec.loader.exec_module(runner)


@pytest.mark.parametrize(("pattern", "value", "ok"), [
    ({"a": 1}, {"a": 1.0, "b": 2}, True),        # extra keys are fine; numbers by value
    ({"a": None}, {}, True),                      # null matches absent...
    ({"a": None}, {"a": None}, True),             # ...and null
    ({"a": None}, {"a": 0}, False),
    ({"a": 1}, {"a": True}, False),               # a boolean is not a number
    ({"a": True}, {"a": 1}, False),
    ([1, 2], [1, 2, 3], False),                   # arrays: same length
    ([{"x": 1}], [{"x": 1, "y": 2}], True),
    ({"$contains": "535"}, "auth 535 failed", True),
    ({"$contains": "535"}, 535, False),
    ({"$any": True}, 0, True),
    ({"$any": True}, None, False),
    ({"$has": [{"name": "tls"}, "b"]}, [{"name": "tls", "ok": True}, "b", "c"], True),
    ({"$has": ["z"]}, ["a"], False),
    ("x", "x", True),
    ("1", 1, False),
])
def test_matching(pattern: Any, value: Any, ok: bool) -> None:
    assert (runner.mismatch(pattern, value, "$") is None) is ok


def test_mismatch_names_the_path() -> None:
    why = runner.mismatch({"report": {"auth": {"attempts": [{"code": 535}]}}},
                          {"report": {"auth": {"attempts": [{"code": 334}]}}}, "$")
    assert why.startswith("$.report.auth.attempts[0].code: expected 535; got 334")
    assert runner.mismatch({"error": {"kind": "tls"}}, {}, "$") == "$.error: expected an object; got nothing"


def test_variables_and_base() -> None:
    vars = {"H": "127.0.0.1", "P": "2525", "B": '{"server": "x", "port": 1}'}
    case = runner.substitute({"profile": {"$base": "#{B}", "port": "#{P}", "username": "a@${H}:${P}"}}, vars)
    assert runner.with_base(case["profile"]) == {"server": "x", "port": 2525, "username": "a@127.0.0.1:2525"}
    with pytest.raises(runner.Missing, match="NOPE"):
        runner.substitute(["${NOPE}"], vars)
