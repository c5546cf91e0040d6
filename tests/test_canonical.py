"""canonical_json is JCS (RFC 8785) on the values it accepts, and refuses the rest by name.

rfc8785 (an outside implementation of the RFC) is the oracle. The bytes of every value the
system produced before the encoding was named JCS are unchanged: for text within the Basic
Multilingual Plane and integers within ±(2^53 - 1), the old definition (the standard
library's json with sorted keys) and JCS agree, which the second property holds it to.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import uuid
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.protocol.audit_entry import commit_value
from gateway.protocol.canonical import MAX_INTEGER, canonical_json
from gateway.protocol.model import Filter, InvalidQuery, Op, time_text
from gerbang.v1 import common_pb2


def old_definition(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def values(text: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(min_value=-MAX_INTEGER, max_value=MAX_INTEGER)
        | st.sampled_from([MAX_INTEGER, -MAX_INTEGER, 0, 2**31, 2**32])
        | text
    )
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner) | st.tuples(inner, inner) | st.dictionaries(text, inner),
        max_leaves=40,
    )


# Every Unicode scalar value (no surrogates), and the Basic Multilingual Plane only.
TEXT = st.text(alphabet=st.characters(codec="utf-8"))
BMP_TEXT = st.text(alphabet=st.characters(codec="utf-8", max_codepoint=0xFFFF))
# Keys that differ in UTF-16 and in code-point order: U+E000-U+FFFF against U+10000 up.
ORDER_TEXT = st.text(alphabet=st.sampled_from("a\ue000\uffff\U00010000\U0001f600\U0010ffff"))


@settings(max_examples=500)
@given(values(TEXT) | values(ORDER_TEXT))
def test_same_bytes_as_rfc8785(value: Any) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)


@settings(max_examples=300)
@given(values(BMP_TEXT))
def test_same_bytes_as_before_within_the_basic_multilingual_plane(value: Any) -> None:
    assert canonical_json(value) == old_definition(value)


def test_keys_sort_by_utf16_code_units() -> None:
    # U+1F600 is D83D DE00 in UTF-16, before U+FFFF; by code point it comes after.
    value: Any = {"\uffff": 1, "\U0001f600": 2, "a": {"\U0001f600": 3, "\ue000": 4}}
    expected = '{"a":{"\U0001f600":3,"\ue000":4},"\U0001f600":2,"\uffff":1}'.encode()
    assert canonical_json(value) == expected == rfc8785.dumps(value)


@pytest.mark.parametrize(
    "text",
    [
        "\x00\x01\x1f\x7f",
        '"\\/',
        "\b\f\n\r\t",
        "\u2028\u2029\ud7ff\ue000\uffff\U0001f600\U0010ffff",
    ],
)
def test_escapes_as_rfc8785(text: str) -> None:
    assert canonical_json({text: [text]}) == rfc8785.dumps({text: [text]})


def test_nesting_beyond_orjson_limit_is_encoded_as_defined() -> None:
    value: Any = {"\U0001f600": 1, "\uffff": 2}
    for _ in range(300):
        value = [value]
    assert canonical_json(value) == rfc8785.dumps(value)


@pytest.mark.parametrize("number", [MAX_INTEGER, -MAX_INTEGER])
def test_the_largest_integers_are_encoded(number: int) -> None:
    assert canonical_json({"n": number}) == rfc8785.dumps({"n": number})


@pytest.mark.parametrize("number", [MAX_INTEGER + 1, -MAX_INTEGER - 1, 2**64, -(2**100)])
def test_integers_beyond_2_53_are_refused(number: int) -> None:
    with pytest.raises(TypeError, match=r"\$\.a\[0\]: integers beyond 2\^53 - 1 in magnitude"):
        canonical_json({"a": [number]})
    with pytest.raises(rfc8785.IntegerDomainError):
        rfc8785.dumps({"a": [number]})  # the oracle cannot represent them either


@pytest.mark.parametrize(
    "value", [{"a": "\ud800"}, {"a": ["x", "\udfff"]}, {"\ud800": 1}, {"\U0001f600": "\ud800"}]
)
def test_lone_surrogate_is_refused(value: Any) -> None:
    with pytest.raises(TypeError, match="lone surrogate"):
        canonical_json(value)


@pytest.mark.parametrize("number", [MAX_INTEGER + 1, -MAX_INTEGER - 1, 2**63 - 1])
def test_a_filter_value_canonical_json_cannot_hold_is_an_invalid_query(number: int) -> None:
    # Filter values are signed (evidence) and committed (audit entry) in canonical JSON, so
    # the query refuses them where it is decoded, with a typed error the pipeline audits.
    wire = common_pb2.Filter(
        field="incident_id", op=common_pb2.OPERATOR_EQ, values=[common_pb2.Value(int_value=number)]
    )
    with pytest.raises(InvalidQuery, match=r"within \+/-\(2\^53 - 1\)"):
        Filter.from_proto(wire)
    with pytest.raises(InvalidQuery, match=r"within \+/-\(2\^53 - 1\)"):
        Filter("incident_id", Op.IN, (1, number))


def test_the_largest_filter_value_is_committed() -> None:
    value = Filter("incident_id", Op.EQ, (MAX_INTEGER,)).values[0]
    assert len(commit_value(b"k" * 32, "incident_id", value)) == 64


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
