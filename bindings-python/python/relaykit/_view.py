"""Typed, read-only attribute access over a JSON object the core made (a report, a result, an
error), without restating it: the values are the core's JSON exactly as the native module
handed it over, and ``to_dict()`` returns that JSON.

Attribute names are the JSON's keys (``from`` is ``from_``, a Python keyword). A class deriving
from :class:`View` declares its keys with their types for type checkers; those annotations also
say which class a nested object is shown as (an array is a tuple), and that a declared key the
core left out (§8 leaves out a key that has no value) reads as ``None``.
"""

from __future__ import annotations

import copy
import functools
import keyword
import typing
from typing import TYPE_CHECKING, Any, NoReturn, Union


@functools.lru_cache(maxsize=None)
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _shown(hint: Any, value: Any) -> Any:
    """A JSON value as its declared type shows it: an object as that View class (else Record),
    an array as a tuple of its items shown likewise, anything else as it is."""
    if typing.get_origin(hint) is Union:  # Optional[X]
        hint = next((a for a in typing.get_args(hint) if a is not type(None)), Any)
    if isinstance(value, dict):
        return (hint if isinstance(hint, type) and issubclass(hint, Record) else Record)(value)
    if isinstance(value, list):
        item = next(iter(typing.get_args(hint)), Any)
        return tuple(_shown(item, v) for v in value)
    return value


class View:
    """The attribute access and ``to_dict()`` of a JSON object held in ``_json``."""

    __slots__ = ()
    _json: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """The core's JSON form, as plain Python objects (a copy)."""
        return copy.deepcopy(self._json)

    if not TYPE_CHECKING:  # type checkers see only the declared keys

        def __getattr__(self, name: str) -> Any:
            if name.startswith("_"):
                raise AttributeError(name)
            key = name[:-1] if name.endswith("_") and keyword.iskeyword(name[:-1]) else name
            hints = _hints(type(self))
            if key in self._json:
                return _shown(hints.get(name, Any), self._json[key])
            if name in hints:
                return None
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


class Record(View):
    """A read-only view of one JSON object; equal to another of its class with equal JSON."""

    __slots__ = ("_json",)

    def __init__(self, json: dict[str, Any]) -> None:
        object.__setattr__(self, "_json", json)

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError(f"{type(self).__name__} is read-only")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"{type(self).__name__} is read-only")

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and isinstance(other, Record) and self._json == other._json

    __hash__ = None  # type: ignore[assignment]  # the JSON is a dict

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._json!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self._json,))
