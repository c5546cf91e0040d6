"""Spans: a time group-by of whole local weeks between explicit boundaries (ADR 0032).

A `spans` group-by carries its boundaries b0 < b1 < ... < bn, each a Monday 00:00 WIB; its
groups are the spans [b0, b1), ..., [bn-1, bn), and b0 and bn are the query's window. Each
span is a union of whole local weeks, so a count per span is a sum of the counts per week
that the same window would release: it reveals no more than the `week` bucket.

A row's value names its span as ISO 8601 (ISO 8601-1:2019, 5.5) start and duration, in local
dates: "2025-12-01/P48W" is the 48 weeks from Monday 1 December 2025. A start and a duration
cannot be misread the way an end date can (is the end day in or out?), and every span is a
whole number of weeks by construction. Pure functions; no I/O.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Sequence
from typing import Final

from gateway.protocol.limits import InvalidQuery
from gateway.protocol.values import WIB, check_time, utc

__all__ = [
    "MAX_BOUNDARIES",
    "check_boundaries",
    "is_week_start",
    "parse_label",
    "span_label",
    "span_labels",
]

# 63 spans: more than a year of single weeks. Spans exist to be coarse; this only bounds the
# size of a request and of the adapter's CASE expression.
MAX_BOUNDARIES: Final = 64
_LABEL: Final = re.compile(r"(\d{4}-\d{2}-\d{2})/P([1-9]\d{0,4})W")


def is_week_start(t: dt.datetime) -> bool:
    """Whether `t` is a Monday 00:00:00.000000 WIB."""
    local = utc(t).astimezone(WIB)
    return local.weekday() == 0 and (
        local.hour,
        local.minute,
        local.second,
        local.microsecond,
    ) == (0, 0, 0, 0)


def check_boundaries(boundaries: Sequence[dt.datetime]) -> None:
    """Raise `InvalidQuery` unless `boundaries` are 2 to `MAX_BOUNDARIES` local week starts,
    strictly increasing (so every span is at least one whole week)."""
    n = len(boundaries)
    if not 2 <= n <= MAX_BOUNDARIES:
        raise InvalidQuery(
            f"a spans group-by takes 2 to {MAX_BOUNDARIES} boundaries (1 to "
            f"{MAX_BOUNDARIES - 1} spans), got {n}"
        )
    for i, b in enumerate(boundaries):
        check_time(b, "a span boundary")
        if not is_week_start(b):
            raise InvalidQuery(
                f"span boundary {i} is not a local week start: each must be a Monday 00:00 WIB"
            )
        if i and utc(b) <= utc(boundaries[i - 1]):
            raise InvalidQuery(
                f"span boundaries must be strictly increasing: boundary {i} is not after "
                f"boundary {i - 1}"
            )


def _local_date(t: dt.datetime) -> dt.date:
    return utc(t).astimezone(WIB).date()


def span_label(start: dt.datetime, end: dt.datetime) -> str:
    """The value of the span [start, end): its local start date and its length in weeks."""
    weeks = (_local_date(end) - _local_date(start)).days // 7
    return f"{_local_date(start).isoformat()}/P{weeks}W"


def span_labels(boundaries: Sequence[dt.datetime]) -> list[str]:
    """The value of every span, in order (the public domain of a spans group-by)."""
    return [span_label(a, b) for a, b in itertools.pairwise(boundaries)]


def parse_label(value: str) -> tuple[dt.date, int]:
    """A span's value as (local start date, length in days); raises `InvalidQuery`."""
    m = _LABEL.fullmatch(value)
    if m is None:
        raise InvalidQuery("a span value must read YYYY-MM-DD/PnW (start date and weeks)")
    try:
        start = dt.date.fromisoformat(m.group(1))
    except ValueError as e:
        raise InvalidQuery("a span value's start is not a calendar date") from e
    if start.weekday() != 0:
        raise InvalidQuery("a span value must start on a Monday")
    return start, 7 * int(m.group(2))
