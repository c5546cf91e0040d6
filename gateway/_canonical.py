"""Canonical JSON: the one byte encoding of audit leaves and signed documents.

Keys sorted, no insignificant whitespace, UTF-8, and no floating-point numbers
(their shortest text differs between languages), so any implementation that
follows these rules reproduces the exact bytes. See docs/adr/0001.

The standard library's `json` is the definition. orjson writes the same bytes
for the values allowed here (tests/test_canonical.py holds it to that) three
to four times faster, which matters on every audit leaf; what orjson refuses
(integers beyond 64 bits, lone surrogates) goes to the definition, which then
encodes or refuses it as it always has.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_SCALARS = frozenset((str, int, bool, type(None)))


def _allowed(value: Any) -> bool:
    # Exact type checks: this runs on every audit leaf, and ABC checks dominate its cost.
    # No path is built here; `_refusal` finds it, only for a value that is refused. Plain
    # loops rather than all() over a generator, which costs a frame per call.
    kind = type(value)
    if kind is dict:
        for k in value:
            if type(k) is not str:
                return False
        for v in value.values():  # noqa: SIM110
            if type(v) not in _SCALARS and not _allowed(v):
                return False
        return True
    if kind is list or kind is tuple:
        for v in value:  # noqa: SIM110
            if type(v) not in _SCALARS and not _allowed(v):
                return False
        return True
    return kind in _SCALARS


def _refusal(value: Any, path: str) -> str | None:
    """Why `value` has no canonical form, naming the first offending place; None if it has."""
    kind = type(value)
    if kind is dict:
        for k, v in value.items():
            if type(k) is not str:
                return f"{path}: object keys must be strings"
            if (why := _refusal(v, f"{path}.{k}")) is not None:
                return why
    elif kind is list or kind is tuple:
        for i, v in enumerate(value):
            if (why := _refusal(v, f"{path}[{i}]")) is not None:
                return why
    elif kind is float:
        return f"{path}: floats are not allowed in canonical JSON; use an int or string"
    elif kind not in _SCALARS:
        return f"{path}: {kind.__name__} has no canonical JSON form"
    return None


def canonical_json(value: Any) -> bytes:
    if not _allowed(value):
        raise TypeError(_refusal(value, "$") or "$: no canonical JSON form")
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        return json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        ).encode("utf-8")
