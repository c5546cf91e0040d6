"""The query model inside Gerbang: typed, validated dataclasses.

Generated protobuf classes stay at the boundary (`from_proto`/`to_proto` here);
everything else works on these. Constructors validate, so an object that exists
is well formed: a filter has an operator from the closed set and the number of
values that operator takes; the limits on sizes (`gateway.protocol.limits`) are
enforced once, here. The values a query and a result carry, and their wire forms,
are `gateway.protocol.values`.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from gateway.protocol.canonical import MAX_INTEGER
from gateway.protocol.limits import (
    MAX_FIELDS,
    MAX_FILTERS,
    MAX_GROUP_BY,
    MAX_STRING,
    MAX_TOTAL_VALUES,
    MAX_VALUES,
    InvalidQuery,
)
from gateway.protocol.spans import MAX_BOUNDARIES, check_boundaries
from gateway.protocol.values import (
    Scalar,
    check_time,
    time_text,
    timestamp_from_proto,
    utc,
    value_from_proto,
    value_to_proto,
)
from gerbang.v1 import adapter_pb2, common_pb2, query_pb2

# The analytics operations of AnalyticsService (gateway/analytics/operations.py).
OPERATIONS: Final = frozenset(
    {"heatmap", "patterns", "risk_scores", "patrol_plan", "security_index", "early_warning"}
)


class Op(StrEnum):
    EQ = "eq"
    NE = "ne"
    LT = "lt"
    LE = "le"
    GT = "gt"
    GE = "ge"
    IN = "in"
    NOT_IN = "not_in"


class Bucket(StrEnum):
    NONE = "none"
    HOUR_OF_DAY = "hour_of_day"
    DAY_OF_WEEK = "day_of_week"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    H3 = "h3"
    # Whole local weeks between explicit boundaries (gateway.protocol.spans, ADR 0032).
    SPANS = "spans"


class Measure(StrEnum):
    COUNT = "count"
    EXISTS = "exists"


_OP_FROM_PROTO: Final = {
    common_pb2.OPERATOR_EQ: Op.EQ,
    common_pb2.OPERATOR_NE: Op.NE,
    common_pb2.OPERATOR_LT: Op.LT,
    common_pb2.OPERATOR_LE: Op.LE,
    common_pb2.OPERATOR_GT: Op.GT,
    common_pb2.OPERATOR_GE: Op.GE,
    common_pb2.OPERATOR_IN: Op.IN,
    common_pb2.OPERATOR_NOT_IN: Op.NOT_IN,
}
_OP_TO_PROTO: Final = {v: k for k, v in _OP_FROM_PROTO.items()}
_BUCKET_FROM_PROTO: Final = {
    common_pb2.BUCKET_NONE: Bucket.NONE,
    common_pb2.BUCKET_UNSPECIFIED: Bucket.NONE,
    common_pb2.BUCKET_HOUR_OF_DAY: Bucket.HOUR_OF_DAY,
    common_pb2.BUCKET_DAY_OF_WEEK: Bucket.DAY_OF_WEEK,
    common_pb2.BUCKET_DAY: Bucket.DAY,
    common_pb2.BUCKET_WEEK: Bucket.WEEK,
    common_pb2.BUCKET_MONTH: Bucket.MONTH,
    common_pb2.BUCKET_H3: Bucket.H3,
    common_pb2.BUCKET_SPANS: Bucket.SPANS,
}
_BUCKET_TO_PROTO: Final = {v: k for k, v in _BUCKET_FROM_PROTO.items() if k}
_MEASURE_FROM_PROTO: Final = {
    common_pb2.MEASURE_UNSPECIFIED: Measure.COUNT,
    common_pb2.MEASURE_COUNT: Measure.COUNT,
    common_pb2.MEASURE_EXISTS: Measure.EXISTS,
}
_MEASURE_TO_PROTO: Final = {
    Measure.COUNT: common_pb2.MEASURE_COUNT,
    Measure.EXISTS: common_pb2.MEASURE_EXISTS,
}


def _name(kind: str, value: str) -> str:
    # The message never quotes the name: it is what the caller typed, and refusals are
    # logged (ADR 0013).
    if not value:
        raise InvalidQuery(f"{kind} is missing")
    if len(value) > MAX_STRING or not value.replace("_", "").isalnum():
        raise InvalidQuery(
            f"{kind} is not a valid name: letters, digits and _ only, at most {MAX_STRING}"
        )
    return value


@dataclass(frozen=True)
class Filter:
    field: str
    op: Op
    values: tuple[Scalar, ...]

    def __post_init__(self) -> None:
        _name("filter field", self.field)
        n = len(self.values)
        if self.op in (Op.IN, Op.NOT_IN):
            if not 1 <= n <= MAX_VALUES:
                raise InvalidQuery(
                    f"a filter with operator {self.op} takes 1 to {MAX_VALUES} values, got {n}"
                )
        elif n != 1:
            raise InvalidQuery(f"a filter with operator {self.op} takes exactly one value, got {n}")
        kinds = {type(v) for v in self.values}
        if len(kinds) > 1:
            raise InvalidQuery("a filter mixes value types")
        for v in self.values:
            if isinstance(v, dt.datetime):
                check_time(v, "a filter's time value")
            elif type(v) is int and not -MAX_INTEGER <= v <= MAX_INTEGER:
                # The value is signed and committed in canonical JSON, which is JCS: its numbers
                # are IEEE doubles (docs/adr/0001).
                raise InvalidQuery(
                    "an integer filter value must lie within +/-(2^53 - 1), the integers "
                    "canonical JSON holds exactly; send a larger number as a string"
                )

    @classmethod
    def from_proto(cls, f: common_pb2.Filter) -> Filter:
        op = _OP_FROM_PROTO.get(f.op)
        if op is None:
            raise InvalidQuery(f"a filter has unknown operator {int(f.op)}")
        return cls(f.field, op, tuple(value_from_proto(v) for v in f.values))

    def to_proto(self) -> common_pb2.Filter:
        return common_pb2.Filter(
            field=self.field,
            op=_OP_TO_PROTO[self.op],
            values=[value_to_proto(v) for v in self.values],
        )


@dataclass(frozen=True)
class GroupBy:
    field: str
    bucket: Bucket = Bucket.NONE
    h3_resolution: int = 0
    # Bucket.SPANS only: the span boundaries (gateway.protocol.spans).
    boundaries: tuple[dt.datetime, ...] = ()

    def __post_init__(self) -> None:
        _name("group-by field", self.field)
        if self.bucket is Bucket.H3 and not 0 <= self.h3_resolution <= 15:
            raise InvalidQuery(f"H3 resolution {self.h3_resolution} is outside 0..15")
        if self.bucket is Bucket.SPANS:
            check_boundaries(self.boundaries)
            if self.h3_resolution:
                raise InvalidQuery("a spans group-by takes no H3 resolution")
        elif self.boundaries:
            raise InvalidQuery(f"bucket {self.bucket} takes no boundaries; only spans does")

    def document(self) -> list[Any]:
        """The group-by as signed requests and audit entries write it: a spans group-by adds
        its boundaries, so every other group-by keeps its bytes."""
        if self.bucket is Bucket.SPANS:
            return [self.field, str(self.bucket), 0, [time_text(b) for b in self.boundaries]]
        return [self.field, str(self.bucket), self.h3_resolution]

    def to_proto(self) -> common_pb2.GroupBy:
        g = common_pb2.GroupBy(
            field=self.field, bucket=_BUCKET_TO_PROTO[self.bucket], h3_resolution=self.h3_resolution
        )
        for b in self.boundaries:
            g.boundaries.add().FromDatetime(utc(b))
        return g

    @classmethod
    def from_proto(cls, g: common_pb2.GroupBy) -> GroupBy:
        bucket = _BUCKET_FROM_PROTO.get(g.bucket)
        if bucket is None:
            raise InvalidQuery(f"a group-by has unknown bucket {int(g.bucket)}")
        if len(g.boundaries) > MAX_BOUNDARIES:
            raise InvalidQuery(f"a group-by has more than {MAX_BOUNDARIES} boundaries")
        boundaries = tuple(timestamp_from_proto(b, "a span boundary") for b in g.boundaries)
        return cls(g.field, bucket, g.h3_resolution, boundaries)


def check_spans_window(group_by: Sequence[GroupBy], filters: Sequence[Filter]) -> None:
    """Raise `InvalidQuery` unless every spans group-by's first and last boundaries are the
    window that the filters put on its field: bounded below by `ge` and above by `lt` filters
    only, the tightest of them exactly the first and the last boundary. So the spans cover the
    window and nothing outside it, and the adapter's calendar is the spans."""
    for g in group_by:
        if g.bucket is not Bucket.SPANS:
            continue
        lower: list[dt.datetime] = []
        upper: list[dt.datetime] = []
        for f in filters:
            if f.field != g.field or f.op not in (Op.GE, Op.GT, Op.LT, Op.LE):
                continue
            if f.op in (Op.GT, Op.LE) or not isinstance(f.values[0], dt.datetime):
                raise InvalidQuery(
                    f"a spans group-by on {g.field!r} needs its window as 'ge' and 'lt' "
                    "filters on time values"
                )
            (lower if f.op is Op.GE else upper).append(utc(f.values[0]))
        if not lower or not upper:
            raise InvalidQuery(
                f"a spans group-by on {g.field!r} needs a window: a 'ge' and an 'lt' filter"
            )
        if max(lower) != utc(g.boundaries[0]) or min(upper) != utc(g.boundaries[-1]):
            raise InvalidQuery(
                f"a spans group-by's first and last boundaries must be the window on "
                f"{g.field!r} (its 'ge' and 'lt' filters)"
            )


