"""What one benchmark run found: its workload, load levels, soak, components and extras.

`bench.run` fills a `RunResult` as it goes; `bench.report` renders it and keeps its summary.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.components import Component
from bench.flood import FloodResult
from bench.heatmap import HeatmapResult
from bench.load import LoadResult
from bench.procs import Machine


@dataclass(frozen=True)
class Workload:
    incidents: int
    seed: int
    window_days: int
    kota: str
    rows: int
    suppressed: int
    payload_bytes: int
    sql_p50_ms: float
    seed_seconds: float
    fsync_p50_ms: float = 0.0
    fsync_p99_ms: float = 0.0


@dataclass(frozen=True)
class Soak:
    seconds: float
    window: float
    samples: Sequence[tuple[float, int]]  # (seconds since start, RSS bytes)
    load: LoadResult

    def _average(self, first: bool) -> float:
        end = self.samples[-1][0] if self.samples else 0.0
        picked = [
            rss
            for t, rss in self.samples
            if (t <= self.window if first else t >= end - self.window)
        ]
        return sum(picked) / len(picked) if picked else 0.0

    @property
    def first_mib(self) -> float:
        return self._average(True) / 2**20

    @property
    def last_mib(self) -> float:
        return self._average(False) / 2**20

    @property
    def change(self) -> float:
        return (self.last_mib - self.first_mib) / self.first_mib if self.first_mib else 0.0


@dataclass
class RunResult:
    started: str  # ISO UTC
    minutes: float
    command: str
    commit: str
    machine: Machine
    workload: Workload
    settings: Mapping[str, Any]
    python: list[LoadResult] = field(default_factory=list)
    ghz: list[LoadResult] = field(default_factory=list)
    ghz_status: str = "not run"
    workers: list[tuple[int, LoadResult]] = field(default_factory=list)
    soak: Soak | None = None
    components: list[Component] = field(default_factory=list)
    heatmap: HeatmapResult | None = None  # issue 7: the heatmap over 1M incidents
    flood: FloodResult | None = None  # issue 12: another caller's p99 while one floods
    missing: list[str] = field(default_factory=list)  # parts that could not run, and why

    def find(self, generator: str, target: str, concurrency: int) -> LoadResult | None:
        runs = self.python if generator == "python" else self.ghz
        for r in runs:
            if r.target == target and r.concurrency == concurrency:
                return r
        return None

    def ratio(self, concurrency: int, generator: str = "python") -> float | None:
        a = self.find(generator, "A", concurrency)
        b = self.find(generator, "B", concurrency)
        if a is None or b is None or a.throughput == 0:
            return None
        return b.throughput / a.throughput

    def added_p50_ms(self, concurrency: int = 1) -> float | None:
        a = self.find("python", "A", concurrency)
        b = self.find("python", "B", concurrency)
        return None if a is None or b is None else b.p50_ms - a.p50_ms

    def workers_ratio(self, generator: str = "python") -> float | None:
        by = {n: r.throughput for n, r in self.workers if r.generator == generator}
        if 1 not in by or 2 not in by or by[1] == 0:
            return None
        return by[2] / by[1]

    def gateway_cpu_ms(self, concurrency: int = 64) -> float | None:
        """The gateway's CPU per request on path B (the bench's /proc meter)."""
        b = self.find("python", "B", concurrency)
        return None if b is None else b.cpu_ms_per_request().get("gateway")

    def errors(self) -> int:
        loads = [*self.python, *self.ghz, *(r for _, r in self.workers)]
        if self.soak is not None:
            loads.append(self.soak.load)
        if self.flood is not None:  # the flood's own refusals are what it measures
            loads += [self.flood.unloaded, self.flood.loaded]
        return sum(r.error_count for r in loads)

    def summary(self) -> dict[str, Any]:
        return {
            "date": self.started,
            "commit": self.commit,
            "engine": self.settings.get("engine", ""),
            "ratio_64": self.ratio(64),
            "added_p50_1_ms": self.added_p50_ms(1),
            "b_64_rps": (b.throughput if (b := self.find("python", "B", 64)) else None),
            "workers_ratio": self.workers_ratio(),
            "errors": self.errors(),
            "rss_change": self.soak.change if self.soak else None,
            "heatmap_p50_ms": self.heatmap.p50_ms if self.heatmap else None,
            "flood_p99_ratio": self.flood.ratio if self.flood else None,
            "gateway_cpu_ms_64": self.gateway_cpu_ms(64),
        }
