"""Differentially private releases: what one costs, which data it is charged to, when it is held.

Pure: functions of their arguments (docs/adr/0009).

- A purpose's `PrivacyBudget` (registry `epsilon` and `privacy_budget`): the epsilon one release
  spends, the data period its accounts are kept per, the limits per caller and for the whole
  purpose, and how long an identical question is answered from the held release.
- `release_window` reads the window a plan's filters put on the dataset's event time; the
  policy makes every aggregate request bound it by `ge` and `lt` on the purpose's time grid.
- `data_periods` names every data period (local WIB day, ISO week or month) the window
  overlaps: a release is charged to each of them, so the privacy loss of one incident is the
  sum over the releases that read its period, whatever the calendar date of asking.
- `release_id` identifies a release by everything that determines its true answer and its
  mechanism (purpose, dataset, fields, every filter including the policy's, the aggregation,
  epsilon, k, the row cap) and the hold period it was asked in. Two requests with the same
  identity get the same stored answer (the same noise), and only the first is charged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, cast, get_args

from gateway.errors import ConfigurationError
from gateway.protocol.canonical import canonical_json
from gateway.protocol.model import Filter, Op, QueryPlan
from gateway.protocol.values import WIB, typed_value, utc

__all__ = [
    "BUDGET_SLACK",
    "DataPeriod",
    "HoldPeriod",
    "PrivacyBudget",
    "budgets_from_registry",
    "data_periods",
    "hold_key",
    "hold_until",
    "iter_accounts",
    "release_id",
    "release_window",
]

DataPeriod = Literal["day", "week", "month"]
HoldPeriod = Literal["hour", "day", "week", "month"]
# Budget arithmetic is in floats; this much slack keeps ten spends of 0.1 within 1.
BUDGET_SLACK: Final = 1e-9
# A window may name at most this many data periods (a decade of days), and span at most a
# century; past that, refuse rather than charge every period of the data.
MAX_PERIODS: Final = 3660
MAX_DAYS: Final = 36_600


@dataclass(frozen=True, slots=True)
class PrivacyBudget:
    """One purpose's privacy accounting, from the registry."""

    epsilon: float  # spent by one release
    period: DataPeriod  # the data period an account is kept per
    per_caller: float  # epsilon one caller may spend on one data period
    per_purpose: float  # epsilon all callers of the purpose together may spend on one period
    hold: HoldPeriod  # an identical question is answered from the held release this long

    def __post_init__(self) -> None:
        for name in ("epsilon", "per_caller", "per_purpose"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ConfigurationError(f"privacy budget {name} must be a positive number")
        if self.per_caller < self.epsilon or self.per_purpose < self.per_caller:
            raise ConfigurationError(
                "privacy budget must allow one release: epsilon <= per_caller <= per_purpose"
            )
        if self.period not in get_args(DataPeriod) or self.hold not in get_args(HoldPeriod):
            raise ConfigurationError("privacy budget period or hold is not a known period")

    @classmethod
    def from_registry(cls, epsilon: object, spec: object) -> PrivacyBudget:
        if not isinstance(spec, Mapping) or not isinstance(epsilon, int | float):
            raise ConfigurationError("a privacy budget needs an epsilon and a privacy_budget")
        return cls(
            float(epsilon),
            cast(DataPeriod, spec.get("period")),
            float(spec.get("per_caller", 0)),
            float(spec.get("per_purpose", 0)),
            cast(HoldPeriod, spec.get("hold")),
        )


def budgets_from_registry(purposes: Mapping[str, Any]) -> dict[str, PrivacyBudget]:
    """Each purpose's budget; purposes whose epsilon is null release no noisy counts."""
    return {
        str(name): PrivacyBudget.from_registry(p.get("epsilon"), p.get("privacy_budget"))
        for name, p in purposes.items()
        if isinstance(p, Mapping) and p.get("epsilon") is not None
    }


def release_window(filters: Sequence[Filter], field: str) -> tuple[dt.datetime, dt.datetime]:
    """The [lower, upper) window the `ge` and `lt` filters on `field` leave (the tightest).

    Raises `ValueError` when either side is unbounded: an unbounded release would be charged
    to every period of the data, which no account can be.
    """
    lower: dt.datetime | None = None
    upper: dt.datetime | None = None
    for f in filters:
        if f.field != field or not isinstance(f.values[0], dt.datetime):
            continue
        t = utc(f.values[0])
        if f.op is Op.GE:
            lower = t if lower is None else max(lower, t)
        elif f.op is Op.LT:
            upper = t if upper is None else min(upper, t)
    if lower is None or upper is None:
        raise ValueError(f"the window on {field!r} is not bounded by 'ge' and 'lt' filters")
    return lower, upper


def _local_day(t: dt.datetime) -> dt.date:
    return utc(t).astimezone(WIB).date()


def _label(day: dt.date, period: DataPeriod) -> str:
    if period == "day":
        return day.isoformat()
    if period == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{day.year:04d}-{day.month:02d}"


def data_periods(lower: dt.datetime, upper: dt.datetime, period: DataPeriod) -> list[str]:
    """Every local period that holds some instant of [lower, upper), in order."""
    if upper <= lower:
        return []
    first = _local_day(lower)
    last = _local_day(upper - dt.timedelta(microseconds=1))
    if (last - first).days > MAX_DAYS:
        raise ValueError("the window covers too many data periods to be charged")
    out: dict[str, None] = {}
    day = first
    step = dt.timedelta(days=1)
    while day <= last:
        out[_label(day, period)] = None
        day += step
    if len(out) > MAX_PERIODS:
        raise ValueError("the window covers too many data periods to be charged")
    return list(out)


def hold_key(until: dt.datetime) -> str:
    """The hold period a release belongs to, named by its end (UTC, to the second): the
    gateway and the adapter both derive it from the plan's signed `release_until`."""
    return utc(until).strftime("%Y-%m-%dT%H:%M:%SZ")


def hold_until(now: dt.datetime, hold: HoldPeriod) -> dt.datetime:
    """The end of the local hold period holding `now`, in UTC."""
    local = utc(now).astimezone(WIB)
    if hold == "hour":
        start = local.replace(minute=0, second=0, microsecond=0)
        return (start + dt.timedelta(hours=1)).astimezone(dt.UTC)
    day = local.date()
    if hold == "day":
        end = day + dt.timedelta(days=1)
    elif hold == "week":
        end = day + dt.timedelta(days=7 - day.weekday())
    else:
        end = (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return dt.datetime(end.year, end.month, end.day, tzinfo=WIB).astimezone(dt.UTC)


def _filter_doc(f: Filter) -> list[Any]:
    return [f.field, str(f.op), sorted(canonical_json(typed_value(v)).decode() for v in f.values)]


def release_id(plan: QueryPlan, hold: str) -> bytes:
    """SHA-256 over what determines a release's answer and noise, and its hold period.

    Filters are compared as a set (order and repeated values do not make a new release);
    the request id, the caller, the adapter and the time of asking are not part of it, so
    another caller asking the identical question under the same obligations gets the same
    held answer rather than a fresh draw of noise.
    """
    agg = plan.aggregation
    doc = {
        "purpose": plan.purpose,
        "dataset": plan.dataset,
        "fields": sorted(set(plan.fields)),
        "filters": sorted({canonical_json(_filter_doc(f)).decode() for f in plan.filters}),
        "aggregation": None if agg is None else agg.document(),
        "epsilon": None if plan.epsilon is None else plan.epsilon.hex(),
        "min_cell_count": plan.min_cell_count,
        "max_rows": plan.max_rows,
        "hold": hold,
    }
    return hashlib.sha256(b"gerbang release v1\n" + canonical_json(doc)).digest()


def iter_accounts(
    caller: str, purpose: str, periods: Sequence[str]
) -> Iterator[tuple[str, str, str]]:
    """The accounts one release is charged to: the caller's and the purpose's ("*"), per
    period."""
    for p in periods:
        yield caller, purpose, p
        yield "*", purpose, p