@dataclass(frozen=True)
class Aggregation:
    group_by: tuple[GroupBy, ...] = ()
    measure: Measure = Measure.COUNT

    def __post_init__(self) -> None:
        if len(self.group_by) > MAX_GROUP_BY:
            raise InvalidQuery(f"at most {MAX_GROUP_BY} group-by dimensions")

    def document(self) -> dict[str, Any]:
        """The aggregation as signed requests and audit entries write it."""
        return {
            "group_by": [g.document() for g in self.group_by],
            "measure": str(self.measure),
        }

    @classmethod
    def from_proto(cls, a: common_pb2.Aggregation) -> Aggregation:
        measure = _MEASURE_FROM_PROTO.get(a.measure)
        if measure is None:
            raise InvalidQuery(f"unknown aggregation measure {a.measure}")
        if len(a.group_by) > MAX_GROUP_BY:
            raise InvalidQuery(f"at most {MAX_GROUP_BY} group-by dimensions")
        return cls(tuple(GroupBy.from_proto(g) for g in a.group_by), measure)

    def to_proto(self) -> common_pb2.Aggregation:
        return common_pb2.Aggregation(
            group_by=[g.to_proto() for g in self.group_by],
            measure=_MEASURE_TO_PROTO[self.measure],
        )


@dataclass(frozen=True)
class Query:
    """What a caller asked, validated for shape (not yet for permission)."""

    dataset: str
    fields: tuple[str, ...]
    filters: tuple[Filter, ...]
    aggregation: Aggregation | None
    purpose: str
    legal_basis: str
    case_reference: str = ""
    limit: int = 0
    # The analytics operation this query was compiled from (AnalyticsService), or "" for a
    # plain QueryService query. Signed, decided on and logged with the rest.
    operation: str = ""

    def __post_init__(self) -> None:
        _name("dataset", self.dataset)
        _name("purpose", self.purpose)
        if self.operation and self.operation not in OPERATIONS:
            raise InvalidQuery("request.operation is not a known analytics operation")
        if len(self.fields) > MAX_FIELDS:
            raise InvalidQuery(f"at most {MAX_FIELDS} fields")
        if len(set(self.fields)) != len(self.fields):
            raise InvalidQuery("a field is asked for twice")
        for f in self.fields:
            _name("field", f)
        if len(self.filters) > MAX_FILTERS:
            raise InvalidQuery(f"at most {MAX_FILTERS} filters")
        values = sum(len(f.values) for f in self.filters)
        if values > MAX_TOTAL_VALUES:
            raise InvalidQuery(
                f"at most {MAX_TOTAL_VALUES} filter values in all, got {values}: the audit "
                "entry must be able to record each as a commitment"
            )
        if len(self.legal_basis) > 4 * MAX_STRING or len(self.case_reference) > MAX_STRING:
            raise InvalidQuery("legal basis or case reference is too long")
        if self.aggregation is None and not self.fields:
            raise InvalidQuery("a record-level query must name its fields")
        if self.aggregation is not None:
            check_spans_window(self.aggregation.group_by, self.filters)

    @classmethod
    def from_proto(cls, r: query_pb2.QueryRequest) -> Query:
        return cls(
            dataset=r.dataset,
            fields=tuple(r.fields),
            filters=tuple(Filter.from_proto(f) for f in r.filters),
            aggregation=Aggregation.from_proto(r.aggregation)
            if r.HasField("aggregation")
            else None,
            purpose=r.purpose,
            legal_basis=r.legal_basis,
            case_reference=r.case_reference,
            limit=r.limit,
        )

    def to_proto(self) -> query_pb2.QueryRequest:
        r = query_pb2.QueryRequest(
            dataset=self.dataset,
            fields=list(self.fields),
            filters=[f.to_proto() for f in self.filters],
            purpose=self.purpose,
            legal_basis=self.legal_basis,
            case_reference=self.case_reference,
            limit=self.limit,
        )
        if self.aggregation is not None:
            r.aggregation.CopyFrom(self.aggregation.to_proto())
        return r

    def referenced_fields(self) -> set[str]:
        """Every field the query touches: projected, filtered or grouped."""
        used = set(self.fields) | {f.field for f in self.filters}
        if self.aggregation is not None:
            used |= {g.field for g in self.aggregation.group_by}
        return used


