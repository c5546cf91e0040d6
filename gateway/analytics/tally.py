"""`Tally`: one row of an aggregated count, the only input the analytic methods accept.

An adapter answers an analytics plan with counts grouped by some of: area (kecamatan), kota, H3
cell, a local (WIB) time bucket, hour of day, day of week, category, modus operandi, status. Each
count also says which incident sources it covers, because the methods must count what the public
reported and never what police found themselves: police-initiated records measure where officers
already were, and feeding them back into where officers go next is the runaway feedback loop of
Lum & Isaac, "To predict and serve?" (Significance 13(5), 2016). `reported` is the one gate every
method passes its input through.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta

from gateway.errors import UntrustedInputError
from gateway.protocol.catalog import INCIDENT_SOURCES, REPORTED_SOURCES

__all__ = ["REPORTED", "InvalidTally", "Tally", "in_window", "reported"]

REPORTED: frozenset[str] = frozenset(REPORTED_SOURCES)
"""The sources a method may count: citizen reports and emergency calls."""

_KNOWN_SOURCES = frozenset(INCIDENT_SOURCES)


class InvalidTally(UntrustedInputError):
    """An aggregated count is malformed, or cannot be shown to hold reported incidents only."""


@dataclass(frozen=True, slots=True)
class Tally:
    """A count of incidents sharing the dimensions that are set; `None` means "not grouped by".

    `sources` is the set of incident sources the count covers: one source when the query grouped
    by source, or `REPORTED` when it filtered on the reported sources and grouped by neither.
    `when` is the local (WIB) date its time bucket starts and `days` the bucket's length, so a
    monthly count of October 2026 is `when=date(2026, 10, 1), days=31`.
    """

    count: int
    sources: frozenset[str]
    area: str | None = None
    kota: str | None = None
    cell: str | None = None
    when: date | None = None
    days: int = 1
    hour: int | None = None
    weekday: int | None = None  # Monday = 0, as `date.weekday`
    category: str | None = None
    modus: str | None = None
    status: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 0:
            raise InvalidTally(f"a count must be a non-negative integer, not {self.count!r}")
        if not self.sources:
            raise InvalidTally("a count must say which incident sources it covers")
        if not self.sources <= _KNOWN_SOURCES:
            raise InvalidTally(f"unknown incident sources {sorted(self.sources - _KNOWN_SOURCES)}")
        if self.days < 1:
            raise InvalidTally(f"a time bucket lasts at least one day, not {self.days}")
        if self.hour is not None and not 0 <= self.hour <= 23:
            raise InvalidTally(f"hour {self.hour} is outside 0..23")
        if self.weekday is not None and not 0 <= self.weekday <= 6:
            raise InvalidTally(f"weekday {self.weekday} is outside 0..6")

    @property
    def end(self) -> date | None:
        """The first local date after this count's time bucket."""
        return None if self.when is None else self.when + timedelta(days=self.days)


def reported(tallies: Iterable[Tally]) -> Iterator[Tally]:
    """The counts of reported incidents only; police-initiated counts are dropped.

    A count that mixes police-initiated incidents with reported ones cannot be split after the
    fact, so it raises `InvalidTally` rather than being counted or silently lost.
    """
    for t in tallies:
        if t.sources <= REPORTED:
            yield t
        elif t.sources & REPORTED:
            raise InvalidTally(
                "a count mixes police-initiated incidents with reported ones; group by source "
                "or filter on source in (citizen_report, emergency_call)"
            )


def in_window(tally: Tally, start: date | None, end: date | None) -> bool:
    """Whether the count's time bucket lies within [start, end); raises if it straddles a bound.

    A count with no time dimension is only accepted when no window is asked for.
    """
    if start is None and end is None:
        return True
    when, until = tally.when, tally.end  # `end` is computed: once per count, not four times
    if when is None or until is None:
        raise InvalidTally("a time window was asked for but the counts carry no time bucket")
    lo = start or date.min
    hi = end or date.max
    if when >= lo and until <= hi:
        return True
    if until <= lo or when >= hi:
        return False
    raise InvalidTally(
        f"the time bucket {when}..{until} straddles the window {start}..{end}; "
        "ask for buckets aligned with the window"
    )
