"""Canonical JSON: the one byte encoding of audit leaves and signed documents.

Keys sorted, no insignificant whitespace, UTF-8, and no floating-point numbers
(their shortest text differs between languages), so any implementation that
follows these rules reproduces the exact bytes. See docs/adr/0001.
"""

from __future__ import annotations

import json
from typing import Any

_SCALARS = (str, int, bool, type(None))


def _check(value: Any, path: str) -> None:
    # Exact type checks: this runs on every audit leaf, and ABC checks dominate its cost.
    kind = type(value)
    if kind is dict:
        for k, v in value.items():
            if type(k) is not str:
                raise TypeError(f"{path}: object keys must be strings")
            if type(v) not in _SCALARS:
                _check(v, f"{path}.{k}")
    elif kind is list or kind is tuple:
        for i, v in enumerate(value):
            if type(v) not in _SCALARS:
                _check(v, f"{path}[{i}]")
    elif kind is float:
        raise TypeError(f"{path}: floats are not allowed in canonical JSON; use an int or string")
    elif kind not in _SCALARS:
        raise TypeError(f"{path}: {kind.__name__} has no canonical JSON form")


def canonical_json(value: Any) -> bytes:
    _check(value, "$")
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")