@dataclass(frozen=True)
class CaseBinding:
    """The case a plan is bound to (ADR 0013): the adapter returns only the rows linked to the
    incidents whose police case number is one of `police_cases`."""

    reference: str
    police_cases: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.reference or len(self.reference) > MAX_STRING:
            raise InvalidQuery("a case binding needs its case reference")
        if not 1 <= len(self.police_cases) <= MAX_VALUES:
            raise InvalidQuery(f"a case binding names 1 to {MAX_VALUES} police cases")
        if not all(isinstance(c, str) and 0 < len(c) <= MAX_STRING for c in self.police_cases):
            raise InvalidQuery("a case binding's police cases must be non-empty case numbers")

    def to_proto(self) -> adapter_pb2.CaseBinding:
        return adapter_pb2.CaseBinding(
            reference=self.reference, police_cases=list(self.police_cases)
        )

    @classmethod
    def from_proto(cls, b: adapter_pb2.CaseBinding) -> CaseBinding:
        return cls(b.reference, tuple(b.police_cases))


@dataclass(frozen=True)
class QueryPlan:
    """A query narrowed by the policy's obligations, addressed to one adapter."""

    plan_id: str
    request_id: str
    adapter_id: str
    dataset: str
    fields: tuple[str, ...]
    filters: tuple[Filter, ...]
    aggregation: Aggregation | None
    aggregate_only: bool
    max_rows: int
    min_cell_count: int
    purpose: str
    expires_at: dt.datetime
    policy_revision: str
    request_hash: bytes = b""
    caller: str = ""
    caller_hpke_public_key: bytes = b""
    # Differential privacy: noise of this epsilon on every count (None: exact counts).
    epsilon: float | None = None
    # The release this plan answers, whether the gateway charged a new one, and until when
    # it is held (docs/adr/0009); empty for plans without noise.
    release_id: bytes = b""
    release_fresh: bool = False
    release_until: dt.datetime | None = None
    # Record-level access bound to one case (None: not bound; ADR 0013).
    case_binding: CaseBinding | None = None

    def __post_init__(self) -> None:
        if self.aggregate_only and self.aggregation is None:
            raise InvalidQuery("plan is aggregate-only but has no aggregation")
        if self.max_rows <= 0:
            raise InvalidQuery("plan has no row limit")
        if self.epsilon is not None:
            if not (math.isfinite(self.epsilon) and self.epsilon > 0):
                raise InvalidQuery(f"plan epsilon must be a positive number, not {self.epsilon}")
            if self.aggregation is None or self.aggregation.measure is not Measure.COUNT:
                raise InvalidQuery("a plan with epsilon must aggregate counts")
        if self.aggregation is not None:
            check_spans_window(self.aggregation.group_by, self.filters)

    def to_proto(self) -> adapter_pb2.QueryPlan:
        p = adapter_pb2.QueryPlan(
            plan_id=self.plan_id,
            request_id=self.request_id,
            adapter_id=self.adapter_id,
            dataset=self.dataset,
            fields=list(self.fields),
            filters=[f.to_proto() for f in self.filters],
            aggregate_only=self.aggregate_only,
            max_rows=self.max_rows,
            min_cell_count=self.min_cell_count,
            purpose=self.purpose,
            policy_revision=self.policy_revision,
            request_hash=self.request_hash,
            caller=self.caller,
            caller_hpke_public_key=self.caller_hpke_public_key,
            epsilon=0.0 if self.epsilon is None else self.epsilon,
            release_id=self.release_id,
            release_fresh=self.release_fresh,
        )
        if self.aggregation is not None:
            p.aggregation.CopyFrom(self.aggregation.to_proto())
        if self.case_binding is not None:
            p.case_binding.CopyFrom(self.case_binding.to_proto())
        p.expires_at.FromDatetime(utc(self.expires_at))
        if self.release_until is not None:
            p.release_until.FromDatetime(utc(self.release_until))
        return p

    @classmethod
    def from_proto(cls, p: adapter_pb2.QueryPlan) -> QueryPlan:
        return cls(
            plan_id=p.plan_id,
            request_id=p.request_id,
            adapter_id=p.adapter_id,
            dataset=p.dataset,
            fields=tuple(p.fields),
            filters=tuple(Filter.from_proto(f) for f in p.filters),
            aggregation=Aggregation.from_proto(p.aggregation)
            if p.HasField("aggregation")
            else None,
            aggregate_only=p.aggregate_only,
            max_rows=p.max_rows,
            min_cell_count=p.min_cell_count,
            purpose=p.purpose,
            expires_at=timestamp_from_proto(p.expires_at, "plan expires_at"),
            policy_revision=p.policy_revision,
            request_hash=p.request_hash,
            caller=p.caller,
            caller_hpke_public_key=p.caller_hpke_public_key,
            # proto3 has no null double: 0 (the default) means no noise.
            epsilon=p.epsilon if p.epsilon != 0 else None,
            release_id=p.release_id,
            release_fresh=p.release_fresh,
            release_until=timestamp_from_proto(p.release_until, "plan release_until")
            if p.HasField("release_until")
            else None,
            case_binding=CaseBinding.from_proto(p.case_binding)
            if p.HasField("case_binding")
            else None,
        )
