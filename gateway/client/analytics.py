"""The caller's side of AnalyticsService: sign, call, open, merge, then run the method.

    async with GerbangClient.connect(address, pki, "citata-spatial") as client:
        heat = await AnalyticsClient(client).heatmap(scope, resolution=8)
        heat.value  # {H3 cell: noisy count}; heat.result has the receipt and evidence

Every result carries the `QueryResult` it was computed from (receipt, plans, remaining
privacy budget) and the counts (`Tally`) the method read. The counts must come from plans
limited to reported incidents (`operations.reported_sources`): the guardrail is checked on
the signed plans, not assumed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import grpc

from gateway.analytics import operations as ops
from gateway.analytics.index import AreaIndex
from gateway.analytics.patrol import PatrolPlan
from gateway.analytics.patterns import ModusShare, modus_distribution, time_patterns
from gateway.analytics.risk import RiskScore
from gateway.analytics.stream import WarningHistory, released_days
from gateway.analytics.tally import InvalidTally, Tally
from gateway.analytics.warning import Alert
from gateway.client.core import GerbangClient, QueryResult, refusal
from gateway.protocol.model import Query
from gerbang.v1 import analytics_pb2, analytics_pb2_grpc, query_pb2

T = TypeVar("T")

_KINDS = {
    "hour_weekday": analytics_pb2.PATTERN_KIND_HOUR_WEEKDAY,
    "modus": analytics_pb2.PATTERN_KIND_MODUS,
}
_UNITS = {"kecamatan": analytics_pb2.RISK_UNIT_KECAMATAN, "h3": analytics_pb2.RISK_UNIT_H3}


@dataclass(frozen=True)
class Analysis(Generic[T]):
    """A method's output, the answer it was computed from and the counts it read."""

    value: T
    result: QueryResult
    counts: list[Tally]


@dataclass(frozen=True)
class DayWarnings:
    """One day of the early-warning stream: its alerts (often none) and the answer that
    released the day (the first day's answer also holds its lookback). `alerts` is None only
    if the stream's history does not cover the day's lookback, which a complete stream
    always does."""

    day: dt.date
    alerts: list[Alert] | None
    result: QueryResult


def counts_of(result: QueryResult) -> list[Tally]:
    """The merged answer as counts, checked on the signed plans: reported sources only, and
    released with differential privacy (an epsilon in every plan)."""
    ops.private_epsilon(result.plans)
    return ops.tallies(result.columns, result.rows, ops.reported_sources(result.plans))


async def _call(call: Awaitable[T]) -> T:
    try:
        return await call
    except grpc.aio.AioRpcError as e:
        raise refusal(e) from e


