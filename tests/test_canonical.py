"""canonical_json writes exactly what its definition (the standard library's json) writes.

The fast path (orjson) must never change a leaf's bytes: every published vector and
every stored entry hash depends on them. Values are drawn from everything canonical
JSON allows, including the integers and strings where the two libraries' limits lie.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway._canonical import canonical_json
from gateway.model import time_text


def definition(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


TEXT = st.text(alphabet=st.characters(codec="utf-8"))
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.integers()  # beyond 64 bits: orjson refuses, the definition encodes
    | TEXT
)
VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner) | st.dictionaries(TEXT, inner), max_leaves=40
)


@settings(max_examples=500)
@given(VALUES)
def test_same_bytes_as_the_definition(value: Any) -> None:
    assert canonical_json(value) == definition(value)


@pytest.mark.parametrize(
    "text",
    [
        "\x00\x01\x1f\x7f",
        '"\\/',
        "\b\f\n\r\t",
        "\u2028\u2029\ud7ff\ue000\uffff\U0001f600\U0010ffff",
    ],
)
def test_escapes_as_the_definition(text: str) -> None:
    assert canonical_json({text: [text]}) == definition({text: [text]})


def test_nesting_beyond_orjson_limit_is_encoded_as_defined() -> None:
    value: Any = 1
    for _ in range(300):
        value = [value]
    assert canonical_json(value) == definition(value)


def test_lone_surrogate_is_refused() -> None:
    with pytest.raises(UnicodeEncodeError):
        canonical_json({"a": "\ud800"})


class Colour(enum.Enum):
    RED = "red"


class Name(str):
    pass


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"a": [1, 1.5]}, r"\$\.a\[1\]: floats are not allowed"),
        ({"a": Colour.RED}, r"\$\.a: Colour has no canonical JSON form"),
        ({"a": uuid.UUID(int=0)}, r"\$\.a: UUID has no canonical JSON form"),
        ({"a": Name("x")}, r"\$\.a: Name has no canonical JSON form"),
        ({1: "a"}, r"\$: object keys must be strings"),
        ({"a": {"b": (b"x",)}}, r"\$\.a\.b\[0\]: bytes has no canonical JSON form"),
    ],
)
def test_refuses_what_has_no_canonical_form(value: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        canonical_json(value)


@given(st.datetimes(timezones=st.just(dt.UTC)))
def test_time_text_is_strftimes_form(t: dt.datetime) -> None:
    assert time_text(t) == t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
