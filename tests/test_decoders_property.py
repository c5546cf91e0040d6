"""The request decoders raise only the project's typed errors (issue 12).

Property: whatever values a caller puts in a request's fields (any int64 timestamp
seconds, any int32 nanos, any enum number, NaN, huge durations, long strings), decoding
it and building the query it asks for either succeeds or raises a `GerbangError`, which
the audited paths answer as INVALID_ARGUMENT. Anything else would escape the handler as
UNKNOWN, unaudited. The same values through real processes: tests/test_wire_values.py.
"""

from __future__ import annotations

import contextlib
import datetime as dt

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.analytics import operations as ops
from gateway.errors import GerbangError
from gateway.protocol.evidence import canonical_request
from gateway.protocol.model import Query, QueryPlan, duration_from_proto, timestamp_from_proto
from gateway.service.analytics import _check_stream, pattern_kind, risk_unit
from gerbang.v1 import adapter_pb2, analytics_pb2, common_pb2, query_pb2

INT64 = st.integers(-(2**63), 2**63 - 1)
INT32 = st.integers(-(2**31), 2**31 - 1)
UINT32 = st.integers(0, 2**32 - 1)
# Near the ends of the valid range, and anywhere in int64.
SECONDS = st.one_of(
    INT64,
    st.integers(-62_135_596_800 - 90_000, -62_135_596_800 + 90_000),
    st.integers(253_402_300_799 - 90_000, 253_402_300_799 + 90_000),
    st.integers(0, 2_000_000_000),
)
NANOS = st.one_of(INT32, st.integers(-1, 1_000_000_000))
TEXT = st.text(max_size=300)
NAME = st.sampled_from(["incidents", "occurred_at", "kecamatan", "kota", "category", ""]) | TEXT

timestamps = st.builds(lambda s, n: {"seconds": s, "nanos": n}, SECONDS, NANOS)
values = st.one_of(
    st.builds(lambda v: common_pb2.Value(string_value=v), TEXT),
    st.builds(lambda v: common_pb2.Value(int_value=v), INT64),
    st.builds(lambda v: common_pb2.Value(double_value=v), st.floats()),
    st.builds(lambda v: common_pb2.Value(bool_value=v), st.booleans()),
    st.builds(lambda t: common_pb2.Value(time_value=t), timestamps),
    st.just(common_pb2.Value()),
)
filters = st.builds(
    lambda f, op, vs: common_pb2.Filter(field=f, op=op, values=vs),
    NAME,
    st.one_of(st.integers(0, 9), INT32),
    st.lists(values, max_size=4),
)
aggregations = st.builds(
    lambda gs, m: common_pb2.Aggregation(group_by=gs, measure=m),
    st.lists(
        st.builds(
            lambda f, b, r: common_pb2.GroupBy(field=f, bucket=b, h3_resolution=r),
            NAME,
            st.one_of(st.integers(0, 8), INT32),
            st.one_of(st.integers(0, 16), UINT32),
        ),
        max_size=9,
    ),
    st.one_of(st.integers(0, 3), INT32),
)


@st.composite
def query_requests(draw: st.DrawFn) -> query_pb2.QueryRequest:
    r = query_pb2.QueryRequest(
        dataset=draw(NAME),
        fields=draw(st.lists(NAME, max_size=5)),
        filters=draw(st.lists(filters, max_size=4)),
        purpose=draw(NAME),
        legal_basis=draw(TEXT),
        case_reference=draw(TEXT),
        limit=draw(UINT32),
    )
    if draw(st.booleans()):
        r.aggregation.CopyFrom(draw(aggregations))
    if draw(st.booleans()):
        r.auth.issued_at.CopyFrom(draw(timestamps.map(lambda t: _ts(**t))))
    return r


def _ts(seconds: int, nanos: int) -> Timestamp:
    return Timestamp(seconds=seconds, nanos=nanos)


@st.composite
def scopes(draw: st.DrawFn) -> analytics_pb2.AnalyticsScope:
    s = analytics_pb2.AnalyticsScope(
        purpose=draw(NAME),
        legal_basis=draw(TEXT),
        kota=draw(st.lists(TEXT, max_size=3)),
        kecamatan=draw(st.lists(TEXT, max_size=3)),
        categories=draw(st.lists(TEXT, max_size=3)),
    )
    if draw(st.booleans()):
        s.start.CopyFrom(_ts(**draw(timestamps)))
    if draw(st.booleans()):
        s.end.CopyFrom(_ts(**draw(timestamps)))
    return s


PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(query_requests())
def test_query_request_decodes_or_raises_typed(r: query_pb2.QueryRequest) -> None:
    with contextlib.suppress(GerbangError):
        query = Query.from_proto(r)
        issued = timestamp_from_proto(r.auth.issued_at, "issued_at")
        canonical_request("spiffe://x/y/z", query, b"n" * 16, issued, b"k" * 32)


@PROPERTY
@given(scopes(), UINT32, INT32, INT32)
def test_analytics_scope_decodes_or_raises_typed(
    s: analytics_pb2.AnalyticsScope, resolution: int, kind: int, unit: int
) -> None:
    for build in (
        lambda scope: ops.heatmap_query(scope, resolution),
        lambda scope: ops.patterns_query(scope, pattern_kind(kind)),
        lambda scope: ops.risk_query(scope, risk_unit(unit), resolution),
        lambda scope: ops.patrol_query(scope, resolution),
        ops.index_query,
        ops.warning_query,
    ):
        with contextlib.suppress(GerbangError):
            build(ops.Scope.from_proto(s))


@PROPERTY
@given(scopes(), INT64, INT32)
def test_watch_request_decodes_or_raises_typed(
    s: analytics_pb2.AnalyticsScope, seconds: int, nanos: int
) -> None:
    request = analytics_pb2.WatchWarningsRequest(scope=s)
    request.interval.seconds = seconds
    request.interval.nanos = nanos
    with contextlib.suppress(GerbangError):
        _check_stream(request)


@PROPERTY
@given(SECONDS, NANOS)
def test_timestamp_and_duration_decoders_are_total(seconds: int, nanos: int) -> None:
    with contextlib.suppress(GerbangError):
        t = timestamp_from_proto(_ts(seconds, nanos), "t")
        assert dt.datetime(1, 1, 1, tzinfo=dt.UTC) <= t
    with contextlib.suppress(GerbangError):
        duration_from_proto(Duration(seconds=seconds, nanos=nanos), "d")


@PROPERTY
@given(query_requests(), timestamps, timestamps)
def test_adapter_plan_decodes_or_raises_typed(
    r: query_pb2.QueryRequest, expires: dict[str, int], until: dict[str, int]
) -> None:
    p = adapter_pb2.QueryPlan(
        dataset=r.dataset,
        fields=r.fields,
        filters=r.filters,
        purpose=r.purpose,
        max_rows=r.limit,
        expires_at=_ts(**expires),
        release_until=_ts(**until),
    )
    if r.HasField("aggregation"):
        p.aggregation.CopyFrom(r.aggregation)
    with contextlib.suppress(GerbangError):
        QueryPlan.from_proto(p)
