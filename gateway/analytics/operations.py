"""Analytics operations: from an AnalyticsService request to the one query it asks, and back.

The gateway and the client library both compile an operation with these functions, so the
query the caller signs is exactly the query the gateway authorises (docs/adr/0007). Each
operation is one aggregate query of the `incidents` dataset; its answer is the adapters'
counts, which only the caller opens. `tallies` turns the merged counts back into `Tally`
rows, and the finishers (`heatmap_cells`, `risk`, `patrol`, ...) run the methods of this
package on them, in the caller's process.

Time windows are local (WIB): risk scores and patrol plans end on the Monday 00:00 WIB that
starts the week of the requested end and read the 52 whole weeks before it, counted in the
three spans the risk model compares (history, recent before near, near; ADR 0032); the index
reads the 12 whole months before the month of the requested end. So no count's time bucket
straddles the windows the methods compare.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from gateway.analytics.index import AreaIndex, security_index
from gateway.analytics.patrol import PatrolPlan, plan_patrols
from gateway.analytics.risk import (
    HISTORY_DAYS,
    NEAR_DAYS,
    RECENT_DAYS,
    RiskScore,
    risk_scores,
)
from gateway.analytics.tally import REPORTED, InvalidTally, Tally
from gateway.protocol.geography import KECAMATAN
from gateway.protocol.limits import InvalidQuery
from gateway.protocol.model import Aggregation, Bucket, Filter, GroupBy, Op, Query, QueryPlan
from gateway.protocol.spans import parse_label
from gateway.protocol.values import WIB, check_time, timestamp_from_proto, utc
from gerbang.v1 import analytics_pb2

__all__ = [
    "HISTORY_WEEKS",
    "WARNING_LOOKBACK_DAYS",
    "WIB",
    "Scope",
    "heatmap_cells",
    "heatmap_query",
    "index",
    "index_query",
    "local_day",
    "patrol",
    "patrol_query",
    "patterns_query",
    "private_epsilon",
    "risk",
    "risk_query",
    "tallies",
    "warning_query",
    "warning_tick",
    "week_start",
]

DATASET: Final = "incidents"
TIME: Final = "occurred_at"
HISTORY_WEEKS: Final = 52
# The risk model's windows in weeks before the end: history starts 52 weeks back, recent 4,
# near 1. The spans asked are [end-52w, end-4w), [end-4w, end-1w) and [end-1w, end).
RISK_SPAN_WEEKS: Final = (
    (HISTORY_DAYS + RECENT_DAYS) // 7,
    RECENT_DAYS // 7,
    NEAR_DAYS // 7,
    0,
)
INDEX_MONTHS: Final = 12
TREND_MONTHS: Final = 3
# Early warning reads the 56 baseline days and the widest 3-day window before a day.
WARNING_LOOKBACK_DAYS: Final = 58

PatternKind = Literal["hour_weekday", "modus"]
RiskUnit = Literal["kecamatan", "h3"]


@dataclass(frozen=True)
class Scope:
    """Purpose, basis, window [start, end) and the areas and categories asked about."""

    purpose: str
    legal_basis: str
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    kota: tuple[str, ...] = ()
    kecamatan: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # The operations reach back up to a year before a window and round to local weeks
        # and months: within these years those steps cannot overflow.
        for name, t in (("start", self.start), ("end", self.end)):
            if t is not None:
                check_time(t, f"scope {name}")

    @classmethod
    def from_proto(cls, s: analytics_pb2.AnalyticsScope) -> Scope:
        return cls(
            purpose=s.purpose,
            legal_basis=s.legal_basis,
            start=timestamp_from_proto(s.start, "scope start") if s.HasField("start") else None,
            end=timestamp_from_proto(s.end, "scope end") if s.HasField("end") else None,
            kota=tuple(s.kota),
            kecamatan=tuple(s.kecamatan),
            categories=tuple(s.categories),
        )

    def to_proto(self) -> analytics_pb2.AnalyticsScope:
        s = analytics_pb2.AnalyticsScope(
            purpose=self.purpose,
            legal_basis=self.legal_basis,
            kota=list(self.kota),
            kecamatan=list(self.kecamatan),
            categories=list(self.categories),
        )
        if self.start is not None:
            s.start.FromDatetime(utc(self.start))
        if self.end is not None:
            s.end.FromDatetime(utc(self.end))
        return s


def local_day(t: dt.datetime) -> dt.date:
    """The local (WIB) date of an instant."""
    return utc(t).astimezone(WIB).date()


def local_midnight(day: dt.date) -> dt.datetime:
    """00:00 WIB of a local date, in UTC."""
    return dt.datetime(day.year, day.month, day.day, tzinfo=WIB).astimezone(dt.UTC)


def week_start(t: dt.datetime) -> dt.datetime:
    """The Monday 00:00 WIB that starts the local week holding `t` (t itself if it is one)."""
    day = local_day(t)
    return local_midnight(day - dt.timedelta(days=day.weekday()))


def _window(scope: Scope) -> tuple[dt.datetime, dt.datetime]:
    if scope.start is None or scope.end is None:
        raise InvalidQuery("the scope needs a window: set both start and end")
    if scope.end <= scope.start:
        raise InvalidQuery("the window's end must come after its start")
    return scope.start, scope.end


def _weekly_window(scope: Scope) -> tuple[dt.datetime, dt.datetime]:
    if scope.end is None:
        raise InvalidQuery("the scope needs an end: the weeks before it are read")
    if scope.start is not None:
        raise InvalidQuery(
            f"leave the scope's start empty: this operation reads the {HISTORY_WEEKS} weeks "
            "before its end"
        )
    end = week_start(scope.end)
    return end - dt.timedelta(weeks=HISTORY_WEEKS), end


def _filters(scope: Scope, start: dt.datetime, end: dt.datetime | None) -> tuple[Filter, ...]:
    out = [Filter(TIME, Op.GE, (start,))]
    if end is not None:
        out.append(Filter(TIME, Op.LT, (end,)))
    for name, values in (
        ("kota", scope.kota),
        ("kecamatan", scope.kecamatan),
        ("category", scope.categories),
    ):
        if values:
            out.append(Filter(name, Op.IN, tuple(sorted(set(values)))))
    return tuple(out)


def _query(scope: Scope, operation: str, filters: tuple[Filter, ...], *group_by: GroupBy) -> Query:
    return Query(
        DATASET,
        (),
        filters,
        Aggregation(tuple(group_by)),
        scope.purpose,
        scope.legal_basis,
        operation=operation,
    )


def heatmap_query(scope: Scope, resolution: int) -> Query:
    start, end = _window(scope)
    return _query(
        scope, "heatmap", _filters(scope, start, end), GroupBy("location", Bucket.H3, resolution)
    )


def patterns_query(scope: Scope, kind: PatternKind) -> Query:
    start, end = _window(scope)
    filters = _filters(scope, start, end)
    if kind == "hour_weekday":
        return _query(
            scope,
            "patterns",
            filters,
            GroupBy("kecamatan"),
            GroupBy(TIME, Bucket.DAY_OF_WEEK),
            GroupBy(TIME, Bucket.HOUR_OF_DAY),
        )
    if kind == "modus":
        return _query(
            scope,
            "patterns",
            filters,
            GroupBy("kecamatan"),
            GroupBy("category"),
            GroupBy("modus_operandi"),
        )
    raise InvalidQuery(f"unknown pattern kind {kind!r}")


def _unit(unit: RiskUnit, resolution: int) -> GroupBy:
    if unit == "kecamatan":
        return GroupBy("kecamatan")
    if unit == "h3":
        return GroupBy("location", Bucket.H3, resolution)
    raise InvalidQuery(f"unknown risk unit {unit!r}")


def _risk_spans(end: dt.datetime) -> GroupBy:
    """The risk model's three windows as spans of whole local weeks ending at `end` (ADR
    0032): one count and one noise draw per window, not 52 weekly ones."""
    return GroupBy(
        TIME,
        Bucket.SPANS,
        boundaries=tuple(end - dt.timedelta(weeks=w) for w in RISK_SPAN_WEEKS),
    )


def risk_query(scope: Scope, unit: RiskUnit, resolution: int = 8) -> Query:
    start, end = _weekly_window(scope)
    return _query(
        scope,
        "risk_scores",
        _filters(scope, start, end),
        _unit(unit, resolution),
        _risk_spans(end),
    )


def patrol_query(scope: Scope, resolution: int = 8) -> Query:
    """Counts per cell, kecamatan and risk window: a cell's kecamatan is where most of its
    incidents are, which is what the cap per area counts."""
    start, end = _weekly_window(scope)
    return _query(
        scope,
        "patrol_plan",
        _filters(scope, start, end),
        GroupBy("location", Bucket.H3, resolution),
        GroupBy("kecamatan"),
        _risk_spans(end),
    )


def _months_before(t: dt.datetime, months: int) -> tuple[dt.datetime, dt.datetime]:
    """The `months` whole local months before the month holding `t`."""
    day = local_day(t)
    end = dt.date(day.year, day.month, 1)
    index = end.year * 12 + end.month - 1 - months
    return local_midnight(dt.date(index // 12, index % 12 + 1, 1)), local_midnight(end)


def index_query(scope: Scope) -> Query:
    """Monthly counts per kecamatan and status over the 12 whole months before the month of
    `scope.end`: oversight indicators are monthly, and a weekly count per status would fall
    below k in most kecamatan."""
    if scope.end is None:
        raise InvalidQuery("the scope needs an end: the 12 whole months before it are read")
    if scope.start is not None:
        raise InvalidQuery(
            "leave the scope's start empty: the index reads the 12 whole months before its end"
        )
    start, end = _months_before(scope.end, INDEX_MONTHS)
    return _query(
        scope,
        "security_index",
        _filters(scope, start, end),
        GroupBy("kecamatan"),
        GroupBy("status"),
        GroupBy(TIME, Bucket.MONTH),
    )


def warning_query(scope: Scope) -> Query:
    """The whole stream the caller signs: daily counts per kecamatan from the lookback of
    `scope.start` to `scope.end` (open-ended when the stream follows the present)."""
    if scope.start is None:
        raise InvalidQuery("the scope needs a start: the first day scanned")
    start = local_midnight(local_day(scope.start) - dt.timedelta(days=WARNING_LOOKBACK_DAYS))
    return _warning(scope, start, scope.end)


def warning_tick(scope: Scope, day: dt.date) -> Query:
    """What one tick of the stream releases: only what no earlier tick did.

    The first day scanned reads its lookback and itself; every later day reads itself alone
    (kecamatan x that day), so under differential privacy each day of data is released, and
    charged, once per stream. The caller keeps the history (`WarningHistory`).
    """
    if scope.start is None:
        raise InvalidQuery("the scope needs a start: the first day scanned")
    first = local_day(scope.start)
    if day < first:
        raise InvalidQuery("a tick cannot come before the stream's first day")
    start = day - dt.timedelta(days=WARNING_LOOKBACK_DAYS) if day == first else day
    return _warning(scope, local_midnight(start), local_midnight(day + dt.timedelta(days=1)))


def _warning(scope: Scope, start: dt.datetime, end: dt.datetime | None) -> Query:
    return _query(
        scope,
        "early_warning",
        _filters(scope, start, end),
        GroupBy("kecamatan"),
        GroupBy(TIME, Bucket.DAY),
    )


# --- from answers back to counts ----------------------------------------------------------


def reported_sources(plans: Sequence[QueryPlan]) -> frozenset[str]:
    """The incident sources every plan of an answer was limited to, which must be reported
    sources only: the guardrail is checked on the signed plans, not assumed."""
    sources: frozenset[str] | None = None
    for plan in plans:
        allowed = [
            frozenset(str(v) for v in f.values)
            for f in plan.filters
            if f.field == "source" and f.op in (Op.IN, Op.EQ)
        ]
        if not allowed:
            raise InvalidTally(
                f"plan {plan.plan_id} is not limited to reported incidents (no source filter)"
            )
        here = frozenset.intersection(*allowed)
        sources = here if sources is None else sources | here
    if sources is None:
        raise InvalidTally("the answer has no plans")
    if not sources or not sources <= REPORTED:
        raise InvalidTally(f"the answer counts sources {sorted(sources)}, not reported only")
    return sources


def private_epsilon(plans: Sequence[QueryPlan]) -> float:
    """The epsilon every plan of an answer was released under: analytics purposes are
    aggregate-only, so each part must carry the differential-privacy obligation, checked on
    the signed plans like the reported-only filter (docs/adr/0014)."""
    if not plans:
        raise InvalidTally("the answer has no plans")
    missing = [p.plan_id for p in plans if p.epsilon is None]
    if missing:
        raise InvalidTally(f"plan {missing[0]} carries no differential-privacy epsilon")
    epsilons = sorted({p.epsilon for p in plans if p.epsilon is not None})
    if len(epsilons) != 1:
        raise InvalidTally(f"the answer's plans disagree on epsilon: {epsilons}")
    return epsilons[0]


def tallies(
    columns: Sequence[str], rows: Sequence[Mapping[str, Any]], sources: frozenset[str]
) -> list[Tally]:
    """Merged answer rows as `Tally` counts; an unknown column fails closed."""
    out = []
    for r in rows:
        kw: dict[str, Any] = {}
        for c in columns:
            v = r[c]
            if c == "count":
                continue
            if v is None:
                raise InvalidTally(f"column {c!r} has a missing value")
            match c:
                case "kecamatan":
                    kw["area"] = str(v)
                case "kota" | "category" | "status":
                    kw[c] = str(v)
                case "modus_operandi":
                    kw["modus"] = str(v)
                case "location_h3":
                    kw["cell"] = str(v)
                case "occurred_at_day":
                    kw["when"], kw["days"] = dt.date.fromisoformat(str(v)), 1
                case "occurred_at_week":
                    kw["when"], kw["days"] = dt.date.fromisoformat(str(v)), 7
                case "occurred_at_spans":
                    try:
                        kw["when"], kw["days"] = parse_label(str(v))
                    except InvalidQuery as e:
                        raise InvalidTally(f"column {c!r}: {e}") from e
                case "occurred_at_month":
                    first = dt.date.fromisoformat(f"{v}-01")
                    kw["when"] = first
                    kw["days"] = calendar.monthrange(first.year, first.month)[1]
                case "occurred_at_day_of_week":
                    kw["weekday"] = int(v) - 1  # ISO 1 (Monday) .. 7
                case "occurred_at_hour_of_day":
                    kw["hour"] = int(v)
                case _:
                    raise InvalidTally(f"the answer has a column {c!r} no method reads")
        count = r.get("count")
        if not isinstance(count, int):
            raise InvalidTally("every answer row needs an integer count")
        out.append(Tally(count, sources, **kw))
    return out


# --- finishers: the methods on the caller's side ------------------------------------------


def heatmap_cells(counts: Sequence[Tally]) -> dict[str, int]:
    cells: dict[str, int] = defaultdict(int)
    for t in counts:
        if t.cell is None:
            raise InvalidTally("a heatmap needs counts per H3 cell")
        cells[t.cell] += t.count
    return dict(cells)


def population() -> dict[str, tuple[str, int]]:
    """Kecamatan -> (kota, residents), from the public reference geography."""
    return {k.name: (k.kota, k.population) for k in KECAMATAN}


def risk(counts: Sequence[Tally], unit: RiskUnit, end: dt.datetime) -> list[RiskScore]:
    """Scores of the units in the counts, most at risk first. A count withheld below k
    enters as zero, which lowers sparse units a little; the interval shows how little is
    known about them."""
    as_of = local_day(week_start(end))
    if unit == "kecamatan":
        pop = population()
        names = sorted({t.area for t in counts if t.area is not None})
        unknown = [n for n in names if n not in pop]
        if unknown:
            raise InvalidTally(f"no population for kecamatan {unknown[:3]}")
        scores = risk_scores(
            counts,
            unit="area",
            as_of=as_of,
            units=names,
            exposure={n: float(pop[n][1]) for n in names},
        )
    else:
        scores = risk_scores(counts, unit="cell", as_of=as_of)
    return sorted(scores.values(), key=lambda s: (-s.score, s.unit))


def patrol(
    counts: Sequence[Tally],
    end: dt.datetime,
    *,
    units: int,
    cap_per_area: int,
    previous: Sequence[str] = (),
) -> tuple[PatrolPlan, list[RiskScore]]:
    by_cell_area: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    merged: dict[tuple[str, dt.date | None, int], int] = defaultdict(int)
    for t in counts:
        if t.cell is None or t.area is None:
            raise InvalidTally("a patrol plan needs counts per H3 cell and kecamatan")
        by_cell_area[t.cell][t.area] += t.count
        merged[(t.cell, t.when, t.days)] += t.count
    sources = frozenset().union(*(t.sources for t in counts)) or REPORTED
    per_cell = [Tally(n, sources, cell=c, when=w, days=d) for (c, w, d), n in merged.items()]
    scores = risk(per_cell, "h3", end)
    area_of = {c: max(a.items(), key=lambda kv: (kv[1], kv[0]))[0] for c, a in by_cell_area.items()}
    plan = plan_patrols(
        {s.unit: s.rate for s in scores if s.unit in area_of},
        area_of,
        units=units,
        cap_per_area=cap_per_area,
        previous=previous,
    )
    return plan, scores


def index(counts: Sequence[Tally], end: dt.datetime) -> list[AreaIndex]:
    """The index over the 12 months before the month of `end`; the trend compares the last
    three months with the three before them."""
    first, last = (local_day(t) for t in _months_before(end, INDEX_MONTHS))
    previous_start, last_start = (
        local_day(_months_before(end, n)[0]) for n in (2 * TREND_MONTHS, TREND_MONTHS)
    )
    return security_index(
        counts, population(), start=first, end=last, trend_windows=(previous_start, last_start)
    )
