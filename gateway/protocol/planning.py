"""From a validated query to the policy's input, and from its decision to plans (pure).

`policy_input` is the document the policy engines evaluate (docs/policy.md):
time-typed values become epoch seconds so that both engines can do arithmetic
on them. `narrow` applies the decision's obligations to the query and
addresses the result to one adapter: granted fields only, the policy's row
filters appended to the caller's, aggregate-only, the row limit, the
minimum cell count, the differential-privacy epsilon and the case binding of a
record-level purpose (ADR 0013).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, Final

from gateway.protocol.catalog import Dataset, FieldType
from gateway.protocol.limits import InvalidQuery
from gateway.protocol.model import Bucket, CaseBinding, Filter, GroupBy, Op, Query, QueryPlan
from gateway.protocol.values import WIB, Scalar, utc

PLAN_LIFETIME: Final = dt.timedelta(seconds=30)


def _json_value(value: Scalar) -> Any:
    if isinstance(value, dt.datetime):
        return int(utc(value).timestamp())
    return value


def grid_units(values: Sequence[Scalar]) -> list[str]:
    """The time grids (WIB) every one of `values` falls on, finest first: "hour", "day",
    "week" (a Monday), "month" (a first). The policy compares them with a purpose's time
    generalisation; computed here because the month grid needs a calendar."""
    units = ["hour", "day", "week", "month"]
    for v in values:
        if not isinstance(v, dt.datetime):
            return []
        local = utc(v).astimezone(WIB)
        if (local.minute, local.second, local.microsecond) != (0, 0, 0):
            return []
        if local.hour != 0:
            units = ["hour"]
            continue
        if local.weekday() != 0 and "week" in units:
            units.remove("week")
        if local.day != 1 and "month" in units:
            units.remove("month")
    return units


def _filter_input(f: Filter) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "field": f.field,
        "op": str(f.op),
        "values": [_json_value(v) for v in f.values],
    }
    if isinstance(f.values[0], dt.datetime):
        doc["aligned"] = grid_units(f.values)
    return doc


def _group_by_input(g: GroupBy) -> dict[str, Any]:
    doc: dict[str, Any] = {"field": g.field, "bucket": str(g.bucket)}
    if g.bucket is Bucket.H3:
        doc["h3_resolution"] = g.h3_resolution
    elif g.bucket is Bucket.SPANS:
        # The policy checks the boundaries again (ADR 0032): each a local week start,
        # strictly increasing, the first and last the window's bounds.
        doc["boundaries"] = [_json_value(b) for b in g.boundaries]
    return doc


def policy_input(
    caller: str, query: Query, now: dt.datetime, *, user_committed: bool = False
) -> dict[str, Any]:
    """The input document; `user_committed`: the signed request names its end user."""
    now = utc(now)
    agg = query.aggregation
    aggregation: dict[str, Any] | None = None
    if agg is not None:
        aggregation = {
            "group_by": [_group_by_input(g) for g in agg.group_by],
            "measure": str(agg.measure),
        }
    return {
        "time": {"now": int(now.timestamp()), "now_rfc3339": now.strftime("%Y-%m-%dT%H:%M:%SZ")},
        "caller": {"id": caller},
        "user_committed": user_committed,
        "request": {
            "dataset": query.dataset,
            "fields": list(query.fields),
            "filters": [_filter_input(f) for f in query.filters],
            "aggregation": aggregation,
            "purpose": query.purpose,
            "legal_basis": query.legal_basis,
            "case_reference": query.case_reference,
            "limit": query.limit,
            "operation": query.operation or None,
        },
    }


def _scalar(kind: FieldType, value: Any, field: str) -> Scalar:
    if kind is FieldType.TIME and isinstance(value, int) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    if isinstance(value, str | int | float | bool):
        return value
    raise InvalidQuery(f"policy row filter on {field!r} has a value of type {type(value).__name__}")


def row_filters(dataset: Dataset, filters: Sequence[Mapping[str, Any]]) -> tuple[Filter, ...]:
    """The policy's row filters as typed filters; any it cannot express fails closed."""
    out = []
    for f in filters:
        name = str(f.get("field", ""))
        kind = dataset.fields.get(name)
        if kind is None:
            raise InvalidQuery(f"policy row filter names unknown field {name!r}")
        try:
            op = Op(str(f.get("op")))
        except ValueError as e:
            raise InvalidQuery(f"policy row filter on {name!r} has unknown operator") from e
        values = f.get("values")
        if not isinstance(values, list):
            raise InvalidQuery(f"policy row filter on {name!r} has no value list")
        out.append(Filter(name, op, tuple(_scalar(kind, v, name) for v in values)))
    return tuple(out)


def narrow(
    query: Query,
    *,
    fields: Sequence[str],
    extra_filters: Sequence[Filter],
    aggregate_only: bool,
    max_rows: int,
    min_cell_count: int,
    request_id: str,
    adapter_id: str,
    policy_revision: str,
    now: dt.datetime,
    request_hash: bytes = b"",
    caller: str = "",
    caller_hpke_public_key: bytes = b"",
    epsilon: float | None = None,
    case_binding: CaseBinding | None = None,
) -> QueryPlan:
    """The plan for one adapter: the query narrowed by the decision's obligations."""
    granted = set(fields)
    kept = tuple(f for f in query.fields if f in granted)
    if query.aggregation is None and not kept:
        raise InvalidQuery("no asked field was granted")
    limit = max_rows if query.limit == 0 else min(query.limit, max_rows)
    return QueryPlan(
        plan_id=f"{request_id}/{adapter_id}",
        request_id=request_id,
        adapter_id=adapter_id,
        dataset=query.dataset,
        fields=kept,
        filters=(*query.filters, *extra_filters),
        aggregation=query.aggregation,
        aggregate_only=aggregate_only,
        max_rows=limit,
        min_cell_count=min_cell_count,
        purpose=query.purpose,
        expires_at=utc(now) + PLAN_LIFETIME,
        policy_revision=policy_revision,
        request_hash=request_hash,
        caller=caller,
        caller_hpke_public_key=caller_hpke_public_key,
        epsilon=epsilon,
        case_binding=case_binding,
    )
