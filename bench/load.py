"""The Python load generator: a closed loop of unary Query calls over mTLS.

`concurrency` callers each send the next request as soon as the previous one
answers, spread over `connections` separate HTTP/2 connections (a local
subchannel pool per channel, or gRPC would share one connection between them;
several connections also let the kernel spread them over gateway workers that
share a port). Both paths get requests made the same way, signed afresh for
each call (`bench.workload.SignedRequests`), so the client's own cost is the same.

Calls that complete inside the measured window (after the warm-up) count for
throughput and latency; every failed call counts as an error, warm-up included.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

import grpc

from bench.procs import MACHINE
from gateway.protocol.tls import TlsFiles
from gerbang.v1 import query_pb2

QUERY_METHOD: Final = "/gerbang.v1.QueryService/Query"
CALL_TIMEOUT: Final = 30.0

Snapshot = Callable[[], Mapping[str, float]]


@dataclass(frozen=True)
class LoadResult:
    """One load level against one target, from one load generator."""

    generator: str  # "python" or "ghz"
    target: str  # "A" (relay) or "B" (gateway)
    concurrency: int
    connections: int
    seconds: float  # measured window
    ok: int
    p50_ms: float
    p99_ms: float
    mean_ms: float
    errors: Mapping[str, int] = field(default_factory=dict)  # status name -> count
    cpu: Mapping[str, float] = field(default_factory=dict)  # process -> CPU seconds in window
    stages: Mapping[str, float] = field(default_factory=dict)  # gateway stage -> mean ms

    @property
    def throughput(self) -> float:
        return self.ok / self.seconds if self.seconds > 0 else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def cpu_ms_per_request(self) -> dict[str, float]:
        """CPU milliseconds per completed request, by process (the machine's total left out)."""
        if self.ok == 0:
            return {}
        return {
            name: 1000 * seconds / self.ok for name, seconds in self.cpu.items() if name != MACHINE
        }

    @property
    def busy_cores(self) -> float:
        """Cores kept busy by the measured processes over the window."""
        if self.seconds <= 0:
            return 0.0
        return sum(s for name, s in self.cpu.items() if name != MACHINE) / self.seconds

    @property
    def other_cores(self) -> float | None:
        """Cores kept busy by every other process on the machine (noise), if measured."""
        if MACHINE not in self.cpu or self.seconds <= 0:
            return None
        return max(0.0, self.cpu[MACHINE] / self.seconds - self.busy_cores)


def percentiles_ms(latencies: list[float]) -> tuple[float, float, float]:
    """p50, p99 and mean of latencies given in seconds, in milliseconds."""
    if not latencies:
        return 0.0, 0.0, 0.0
    if len(latencies) == 1:
        one = latencies[0] * 1000
        return one, one, one
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[98] * 1000, statistics.fmean(latencies) * 1000


def _delta(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    return {k: after[k] - before.get(k, 0.0) for k in after}


async def drive(
    address: str,
    tls: TlsFiles,
    requests: Callable[[], bytes],
    *,
    target: str,
    concurrency: int,
    seconds: float,
    warmup: float,
    connections: int,
    snapshot: Snapshot | None = None,
) -> LoadResult:
    """Run the closed loop against `address` and measure the window after `warmup`.

    `requests` makes each call's serialised request (signed afresh for every call).
    """
    channels = [
        grpc.aio.secure_channel(
            address, tls.channel_credentials(), options=[("grpc.use_local_subchannel_pool", 1)]
        )
        for _ in range(connections)
    ]
    try:
        await asyncio.wait_for(asyncio.gather(*(c.channel_ready() for c in channels)), 30)
        calls: list[grpc.aio.UnaryUnaryMultiCallable[bytes, query_pb2.QueryResponse]] = [
            c.unary_unary(QUERY_METHOD, response_deserializer=query_pb2.QueryResponse.FromString)
            for c in channels
        ]
        latencies: list[float] = []
        errors: Counter[str] = Counter()
        loop_start = time.perf_counter()
        window_start = loop_start + warmup
        window_end = window_start + seconds

        async def caller(i: int) -> None:
            call = calls[i % len(calls)]
            while time.perf_counter() < window_end:
                t0 = time.perf_counter()
                try:
                    answer = await call(requests(), timeout=CALL_TIMEOUT)
                except grpc.aio.AioRpcError as e:
                    errors[e.code().name] += 1
                    continue
                t1 = time.perf_counter()
                if not isinstance(answer, query_pb2.QueryResponse) or len(answer.results) != 1:
                    errors["BAD_RESPONSE"] += 1
                elif window_start <= t1 <= window_end:
                    latencies.append(t1 - t0)

        async def window() -> dict[str, float]:
            await asyncio.sleep(max(0.0, window_start - time.perf_counter()))
            before = dict(snapshot()) if snapshot else {}
            await asyncio.sleep(max(0.0, window_end - time.perf_counter()))
            return _delta(before, snapshot()) if snapshot else {}

        meter = asyncio.ensure_future(window())
        await asyncio.gather(*(caller(i) for i in range(concurrency)))
        cpu = await meter
    finally:
        await asyncio.gather(*(c.close() for c in channels))
    p50, p99, mean = percentiles_ms(latencies)
    return LoadResult(
        generator="python",
        target=target,
        concurrency=concurrency,
        connections=connections,
        seconds=seconds,
        ok=len(latencies),
        p50_ms=p50,
        p99_ms=p99,
        mean_ms=mean,
        errors=dict(errors),
        cpu=cpu,
    )
