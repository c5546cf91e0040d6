"""The query model inside Gerbang: typed, validated dataclasses.

Generated protobuf classes stay at the boundary (`from_proto`/`to_proto` here);
everything else works on these. Constructors validate, so an object that exists
is well formed: a filter has an operator from the closed set and the number of
values that operator takes; limits on sizes are enforced once, here.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from gateway.errors import UntrustedInputError
from gateway.protocol.canonical import MAX_INTEGER
from gerbang.v1 import adapter_pb2, common_pb2, query_pb2

Scalar = str | int | float | bool | dt.datetime

# Size limits on a request: generous for real queries, small enough that a
# request cannot be used to exhaust the gateway, the policy engine or an adapter.
MAX_FIELDS: Final = 64
MAX_FILTERS: Final = 32
MAX_VALUES: Final = 256
# Across all filters: each value is a 64-hex commitment in the audit leaf, and a leaf holds
# at most 65,535 bytes (C2SP tlog-tiles); 512 leaves room for everything else in it.
MAX_TOTAL_VALUES: Final = 512
MAX_STRING: Final = 256
MAX_GROUP_BY: Final = 8
MAX_REQUEST_BYTES: Final = 64 * 1024
# The times a request may name (filter values, analytics windows): every incident record,
# with room to spare. Planning and release windows step by months, weeks and time zones
# from them; far from datetime's limits (years 1 and 9999) those steps cannot overflow.
EARLIEST_TIME: Final = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
LATEST_TIME: Final = dt.datetime(3000, 1, 1, tzinfo=dt.UTC)


# The analytics operations of AnalyticsService (gateway/analytics/operations.py).
OPERATIONS: Final = frozenset(
    {"heatmap", "patterns", "risk_scores", "patrol_plan", "security_index", "early_warning"}
)


class InvalidQuery(UntrustedInputError):
    """The request is malformed: it names the part that is wrong."""


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

    def __post_init__(self) -> None:
        _name("group-by field", self.field)
        if self.bucket is Bucket.H3 and not 0 <= self.h3_resolution <= 15:
            raise InvalidQuery(f"H3 resolution {self.h3_resolution} is outside 0..15")


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
            "group_by": [[g.field, str(g.bucket), g.h3_resolution] for g in self.group_by],
            "measure": str(self.measure),
        }

    @classmethod
    def from_proto(cls, a: common_pb2.Aggregation) -> Aggregation:
        measure = _MEASURE_FROM_PROTO.get(a.measure)
        if measure is None:
            raise InvalidQuery(f"unknown aggregation measure {a.measure}")
        groups = []
        for g in a.group_by:
            bucket = _BUCKET_FROM_PROTO.get(g.bucket)
            if bucket is None:
                raise InvalidQuery(f"a group-by has unknown bucket {int(g.bucket)}")
            groups.append(GroupBy(g.field, bucket, g.h3_resolution))
        return cls(tuple(groups), measure)

    def to_proto(self) -> common_pb2.Aggregation:
        return common_pb2.Aggregation(
            group_by=[
                common_pb2.GroupBy(
                    field=g.field, bucket=_BUCKET_TO_PROTO[g.bucket], h3_resolution=g.h3_resolution
                )
                for g in self.group_by
            ],
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