class AnalyticsClient:
    def __init__(self, client: GerbangClient, timeout: float = 120.0) -> None:
        self.client = client
        self.timeout = timeout
        self._stub = analytics_pb2_grpc.AnalyticsServiceStub(client.channel)

    def _scope(
        self, scope: ops.Scope, query: Query, user: bytes | None
    ) -> tuple[analytics_pb2.AnalyticsScope, bytes]:
        auth, canonical = self.client.sign(query, user=user)
        proto = scope.to_proto()
        proto.auth.CopyFrom(auth)
        return proto, canonical

    async def _ask(
        self,
        query: Query,
        scope: ops.Scope,
        send: Callable[[analytics_pb2.AnalyticsScope], Awaitable[query_pb2.QueryResponse]],
        user: bytes | None,
    ) -> tuple[QueryResult, list[Tally]]:
        proto, canonical = self._scope(scope, query, user)
        answer = await _call(send(proto))
        result = self.client.open_response(answer, canonical, proto.auth.signature)
        return result, counts_of(result)

    async def heatmap(
        self, scope: ops.Scope, resolution: int, *, user: bytes | None = None
    ) -> Analysis[dict[str, int]]:
        """Counts per H3 cell (noisy where the purpose sets an epsilon; k applied)."""

        async def send(s: analytics_pb2.AnalyticsScope) -> query_pb2.QueryResponse:
            r = analytics_pb2.HeatmapRequest(scope=s, resolution=resolution)
            return (await self._stub.Heatmap(r, timeout=self.timeout)).answer

        result, counts = await self._ask(ops.heatmap_query(scope, resolution), scope, send, user)
        return Analysis(ops.heatmap_cells(counts), result, counts)

    async def _patterns(
        self, scope: ops.Scope, kind: ops.PatternKind, user: bytes | None
    ) -> tuple[QueryResult, list[Tally]]:
        async def send(s: analytics_pb2.AnalyticsScope) -> query_pb2.QueryResponse:
            r = analytics_pb2.PatternsRequest(scope=s, kind=_KINDS[kind])
            return (await self._stub.Patterns(r, timeout=self.timeout)).answer

        return await self._ask(ops.patterns_query(scope, kind), scope, send, user)

    async def time_patterns(
        self, scope: ops.Scope, *, user: bytes | None = None
    ) -> Analysis[dict[str, list[list[int]]]]:
        """Per kecamatan, counts as `matrix[weekday][hour]` (local time, Monday first)."""
        result, counts = await self._patterns(scope, "hour_weekday", user)
        return Analysis(time_patterns(counts), result, counts)

    async def modus_patterns(
        self, scope: ops.Scope, *, user: bytes | None = None
    ) -> Analysis[dict[str, list[ModusShare]]]:
        """Per kecamatan, each modus operandi's count and share, most frequent first."""
        result, counts = await self._patterns(scope, "modus", user)
        return Analysis(modus_distribution(counts), result, counts)

    async def risk_scores(
        self,
        scope: ops.Scope,
        unit: ops.RiskUnit,
        resolution: int = 8,
        *,
        user: bytes | None = None,
    ) -> Analysis[list[RiskScore]]:
        """Scores as of the Monday that starts the week of `scope.end`, highest first."""

        async def send(s: analytics_pb2.AnalyticsScope) -> query_pb2.QueryResponse:
            r = analytics_pb2.RiskScoresRequest(scope=s, unit=_UNITS[unit], resolution=resolution)
            return (await self._stub.RiskScores(r, timeout=self.timeout)).answer

        result, counts = await self._ask(ops.risk_query(scope, unit, resolution), scope, send, user)
        end = _end(scope)
        return Analysis(ops.risk(counts, unit, end), result, counts)

    async def patrol_plan(
        self,
        scope: ops.Scope,
        *,
        units: int,
        cap_per_area: int,
        resolution: int = 8,
        previous: Sequence[str] = (),
        user: bytes | None = None,
    ) -> Analysis[tuple[PatrolPlan, list[RiskScore]]]:
        """`units` patrols over cells by expected reported incidents, at most `cap_per_area`
        per kecamatan, cells of `previous` discounted; with the cell scores it used."""

        async def send(s: analytics_pb2.AnalyticsScope) -> query_pb2.QueryResponse:
            r = analytics_pb2.PatrolPlanRequest(scope=s, resolution=resolution)
            return (await self._stub.PatrolPlan(r, timeout=self.timeout)).answer

        result, counts = await self._ask(ops.patrol_query(scope, resolution), scope, send, user)
        plan = ops.patrol(
            counts, _end(scope), units=units, cap_per_area=cap_per_area, previous=previous
        )
        return Analysis(plan, result, counts)

    async def security_index(
        self, scope: ops.Scope, *, user: bytes | None = None
    ) -> Analysis[list[AreaIndex]]:
        async def send(s: analytics_pb2.AnalyticsScope) -> query_pb2.QueryResponse:
            r = analytics_pb2.SecurityIndexRequest(scope=s)
            return (await self._stub.SecurityIndex(r, timeout=self.timeout)).answer

        result, counts = await self._ask(ops.index_query(scope), scope, send, user)
        return Analysis(ops.index(counts, _end(scope)), result, counts)

    async def watch_warnings(
        self,
        scope: ops.Scope,
        interval: dt.timedelta = dt.timedelta(0),
        *,
        user: bytes | None = None,
    ) -> AsyncIterator[DayWarnings]:
        """Each day scanned, from `scope.start` to `scope.end` (or on into the present, one
        day once it has ended), with the alerts raised for it.

        Each answer releases only the days no earlier one did (the first also its lookback);
        the alerts are computed over the history of the answers opened so far."""
        proto, canonical = self._scope(scope, ops.warning_query(scope), user)
        request = analytics_pb2.WatchWarningsRequest(scope=proto)
        request.interval.FromTimedelta(interval)
        stream = self._stub.WatchWarnings(request)
        history = WarningHistory()
        try:
            while True:
                message = await _call(stream.read())
                if message is grpc.aio.EOF:
                    return
                assert isinstance(message, analytics_pb2.WatchWarningsResponse)
                result = self.client.open_response(message.answer, canonical, proto.auth.signature)
                day = ops.local_day(message.day.ToDatetime(tzinfo=dt.UTC))
                k = min((p.min_cell_count for p in result.plans), default=0)
                days = released_days(result.plans)
                if days[-1] != day:
                    raise InvalidTally(f"the answer for {day} reads up to {days[-1]} instead")
                history.add(days, counts_of(result), k, ops.private_epsilon(result.plans))
                yield DayWarnings(day, history.alerts(day), result)
        finally:
            stream.cancel()


def _end(scope: ops.Scope) -> dt.datetime:
    if scope.end is None:
        raise ValueError("the scope needs an end")
    return scope.end
