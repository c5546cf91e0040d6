"""Timing an operation for a while, and the best of alternating rounds (a shared machine's
noise only ever slows a round down)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Final

from bench.components import Rate
from bench.load import percentiles_ms

ROUNDS: Final = 3


async def time_async(
    what: str, unit: str, op: Callable[[], Awaitable[object]], seconds: float
) -> Rate:
    for _ in range(20):  # warm caches and connection pools
        await op()
    latencies: list[float] = []
    start = time.perf_counter()
    end = start + seconds
    while True:
        t0 = time.perf_counter()
        await op()
        t1 = time.perf_counter()
        latencies.append(t1 - t0)
        if t1 >= end:
            break
    p50, p99, _ = percentiles_ms(latencies)
    return Rate(what, len(latencies), time.perf_counter() - start, unit, p50 * 1000, p99 * 1000)


def timed_batches(
    what: str, batch: int, seconds: float, op: Callable[[int], None], unit: str = "entry"
) -> Rate:
    latencies: list[float] = []
    start = time.perf_counter()
    end = start + seconds
    n = 0
    while True:
        t0 = time.perf_counter()
        op(n)
        t1 = time.perf_counter()
        latencies.append(t1 - t0)
        n += 1
        if t1 >= end:
            break
    p50, p99, _ = percentiles_ms(latencies)
    return Rate(what, n * batch, time.perf_counter() - start, unit, p50 * 1000, p99 * 1000)


def best(rates: list[Rate]) -> Rate:
    """The round with the highest rate: on a shared machine, noise only ever slows a round."""
    return max(rates, key=lambda r: r.per_second)


def alternate(
    rounds: int, subject: Callable[[], Rate], baseline: Callable[[], Rate]
) -> tuple[Rate, Rate]:
    """Measure subject and baseline in alternating rounds; the best round of each."""
    subjects, baselines = [], []
    for _ in range(rounds):
        subjects.append(subject())
        baselines.append(baseline())
    return best(subjects), best(baselines)
