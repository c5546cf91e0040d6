"""Canonical JSON: the one byte encoding of audit leaves and signed documents.

The encoding is the JSON Canonicalization Scheme (JCS, RFC 8785) restricted to the values
that JCS and every JSON implementation agree on, so that any implementation reproduces the
exact bytes (docs/adr/0001):

- objects with string keys, sorted by their UTF-16 code units (JCS 3.2.3); arrays; strings
  of Unicode scalar values (no lone surrogates), UTF-8, escaped as JCS 3.2.2.2 says;
  true, false, null; no insignificant whitespace;
- integers in ±(2^53 - 1) only: JCS writes numbers as IEEE doubles, which hold every integer
  in that range exactly and no other range;
- no floating-point numbers (their shortest text differs between languages).

Anything else is refused with a `TypeError` naming the first offending place ("$.a[1]").

orjson writes these bytes three to four times faster than the standard library, which
matters on every audit leaf, whenever the text holds no character beyond U+FFFF: orjson
sorts keys by code point, which is UTF-16 order inside the Basic Multilingual Plane. Its
53-bit integer mode refuses what JCS cannot represent. Text with a character beyond U+FFFF
(a 4-byte UTF-8 sequence, lead byte 0xF0-0xF4), and nesting deeper than orjson allows, go to
`_encode`, written from the definition. tests/test_canonical.py holds both to rfc8785, an
outside JCS implementation.
"""

from __future__ import annotations

import json
from typing import Any, Final

import orjson

_SCALARS = frozenset((str, int, bool, type(None)))
MAX_INTEGER: Final = 2**53 - 1
_OPTIONS: Final = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER
# Maps the lead bytes of 4-byte UTF-8 sequences (characters beyond U+FFFF) to _ASTRAL.
_ASTRAL: Final = b"\xf0"
_LEADS: Final = bytes.maketrans(b"\xf1\xf2\xf3\xf4", b"\xf0\xf0\xf0\xf0")


def _allowed(value: Any) -> bool:
    """True if `value` holds only JSON types with string keys (its integers and strings are
    checked by orjson, or by `_refusal`).

    Exact type checks: this runs on every audit leaf, and ABC checks dominate its cost. No
    path is built here; `_refusal` finds it, only for a value that is refused. Plain loops
    rather than all() over a generator, which costs a frame per call.
    """
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
            if (why := _refusal(k, f"{path} key {k!r}")) is not None:
                return why
            if (why := _refusal(v, f"{path}.{k}")) is not None:
                return why
    elif kind is list or kind is tuple:
        for i, v in enumerate(value):
            if (why := _refusal(v, f"{path}[{i}]")) is not None:
                return why
    elif kind is float:
        return f"{path}: floats are not allowed in canonical JSON; use an int or string"
    elif kind is int and not -MAX_INTEGER <= value <= MAX_INTEGER:
        return (
            f"{path}: integers beyond 2^53 - 1 in magnitude are not allowed in canonical JSON "
            "(JCS numbers are IEEE doubles); use a string"
        )
    elif kind is str:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return f"{path}: a lone surrogate is not a Unicode character; JSON text cannot hold it"
    elif kind not in _SCALARS:
        return f"{path}: {kind.__name__} has no canonical JSON form"
    return None


def _utf16(key: str) -> bytes:
    return key.encode("utf-16-be")


def _encode(value: Any, out: list[str]) -> None:
    """The canonical text of an accepted value (`_refusal` found nothing), by the definition."""
    kind = type(value)
    if kind is dict:
        out.append("{")
        for i, k in enumerate(sorted(value, key=_utf16)):
            if i:
                out.append(",")
            out.append(json.dumps(k, ensure_ascii=False))
            out.append(":")
            _encode(value[k], out)
        out.append("}")
    elif kind is list or kind is tuple:
        out.append("[")
        for i, v in enumerate(value):
            if i:
                out.append(",")
            _encode(v, out)
        out.append("]")
    else:
        out.append(json.dumps(value, ensure_ascii=False))


def canonical_json(value: Any) -> bytes:
    """The canonical bytes of `value`; `TypeError` naming the place if it has none."""
    if _allowed(value):
        try:
            text = orjson.dumps(value, option=_OPTIONS)
        except orjson.JSONEncodeError:
            pass  # an integer out of range, a lone surrogate, or nesting orjson refuses
        else:
            if text.isascii() or _ASTRAL not in text.translate(_LEADS):
                return text
    if (why := _refusal(value, "$")) is not None:
        raise TypeError(why)
    out: list[str] = []
    _encode(value, out)
    return "".join(out).encode("utf-8")
