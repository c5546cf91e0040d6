"""AnalyticsService: each operation compiled into one query and served like QueryService.Query.

The gateway compiles the typed request with `gateway.analytics.operations` (the same code
the client library signs with), then the query takes the one path every query takes
(`gateway.service.pipeline`): signature and nonce, policy (which sees the operation's name), privacy
budget, signed plans to every adapter, sealed answers, and the audit entry before anything
leaves. WatchWarnings is a stream: the signed request covers the days scanned, and each day
is its own decision, release and audit entry, releasing only what is new (the first day with
its lookback, each later day alone) once the day has ended. Before each day's release the
pipeline checks the stream's lifetime and its signing key again, and the day's own decision
and charge check the purpose, the policy revision and the budget: a revoked key or a
lifetime reached ends the stream with its status, audited.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Callable
from typing import Any, Final, TypeAlias

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from gateway.analytics import operations as ops
from gateway.protocol.model import InvalidQuery, Query, duration_from_proto
from gateway.service import answering
from gateway.service.pipeline import STREAM_LIFETIME, Pipeline
from gateway.service.recording import Outcome
from gateway.service.refusals import RequestRefused
from gateway.service.status import abort, identify, receipted
from gerbang.v1 import analytics_pb2, analytics_pb2_grpc, query_pb2

_Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"

SERVICE: Final = "AnalyticsService"
# How often a stream that has caught up checks whether the present day has ended.
MIN_LIVE_INTERVAL: Final = 1.0
MAX_INTERVAL: Final = 86_400.0
# Each day replayed is a release and an audit entry: a year at a time.
MAX_REPLAY: Final = dt.timedelta(days=366)

_PATTERN_KINDS: Final[dict[int, ops.PatternKind]] = {
    analytics_pb2.PATTERN_KIND_HOUR_WEEKDAY: "hour_weekday",
    analytics_pb2.PATTERN_KIND_MODUS: "modus",
}
_RISK_UNITS: Final[dict[int, ops.RiskUnit]] = {
    analytics_pb2.RISK_UNIT_KECAMATAN: "kecamatan",
    analytics_pb2.RISK_UNIT_H3: "h3",
}


def pattern_kind(value: int) -> ops.PatternKind:
    kind = _PATTERN_KINDS.get(value)
    if kind is None:
        raise InvalidQuery("the pattern kind is missing or unknown")
    return kind


def risk_unit(value: int) -> ops.RiskUnit:
    unit = _RISK_UNITS.get(value)
    if unit is None:
        raise InvalidQuery("the risk unit is missing or unknown (kecamatan or h3)")
    return unit


def _auth(scope: analytics_pb2.AnalyticsScope) -> query_pb2.RequestAuth | None:
    return scope.auth if scope.HasField("auth") else None


class AnalyticsServicer(analytics_pb2_grpc.AnalyticsServiceServicer):
    def __init__(self, pipeline: Pipeline, stream_lifetime: dt.timedelta = STREAM_LIFETIME) -> None:
        self.pipeline = pipeline
        # How long a stream's signed request authorises releases (issue 12 makes it a
        # registry setting per caller; this is the default).
        self.stream_lifetime = stream_lifetime

    async def _serve(
        self,
        request: Any,
        build: Callable[[], Query],
        context: _Context,
        method: str,
    ) -> query_pb2.QueryResponse:
        caller = await identify(context, SERVICE, method)
        auth = _auth(request.scope)
        try:
            recorded = await self.pipeline.run(
                caller,
                lambda o: answering.query(self.pipeline, request, build, auth, o),
                service=SERVICE,
                method=method,
            )
        except RequestRefused as e:
            await abort(context, e)
            raise
        return receipted(recorded)

    async def Heatmap(
        self, request: analytics_pb2.HeatmapRequest, context: _Context
    ) -> analytics_pb2.HeatmapResponse:
        answer = await self._serve(
            request,
            lambda: ops.heatmap_query(ops.Scope.from_proto(request.scope), request.resolution),
            context,
            "Heatmap",
        )
        return analytics_pb2.HeatmapResponse(answer=answer)

    async def Patterns(
        self, request: analytics_pb2.PatternsRequest, context: _Context
    ) -> analytics_pb2.PatternsResponse:
        answer = await self._serve(
            request,
            lambda: ops.patterns_query(
                ops.Scope.from_proto(request.scope), pattern_kind(request.kind)
            ),
            context,
            "Patterns",
        )
        return analytics_pb2.PatternsResponse(answer=answer)

    async def RiskScores(
        self, request: analytics_pb2.RiskScoresRequest, context: _Context
    ) -> analytics_pb2.RiskScoresResponse:
        answer = await self._serve(
            request,
            lambda: ops.risk_query(
                ops.Scope.from_proto(request.scope), risk_unit(request.unit), request.resolution
            ),
            context,
            "RiskScores",
        )
        return analytics_pb2.RiskScoresResponse(answer=answer)

    async def PatrolPlan(
        self, request: analytics_pb2.PatrolPlanRequest, context: _Context
    ) -> analytics_pb2.PatrolPlanResponse:
        answer = await self._serve(
            request,
            lambda: ops.patrol_query(ops.Scope.from_proto(request.scope), request.resolution),
            context,
            "PatrolPlan",
        )
        return analytics_pb2.PatrolPlanResponse(answer=answer)

    async def SecurityIndex(
        self, request: analytics_pb2.SecurityIndexRequest, context: _Context
    ) -> analytics_pb2.SecurityIndexResponse:
        answer = await self._serve(
            request,
            lambda: ops.index_query(ops.Scope.from_proto(request.scope)),
            context,
            "SecurityIndex",
        )
        return analytics_pb2.SecurityIndexResponse(answer=answer)

    async def WatchWarnings(
        self, request: analytics_pb2.WatchWarningsRequest, context: _Context
    ) -> AsyncIterator[analytics_pb2.WatchWarningsResponse]:
        p = self.pipeline
        method = "WatchWarnings"
        caller = await identify(context, SERVICE, method)
        try:
            opened = await p.run(
                caller,
                lambda o: answering.open_stream(
                    p,
                    request,
                    lambda: _check_stream(request),
                    _auth(request.scope),
                    o,
                    self.stream_lifetime,
                ),
                service=SERVICE,
                method=method,
            )
        except RequestRefused as e:
            await abort(context, e)
            raise
        grant = opened.value
        scope = ops.Scope.from_proto(request.scope)  # decoded and checked by _check_stream
        assert scope.start is not None
        interval = duration_from_proto(request.interval, "interval").total_seconds()
        day = ops.local_day(scope.start)
        last = (
            None if scope.end is None else ops.local_day(scope.end - dt.timedelta(microseconds=1))
        )
        while last is None or day <= last:
            now = dt.datetime.now(dt.UTC)
            if day >= ops.local_day(now) and now < grant.expires_at:
                # A day is released once it has ended: a running day re-read would be a new
                # noisy release of the same incidents, charged again each time (docs/adr/0014).
                wait = min(max(interval, MIN_LIVE_INTERVAL), _seconds_left(grant.expires_at))
                await asyncio.sleep(wait)
                continue

            async def release(o: Outcome, day: dt.date = day) -> query_pb2.QueryResponse:
                # The day's query is built inside the frame: whatever fails is audited.
                return await answering.tick(p, grant, ops.warning_tick(scope, day), o)

            try:
                # Past its lifetime the tick is refused (StreamExpired) and audited: the
                # stream ends with that status, whether or not a day was due.
                recorded = await p.run(
                    caller,
                    release,
                    service=SERVICE,
                    method=method,
                    request_hash=grant.request_hash,
                )
            except RequestRefused as e:
                await abort(context, e)
                raise
            yield analytics_pb2.WatchWarningsResponse(
                day=_timestamp(ops.local_midnight(day)), answer=receipted(recorded)
            )
            day += dt.timedelta(days=1)
            if interval > 0:
                await asyncio.sleep(min(interval, _seconds_left(grant.expires_at)))


def _seconds_left(until: dt.datetime) -> float:
    return max(0.0, (until - dt.datetime.now(dt.UTC)).total_seconds())


def _check_stream(request: analytics_pb2.WatchWarningsRequest) -> Query:
    scope = ops.Scope.from_proto(request.scope)
    seconds = duration_from_proto(request.interval, "interval").total_seconds()
    if not 0 <= seconds <= MAX_INTERVAL:
        raise InvalidQuery(f"the interval must be 0 to {MAX_INTERVAL:.0f} seconds")
    query = ops.warning_query(scope)  # refuses a scope without a start
    assert scope.start is not None
    if scope.end is not None:
        if scope.end <= scope.start:
            raise InvalidQuery("the window's end must come after its start")
        if scope.end - scope.start > MAX_REPLAY:
            raise InvalidQuery(
                f"a replay covers at most {MAX_REPLAY.days} days; ask for the rest in another"
            )
    return query


def _timestamp(t: dt.datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(t)
    return ts
