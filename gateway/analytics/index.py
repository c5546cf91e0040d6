"""Security index per kecamatan, per kota and for the city.

For a period [start, end) and each area:

- `rate_per_100k`: reported incidents per 100 000 residents per year (annualised);
- `clearance_rate`: incidents with status solved or closed over all reported incidents. In the
  reference schema "closed" includes reports closed without action, so the clearance rate
  overstates how much is solved; `solved_rate` (solved only) is given beside it;
- `trend`: the rate of the last `trend_days` over the rate of the `trend_days` before them
  (or of two explicit `trend_windows`, e.g. the last three calendar months and the three before),
  with a 90 % interval (log-normal approximation, 0.5 added to each count);
- `vs_city`: the area's rate over the city's (1 = the city average).

Limits. Reported incidents only: an area where people trust the police more reports more and
looks worse. Rates use the resident population; a business district with few residents and many
visitors gets a high rate. Clearance lags: incidents of the last weeks have not had time to be
solved, so compare clearance only between periods of equal age.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from gateway.analytics.tally import InvalidTally, Tally, in_window, reported

__all__ = ["AreaIndex", "security_index"]

_CLEARED = frozenset({"solved", "closed"})
_Z90 = 1.6448536269514722


@dataclass(frozen=True, slots=True)
class AreaIndex:
    name: str
    level: Literal["kecamatan", "kota", "city"]
    kota: str | None
    population: int
    incidents: int
    rate_per_100k: float
    clearance_rate: float | None
    solved_rate: float | None
    trend: float | None
    trend_low: float | None
    trend_high: float | None
    vs_city: float | None


@dataclass
class _Sums:
    incidents: int = 0
    cleared: int = 0
    solved: int = 0
    with_status: int = 0
    previous: int = 0
    last: int = 0


def security_index(
    tallies: Iterable[Tally],
    areas: Mapping[str, tuple[str, int]],
    *,
    start: date,
    end: date,
    trend_days: int = 90,
    trend_windows: tuple[date, date] | None = None,
) -> list[AreaIndex]:
    """The index for every kecamatan in `areas` (name -> (kota, population)), then each kota,
    then the city. Counts need `area` and a time bucket; `status` for the clearance rates."""
    days = (end - start).days
    if days < 1:
        raise ValueError("the period must last at least one day")
    if trend_windows is None:
        if not 0 < 2 * trend_days <= days:
            raise ValueError("the period must hold two trend windows")
        last_start = end - timedelta(days=trend_days)
        previous_start = last_start - timedelta(days=trend_days)
    else:
        previous_start, last_start = trend_windows
        if not start <= previous_start < last_start < end:
            raise ValueError("trend windows must be start <= previous < last < end")
    # The trend compares rates: windows of unequal length (calendar months) are scaled.
    lengths = ((end - last_start).days, (last_start - previous_start).days)
    sums: dict[str, _Sums] = defaultdict(_Sums)
    status_known = True
    for t in reported(tallies):
        if t.area is None:
            raise InvalidTally("a security index needs counts grouped by area")
        if t.area not in areas or not in_window(t, start, end):
            continue
        s = sums[t.area]
        s.incidents += t.count
        if t.status is None:
            status_known = False
        else:
            s.with_status += t.count
            s.cleared += t.count if t.status in _CLEARED else 0
            s.solved += t.count if t.status == "solved" else 0
        if in_window(t, last_start, end):
            s.last += t.count
        elif in_window(t, previous_start, last_start):
            s.previous += t.count

    groups: dict[str, list[str]] = defaultdict(list)
    for name, (kota, _pop) in areas.items():
        groups[kota].append(name)
    city = _total(sums, list(areas))
    city_pop = sum(p for _k, p in areas.values())
    city_rate = _rate(city.incidents, city_pop, days)
    rows = [
        _row(name, "kecamatan", kota, pop, sums[name], days, city_rate, status_known, lengths)
        for name, (kota, pop) in sorted(areas.items(), key=lambda kv: (kv[1][0], kv[0]))
    ]
    for kota, names in sorted(groups.items()):
        pop = sum(areas[n][1] for n in names)
        rows.append(
            _row(
                kota, "kota", None, pop, _total(sums, names), days, city_rate, status_known, lengths
            )
        )
    rows.append(_row("city", "city", None, city_pop, city, days, city_rate, status_known, lengths))
    return rows


def _total(sums: Mapping[str, _Sums], names: list[str]) -> _Sums:
    total = _Sums()
    for n in names:
        s = sums.get(n, _Sums())
        total.incidents += s.incidents
        total.cleared += s.cleared
        total.solved += s.solved
        total.with_status += s.with_status
        total.previous += s.previous
        total.last += s.last
    return total


def _rate(incidents: int, population: int, days: int) -> float:
    return incidents / population * 100_000 * 365.25 / days if population > 0 else math.nan


def _row(
    name: str,
    level: Literal["kecamatan", "kota", "city"],
    kota: str | None,
    population: int,
    s: _Sums,
    days: int,
    city_rate: float,
    status_known: bool,
    lengths: tuple[int, int],
) -> AreaIndex:
    rate = _rate(s.incidents, population, days)
    last_days, previous_days = lengths
    trend = (s.last + 0.5) / (s.previous + 0.5) * previous_days / last_days
    spread = _Z90 * math.sqrt(1 / (s.last + 0.5) + 1 / (s.previous + 0.5))
    clear = status_known and s.with_status > 0
    return AreaIndex(
        name=name,
        level=level,
        kota=kota,
        population=population,
        incidents=s.incidents,
        rate_per_100k=rate,
        clearance_rate=s.cleared / s.with_status if clear else None,
        solved_rate=s.solved / s.with_status if clear else None,
        trend=trend,
        trend_low=trend * math.exp(-spread),
        trend_high=trend * math.exp(spread),
        vs_city=rate / city_rate if city_rate > 0 else None,
    )
