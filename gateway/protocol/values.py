"""The values a request and a result carry: scalars, UTC times, and their wire forms (pure).

A filter value or a result cell is a `Scalar`; times are UTC throughout, with one text form in
signed and logged documents (`time_text`). Decoding from protobuf checks the ranges the wire
types allow and the request limits, and raises `InvalidQuery`; `typed_value` is a value's form
in canonical JSON (floats as exact hex, times as text).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from gateway.protocol.limits import EARLIEST_TIME, LATEST_TIME, MAX_STRING, InvalidQuery
from gerbang.v1 import common_pb2

# Western Indonesian Time (UTC+7): local days, weeks and months are Jakarta's.
WIB: Final = dt.timezone(dt.timedelta(hours=7), "WIB")

Scalar = str | int | float | bool | dt.datetime


def utc(value: dt.datetime) -> dt.datetime:
    """Timestamps are UTC throughout; naive values are taken as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def time_text(t: dt.datetime) -> str:
    """A time in the one text form of signed and logged documents: UTC, microseconds, Z."""
    u = utc(t)
    if u.year < 1000:  # strftime writes such years unpadded; keep exactly its form
        return u.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    # The same text as strftime, without its cost on the audit log's hot path.
    return (
        f"{u.year}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}"
        f".{u.microsecond:06d}Z"
    )


# google.protobuf.Timestamp's range (timestamp.proto): 0001-01-01T00:00:00Z to
# 9999-12-31T23:59:59.999999999Z, nanos in 0..999,999,999. Outside it the generated
# ToDatetime raises ValueError or OverflowError, or yields a time that is not the one sent.
_MIN_SECONDS: Final = -62_135_596_800
_MAX_SECONDS: Final = 253_402_300_799
_MAX_NANOS: Final = 999_999_999
# google.protobuf.Duration's range (duration.proto): +-10,000 years.
_MAX_DURATION_SECONDS: Final = 315_576_000_000


def timestamp_from_proto(ts: Timestamp, what: str) -> dt.datetime:
    """A Timestamp from the wire as a UTC datetime; `InvalidQuery` when out of its range."""
    if not _MIN_SECONDS <= ts.seconds <= _MAX_SECONDS or not 0 <= ts.nanos <= _MAX_NANOS:
        raise InvalidQuery(
            f"{what} is not a valid timestamp (years 0001 to 9999, nanos 0 to {_MAX_NANOS})"
        )
    return ts.ToDatetime(tzinfo=dt.UTC)


def check_time(t: dt.datetime, what: str) -> None:
    """`InvalidQuery` unless `t` lies in [EARLIEST_TIME, LATEST_TIME)."""
    if not EARLIEST_TIME <= utc(t) < LATEST_TIME:
        raise InvalidQuery(
            f"{what} must lie in the years {EARLIEST_TIME.year} to {LATEST_TIME.year - 1}"
        )


def duration_from_proto(d: Duration, what: str) -> dt.timedelta:
    """A Duration from the wire; `InvalidQuery` when out of its range or its signs differ."""
    if (
        not -_MAX_DURATION_SECONDS <= d.seconds <= _MAX_DURATION_SECONDS
        or not -_MAX_NANOS <= d.nanos <= _MAX_NANOS
        or (d.seconds > 0 and d.nanos < 0)
        or (d.seconds < 0 and d.nanos > 0)
    ):
        raise InvalidQuery(f"{what} is not a valid duration (at most 10,000 years, one sign)")
    return d.ToTimedelta()


def typed_value(value: Scalar) -> list[Any]:
    """A filter value with its type, for canonical JSON: floats as exact hex, times as text."""
    if isinstance(value, bool):
        return ["bool", value]
    if isinstance(value, int):
        return ["int", value]
    if isinstance(value, float):
        return ["double", value.hex()]
    if isinstance(value, dt.datetime):
        return ["time", time_text(value)]
    return ["string", value]


def value_from_proto(value: common_pb2.Value) -> Scalar:
    kind = value.WhichOneof("kind")
    if kind is None:
        raise InvalidQuery("a filter value has no type (set one of string/int/double/bool/time)")
    if kind == "time_value":
        return timestamp_from_proto(value.time_value, "a time filter value")
    scalar: Scalar = getattr(value, kind)
    if isinstance(scalar, str) and len(scalar) > MAX_STRING:
        raise InvalidQuery(f"a string value is longer than {MAX_STRING} characters")
    return scalar


def value_to_proto(value: Scalar | None) -> common_pb2.Value:
    out = common_pb2.Value()
    if value is None:
        return out
    if isinstance(value, bool):
        out.bool_value = value
    elif isinstance(value, int):
        out.int_value = value
    elif isinstance(value, float):
        out.double_value = value
    elif isinstance(value, str):
        out.string_value = value
    elif isinstance(value, dt.datetime):
        ts = Timestamp()
        ts.FromDatetime(utc(value))
        out.time_value.CopyFrom(ts)
    elif isinstance(value, dt.date):
        ts = Timestamp()
        ts.FromDatetime(dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC))
        out.time_value.CopyFrom(ts)
    else:
        raise TypeError(f"no protobuf Value for {type(value).__name__}")
    return out


def rows_from_result(result: common_pb2.ResultSet) -> list[dict[str, Scalar | None]]:
    """Decode a ResultSet into dicts keyed by column (for callers and tests)."""
    out: list[dict[str, Scalar | None]] = []
    columns = tuple(result.columns)
    for row in result.rows:
        decoded: list[Scalar | None] = []
        for v in row.values:
            # Strings and integers (nearly every value of an aggregate) are read in place,
            # with value_from_proto's checks; the rest through it.
            kind = v.WhichOneof("kind")
            if kind == "string_value":
                text = v.string_value
                if len(text) > MAX_STRING:
                    raise InvalidQuery(f"a string value is longer than {MAX_STRING} characters")
                decoded.append(text)
            elif kind == "int_value":
                decoded.append(v.int_value)
            else:
                decoded.append(None if kind is None else value_from_proto(v))
        out.append(dict(zip(columns, decoded, strict=True)))
    return out
