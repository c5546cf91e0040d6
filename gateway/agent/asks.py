"""What a client asks, from its JSON body: one typed value per QueryService and AnalyticsService
operation, validated before anything is signed.

Filter values are JSON scalars; a time is written `{"time": "2026-10-01T00:00:00Z"}` so that
a string is never taken for a time by guessing. Scope times are RFC 3339 with an offset.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from gateway.analytics import operations as ops
from gateway.protocol.limits import InvalidQuery
from gateway.protocol.model import Aggregation, Bucket, Filter, GroupBy, Measure, Op, Query
from gateway.protocol.spans import MAX_BOUNDARIES
from gateway.protocol.values import Scalar

MAX_PREVIOUS = 1000


@dataclass(frozen=True)
class QueryAsk:
    query: Query


@dataclass(frozen=True)
class HeatmapAsk:
    scope: ops.Scope
    resolution: int


@dataclass(frozen=True)
class PatternsAsk:
    scope: ops.Scope
    kind: ops.PatternKind


@dataclass(frozen=True)
class RiskScoresAsk:
    scope: ops.Scope
    unit: ops.RiskUnit
    resolution: int


@dataclass(frozen=True)
class PatrolPlanAsk:
    scope: ops.Scope
    units: int
    cap_per_area: int
    resolution: int
    previous: tuple[str, ...]


@dataclass(frozen=True)
class SecurityIndexAsk:
    scope: ops.Scope


@dataclass(frozen=True)
class WatchWarningsAsk:
    scope: ops.Scope
    interval: dt.timedelta


Ask = (
    QueryAsk
    | HeatmapAsk
    | PatternsAsk
    | RiskScoresAsk
    | PatrolPlanAsk
    | SecurityIndexAsk
    | WatchWarningsAsk
)


def _str(body: Mapping[str, Any], key: str, default: str | None = None) -> str:
    value = body.get(key, default)
    if not isinstance(value, str):
        raise InvalidQuery(f"{key!r} must be a string")
    return value


def _int(body: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidQuery(f"{key!r} must be a whole number from {low} to {high}")
    return value


def _strings(body: Mapping[str, Any], key: str, limit: int = 100) -> tuple[str, ...]:
    value = body.get(key, [])
    if not isinstance(value, list) or len(value) > limit:
        raise InvalidQuery(f"{key!r} must be a list of at most {limit} strings")
    if not all(isinstance(v, str) for v in value):
        raise InvalidQuery(f"{key!r} must be a list of strings")
    return tuple(value)


def _time(text: object, key: str) -> dt.datetime:
    if not isinstance(text, str):
        raise InvalidQuery(f"{key!r} must be an RFC 3339 time")
    try:
        t = dt.datetime.fromisoformat(text)
    except ValueError as e:
        raise InvalidQuery(f"{key!r}: {text[:40]!r} is not an RFC 3339 time") from e
    if t.tzinfo is None:
        raise InvalidQuery(f"{key!r} needs a UTC offset (e.g. Z or +07:00)")
    return t


def _object(body: object, what: str) -> Mapping[str, Any]:
    if not isinstance(body, dict):
        raise InvalidQuery(f"{what} must be a JSON object")
    return body


def scope(body: Mapping[str, Any]) -> ops.Scope:
    start = body.get("start")
    end = body.get("end")
    return ops.Scope(
        purpose=_str(body, "purpose"),
        legal_basis=_str(body, "legal_basis"),
        start=None if start is None else _time(start, "start"),
        end=None if end is None else _time(end, "end"),
        kota=_strings(body, "kota"),
        kecamatan=_strings(body, "kecamatan"),
        categories=_strings(body, "categories"),
    )


def _value(v: object) -> Scalar:
    if isinstance(v, dict) and set(v) == {"time"}:
        return _time(v["time"], "time")
    if isinstance(v, bool | int | float | str):
        return v
    raise InvalidQuery('a filter value must be a string, number, boolean or {"time": ...}')


def query(body: Mapping[str, Any]) -> Query:
    filters = []
    raw_filters = body.get("filters", [])
    if not isinstance(raw_filters, list):
        raise InvalidQuery("'filters' must be a list")
    for f in raw_filters:
        f = _object(f, "a filter")
        try:
            op = Op(_str(f, "op"))
        except ValueError as e:
            raise InvalidQuery(f"unknown filter operator; one of {', '.join(Op)}") from e
        values = f.get("values")
        if not isinstance(values, list):
            raise InvalidQuery("a filter's 'values' must be a list")
        filters.append(Filter(_str(f, "field"), op, tuple(_value(v) for v in values)))
    aggregation = None
    if (agg := body.get("aggregation")) is not None:
        agg = _object(agg, "'aggregation'")
        groups = []
        raw_groups = agg.get("group_by", [])
        if not isinstance(raw_groups, list):
            raise InvalidQuery("'group_by' must be a list")
        for g in raw_groups:
            g = _object(g, "a group-by")
            try:
                bucket = Bucket(_str(g, "bucket", "none"))
            except ValueError as e:
                raise InvalidQuery(f"unknown bucket; one of {', '.join(Bucket)}") from e
            raw_boundaries = g.get("boundaries", [])
            if not isinstance(raw_boundaries, list) or len(raw_boundaries) > MAX_BOUNDARIES:
                raise InvalidQuery(
                    f"'boundaries' must be a list of at most {MAX_BOUNDARIES} RFC 3339 times"
                )
            boundaries = tuple(_time(b, "boundaries") for b in raw_boundaries)
            groups.append(
                GroupBy(_str(g, "field"), bucket, _int(g, "h3_resolution", 0, 0, 15), boundaries)
            )
        try:
            measure = Measure(_str(agg, "measure", "count"))
        except ValueError as e:
            raise InvalidQuery(f"unknown measure; one of {', '.join(Measure)}") from e
        aggregation = Aggregation(tuple(groups), measure)
    return Query(
        dataset=_str(body, "dataset"),
        fields=_strings(body, "fields"),
        filters=tuple(filters),
        aggregation=aggregation,
        purpose=_str(body, "purpose"),
        legal_basis=_str(body, "legal_basis"),
        case_reference=_str(body, "case_reference", ""),
        limit=_int(body, "limit", 0, 0, 1_000_000),
    )


OperationName = Literal[
    "query", "heatmap", "patterns", "risk-scores", "patrol-plan", "security-index", "watch-warnings"
]


def parse(operation: OperationName, raw: object) -> Ask:
    """The typed ask of `operation` from its JSON body; InvalidQuery names what is wrong."""
    body = _object(raw, "the request body")
    if operation == "query":
        return QueryAsk(query(body))
    s = scope(body)
    if operation == "heatmap":
        return HeatmapAsk(s, _int(body, "resolution", 8, 0, 15))
    if operation == "patterns":
        kind = _str(body, "kind", "hour_weekday")
        if kind not in ("hour_weekday", "modus"):
            raise InvalidQuery("'kind' must be 'hour_weekday' or 'modus'")
        return PatternsAsk(s, "modus" if kind == "modus" else "hour_weekday")
    if operation == "risk-scores":
        unit = _str(body, "unit", "kecamatan")
        if unit not in ("kecamatan", "h3"):
            raise InvalidQuery("'unit' must be 'kecamatan' or 'h3'")
        return RiskScoresAsk(
            s, "h3" if unit == "h3" else "kecamatan", _int(body, "resolution", 8, 0, 15)
        )
    if operation == "patrol-plan":
        return PatrolPlanAsk(
            s,
            units=_int(body, "units", 10, 1, 1000),
            cap_per_area=_int(body, "cap_per_area", 2, 1, 1000),
            resolution=_int(body, "resolution", 8, 0, 15),
            previous=_strings(body, "previous", MAX_PREVIOUS),
        )
    if operation == "security-index":
        return SecurityIndexAsk(s)
    interval = _int(body, "interval_seconds", 0, 0, 7 * 86400)
    return WatchWarningsAsk(s, dt.timedelta(seconds=interval))
