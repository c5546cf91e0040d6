"""Time and modus-operandi patterns of reported incidents, per area.

`time_pattern` is the 7 x 24 matrix of counts by local (WIB) weekday (Monday first) and hour;
`modus_distribution` the share of each modus operandi within each area. Both are descriptive:
they show when and how reported incidents cluster, not who commits them.

Limits. The hour is when an incident occurred as recorded, and for late reports (burglary found
in the morning, fraud found days later) that is the victim's estimate; hours cluster on round
values. A modus share over a few incidents is noise: each share comes with its count, and the
minimum cell count of the policy should be applied to the counts before they get here.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from gateway.analytics.tally import InvalidTally, Tally, in_window, reported

__all__ = ["ModusShare", "modus_distribution", "time_pattern", "time_patterns"]


def time_pattern(
    tallies: Iterable[Tally], *, start: date | None = None, end: date | None = None
) -> list[list[int]]:
    """Counts as `matrix[weekday][hour]` over all the counts given (weekday 0 = Monday)."""
    matrix = [[0] * 24 for _ in range(7)]
    for t in reported(tallies):
        if t.weekday is None or t.hour is None:
            raise InvalidTally("a time pattern needs counts grouped by weekday and hour")
        if in_window(t, start, end):
            matrix[t.weekday][t.hour] += t.count
    return matrix


def time_patterns(
    tallies: Iterable[Tally], *, start: date | None = None, end: date | None = None
) -> dict[str, list[list[int]]]:
    """`time_pattern` per area."""
    by_area: dict[str, list[Tally]] = defaultdict(list)
    for t in reported(tallies):
        if t.area is None:
            raise InvalidTally("time patterns per area need counts grouped by area")
        by_area[t.area].append(t)
    return {a: time_pattern(ts, start=start, end=end) for a, ts in sorted(by_area.items())}


@dataclass(frozen=True, slots=True)
class ModusShare:
    modus: str
    count: int
    share: float  # of the area's incidents with a known modus, 0..1


def modus_distribution(
    tallies: Iterable[Tally],
    *,
    category: str | None = None,
    start: date | None = None,
    end: date | None = None,
) -> dict[str, list[ModusShare]]:
    """Per area, the modus operandi of its reported incidents, most frequent first.

    With `category`, only counts of that category (they must then carry one).
    """
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for t in reported(tallies):
        if t.area is None or t.modus is None:
            raise InvalidTally("a modus distribution needs counts grouped by area and modus")
        if category is not None:
            if t.category is None:
                raise InvalidTally("a category was asked for but the counts carry none")
            if t.category != category:
                continue
        if in_window(t, start, end):
            counts[t.area][t.modus] += t.count
    result: dict[str, list[ModusShare]] = {}
    for area, c in sorted(counts.items()):
        total = sum(c.values())
        if total == 0:
            continue
        ranked = sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))
        result[area] = [ModusShare(m, n, n / total) for m, n in ranked]
    return result
