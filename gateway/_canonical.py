"""Canonical JSON: the one byte encoding of audit leaves and signed documents.

Keys sorted, no insignificant whitespace, UTF-8, and no floating-point numbers
(their shortest text differs between languages), so any implementation that
follows these rules reproduces the exact bytes. See docs/adr/0001.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any


def _check(value: Any, path: str) -> None:
    if isinstance(value, float):
        raise TypeError(f"{path}: floats are not allowed in canonical JSON; use an int or string")
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{path}: object keys must be strings")
            _check(v, f"{path}.{k}")
    elif isinstance(value, Sequence) and not isinstance(value, str | bytes):
        for i, v in enumerate(value):
            _check(v, f"{path}[{i}]")
    elif not isinstance(value, str | int | bool | None):
        raise TypeError(f"{path}: {type(value).__name__} has no canonical JSON form")


def canonical_json(value: Any) -> bytes:
    _check(value, "$")
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")
