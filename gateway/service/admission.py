"""Admission control: per-caller limits enforced before a request reaches the pipeline.

A gRPC server interceptor (`AdmissionControl.interceptor`) sees every call of the gateway's
own services, takes the caller's identity from its verified certificate and, before the
request body is authenticated, refuses with RESOURCE_EXHAUSTED a call that is over:

1. the caller's request rate (a token bucket with a burst);
2. the caller's concurrent unary requests;
3. the caller's open streams.

Such refusals are cheap and come before any signature check, so they are not one audit entry
each (a flood would fill the log): they are counted in Prometheus
(`gerbang_admission_refused_total`) and summed into ONE audit entry per caller per window,
"N requests refused ... between t0 and t1". A request that passes admission is authenticated
and audited exactly once by the pipeline, as before.

Refusals are paced (`AdmissionControl.pace`, docs/adr/0017): the caller's k-th refusal waiting
at once is answered k / rate_per_second seconds later, at most `HOLD_MAX_SECONDS`, with a
google.rpc RetryInfo. A caller in a closed loop of refused calls then gets its refusals at
about its own rate however many it sends at once, instead of as fast as the gateway can
refuse them (each costs gRPC about half a millisecond of the gateway's CPU, which other
callers wait behind). Nothing is queued for service: the call is refused either way, the
hold is a timer, and past `HELD_MAX` refusals waiting over all callers they are answered at
once.

After authentication the pipeline asks `check_plan` for the cost of the query's plan
(filters x values x adapters); over the caller's limit it is RESOURCE_EXHAUSTED, audited
with the request. Streams end at the caller's `stream_lifetime_seconds` (`stream_lifetime`
for the stream code; the interceptor cancels a stream still open past it, as a backstop).

Transport limits, for everyone before any identity is known: a TLS handshake deadline and a
cap on open connections (`server_options`; gRPC core channel arguments).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
import uuid
from collections import Counter as Tally
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import grpc
import structlog
from prometheus_client import Counter, Gauge

from gateway.protocol.audit_entry import AuditRecord
from gateway.protocol.model import Query
from gateway.protocol.tls import peer_identity
from gateway.service import status
from gateway.service.limits import CallerLimits, LimitsTable, Overloaded, TokenBucket, plan_cost

__all__ = [
    "HANDSHAKE_TIMEOUT_SECONDS",
    "HELD_MAX",
    "HOLD_MAX_SECONDS",
    "MAX_CONNECTIONS",
    "REFUSAL_WINDOW_SECONDS",
    "AdmissionControl",
    "server_options",
]

log = structlog.get_logger("gerbang.admission")

HANDSHAKE_TIMEOUT_SECONDS: Final = 5.0
MAX_CONNECTIONS: Final = 1024
REFUSAL_WINDOW_SECONDS: Final = 10.0
# Pacing of refusals: the longest a refusal waits, and how many may wait at once in total.
HOLD_MAX_SECONDS: Final = 1.0
HELD_MAX: Final = 4096
# The services whose calls are admitted per caller; health and reflection stay open.
_ADMITTED: Final = (
    "/gerbang.v1.QueryService/",
    "/gerbang.v1.AnalyticsService/",
    "/gerbang.v1.AuditService/",
)

REFUSED: Final = Counter(
    "gerbang_admission_refused_total",
    "Calls refused by admission control before authentication, by limit.",
    ["limit"],
)
HELD: Final = Gauge(
    "gerbang_admission_refusals_held",
    "Refusals being paced before they are answered.",
)
IN_FLIGHT: Final = Gauge(
    "gerbang_admission_in_flight",
    "Admitted calls in progress, by kind (request or stream).",
    ["kind"],
)


def server_options(
    handshake_timeout: float = HANDSHAKE_TIMEOUT_SECONDS,
    max_connections: int = MAX_CONNECTIONS,
) -> list[tuple[str, int]]:
    """gRPC core arguments: a connection that has not finished its TLS handshake within
    `handshake_timeout` seconds is closed (gRPC's default is 120 s), and connections past
    `max_connections` are closed as they are accepted."""
    return [
        ("grpc.server_handshake_timeout_ms", max(1, round(handshake_timeout * 1000))),
        ("grpc.max_allowed_incoming_connections", max_connections),
    ]


class AuditAppender(Protocol):
    async def append(self, record: AuditRecord) -> Any: ...


@dataclass
class _Refusals:
    """The refusals of one caller in the current window."""

    first: dt.datetime
    last: dt.datetime
    by_limit: Tally[str] = field(default_factory=Tally)


@dataclass
class _CallerState:
    bucket: TokenBucket
    requests: int = 0
    streams: int = 0
    held: int = 0  # refusals of this caller being paced


class AdmissionControl:
    """Per-caller admission: rate, concurrency, streams, plan cost, stream lifetime."""

    def __init__(
        self,
        table: LimitsTable,
        *,
        window: float = REFUSAL_WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        hold_max: float = HOLD_MAX_SECONDS,
        held_max: int = HELD_MAX,
    ) -> None:
        self.table = table
        self.window = window
        self.hold_max = hold_max
        self.held_max = held_max
        self._held = 0
        self._clock = clock
        self._state: dict[str, _CallerState] = {}
        self._refusals: dict[str, _Refusals] = {}
        self._writer: AuditAppender | None = None
        self._flusher: asyncio.Task[None] | None = None

    @classmethod
    def from_data(cls, data: Mapping[str, object], **kwargs: Any) -> AdmissionControl:
        return cls(LimitsTable.from_data(data), **kwargs)

    def update(self, data: Mapping[str, object]) -> None:
        """New limits from a reloaded registry; buckets restart at the new burst."""
        self.table = LimitsTable.from_data(data)
        for caller, state in self._state.items():
            limits = self.table.of(caller)
            state.bucket = TokenBucket(limits.rate_per_second, limits.burst, self._clock())

    def limits(self, caller: str) -> CallerLimits:
        return self.table.of(caller)

    def stream_lifetime(self, caller: str) -> float:
        """Seconds a stream of `caller` may stay open; then the caller renews it."""
        return float(self.table.of(caller).stream_lifetime_seconds)

    def check_plan(self, caller: str, query: Query, adapters: int) -> None:
        """Raise `Overloaded` when the query's plan costs more than the caller may ask."""
        cost = plan_cost(query, adapters)
        most = self.table.of(caller).max_plan_cost
        if cost > most:
            raise Overloaded(
                "max_plan_cost",
                f"permintaan terlalu besar / the query is too large: filters x values x "
                f"adapters = {cost}, over this caller's limit of {most}; split it into "
                "smaller queries",
            )

    # --- before authentication -----------------------------------------------------

    def _caller_state(self, caller: str) -> _CallerState:
        state = self._state.get(caller)
        if state is None:
            limits = self.table.of(caller)
            state = _CallerState(TokenBucket(limits.rate_per_second, limits.burst, self._clock()))
            self._state[caller] = state
        return state

    def enter(self, caller: str, stream: bool) -> None:
        """Admit one call, or raise `Overloaded` (counted, and summed into the window)."""
        limits = self.table.of(caller)
        state = self._caller_state(caller)
        if not state.bucket.take(self._clock()):
            self._refuse(caller, "rate", "rate_per_second")
        if stream and state.streams >= limits.open_streams:
            self._refuse(caller, "open streams", "open_streams")
        if not stream and state.requests >= limits.concurrent_requests:
            self._refuse(caller, "concurrent requests", "concurrent_requests")
        if stream:
            state.streams += 1
        else:
            state.requests += 1
        IN_FLIGHT.labels("stream" if stream else "request").inc()

    def leave(self, caller: str, stream: bool) -> None:
        state = self._state[caller]
        if stream:
            state.streams -= 1
        else:
            state.requests -= 1
        IN_FLIGHT.labels("stream" if stream else "request").dec()

    def _refuse(self, caller: str, what: str, limit: str) -> None:
        REFUSED.labels(limit).inc()
        now = dt.datetime.now(dt.UTC)
        window = self._refusals.get(caller)
        if window is None:
            window = self._refusals[caller] = _Refusals(now, now)
        window.last = now
        window.by_limit[limit] += 1
        refused = Overloaded(
            limit,
            f"terlalu banyak permintaan ({what}); coba lagi nanti / too many requests "
            f"from this caller ({what}); retry later",
        )
        # The earliest a retry can pass the rate: one token's time.
        refused.retry_after = 1.0 / self.table.of(caller).rate_per_second
        raise refused

    def hold_for(self, caller: str) -> float:
        """How long the refusal about to be answered for `caller` waits: k / rate for its
        k-th refusal waiting at once, at most `hold_max`; 0 once `held_max` wait overall."""
        if self._held >= self.held_max:
            return 0.0
        state = self._caller_state(caller)
        return min(self.hold_max, (state.held + 1) / self.table.of(caller).rate_per_second)

    async def pace(self, caller: str) -> None:
        """Wait before a refusal is answered (see the module's docstring). Costs a timer;
        a call cancelled meanwhile (its deadline, the caller gone) stops waiting."""
        delay = self.hold_for(caller)
        if delay <= 0.0:
            return
        state = self._caller_state(caller)
        state.held += 1
        self._held += 1
        HELD.inc()
        try:
            await asyncio.sleep(delay)
        finally:
            state.held -= 1
            self._held -= 1
            HELD.dec()

    # --- the windowed audit entries ------------------------------------------------

    def start(self, writer: AuditAppender) -> None:
        self._writer = writer
        self._flusher = asyncio.get_running_loop().create_task(
            self._flush_every_window(), name="admission-refusals"
        )

    async def stop(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        try:
            await self.flush()
        except Exception as e:
            log.error("refusal summary not audited at shutdown", error=str(e))

    async def _flush_every_window(self) -> None:
        while True:
            await asyncio.sleep(self.window)
            try:
                await self.flush()
            except Exception as e:  # the next window tries again; refusals stay counted
                log.error("refusal summary not audited", error=str(e))

    async def flush(self) -> None:
        """One audit entry per caller refused in the window just ended."""
        pending, self._refusals = self._refusals, {}
        if self._writer is None:
            return
        for caller, r in sorted(pending.items()):
            total = sum(r.by_limit.values())
            record = AuditRecord(
                time=dt.datetime.now(dt.UTC),
                kind="admission",
                request_id=uuid.uuid4().hex,
                caller=caller,
                decision="refused",
                status=grpc.StatusCode.RESOURCE_EXHAUSTED.name,
                reasons=(
                    f"{total} requests refused by admission control between "
                    f"{r.first.isoformat()} and {r.last.isoformat()}",
                    *(f"{limit}: {n}" for limit, n in sorted(r.by_limit.items())),
                ),
            )
            try:
                entry = await self._writer.append(record)
            except Exception:
                # Not lost: merged back into the next window's entry.
                self._merge(caller, r)
                raise
            log.warning("admission refusals", caller=caller, refused=total, audit_index=entry.index)

    def _merge(self, caller: str, r: _Refusals) -> None:
        now = self._refusals.get(caller)
        if now is None:
            self._refusals[caller] = r
        else:
            now.first = min(now.first, r.first)
            now.by_limit.update(r.by_limit)

    def interceptor(self) -> grpc.aio.ServerInterceptor:
        return _AdmissionInterceptor(self)


_Context = Any


async def _expire(context: _Context, task: asyncio.Task[Any] | None, after: float) -> None:
    """End a stream still open `after` seconds from now: its status first (from this task,
    so that it reaches a caller that stopped reading), then the handler's task."""
    await asyncio.sleep(after)
    with contextlib.suppress(Exception):  # abort raises once the status is sent
        await context.abort(
            grpc.StatusCode.DEADLINE_EXCEEDED,
            "stream mencapai umur maksimumnya; buka lagi dengan permintaan bertanda tangan "
            "baru / the stream reached its maximum lifetime; renew it with a freshly "
            "signed request",
        )
    if task is not None:
        task.cancel()


class _AdmissionInterceptor(grpc.aio.ServerInterceptor):
    """Wraps every unary and server-streaming method of the admitted services."""

    def __init__(self, admission: AdmissionControl) -> None:
        self.admission = admission

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        handler: Any = await continuation(handler_call_details)
        method = str(handler_call_details.method)
        if handler is None or handler.request_streaming or not method.startswith(_ADMITTED):
            return handler
        admission = self.admission
        if handler.response_streaming:
            stream = handler.unary_stream

            async def unary_stream(request: Any, context: _Context) -> AsyncIterator[Any]:
                caller = peer_identity(context.auth_context())
                if caller is None:  # the handler refuses it, audited or not as it decides
                    async for message in stream(request, context):
                        yield message
                    return
                try:
                    admission.enter(caller, stream=True)
                except Overloaded as e:
                    await admission.pace(caller)
                    await status.abort(context, e)
                    return
                # The backstop of the stream's lifetime: the stream code ends it first.
                lifetime = admission.stream_lifetime(caller)
                timer = asyncio.get_running_loop().create_task(
                    _expire(context, asyncio.current_task(), lifetime + 1.0)
                )
                try:
                    async for message in stream(request, context):
                        yield message
                finally:
                    timer.cancel()
                    admission.leave(caller, stream=True)

            return grpc.unary_stream_rpc_method_handler(
                unary_stream,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        unary = handler.unary_unary

        async def unary_unary(request: Any, context: _Context) -> Any:
            caller = peer_identity(context.auth_context())
            if caller is None:
                return await unary(request, context)
            try:
                admission.enter(caller, stream=False)
            except Overloaded as e:
                await admission.pace(caller)
                await status.abort(context, e)
            try:
                return await unary(request, context)
            finally:
                admission.leave(caller, stream=False)

        return grpc.unary_unary_rpc_method_handler(
            unary_unary,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
