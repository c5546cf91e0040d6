"""Issue 12: while one caller floods, another caller's p99 stays within 3x its unloaded p99.

The measured caller (`bench.workload.CALLER`) runs a closed loop at concurrency 4, first
alone, then while the flooder (the JSC command centre, under its limits in the registry)
sends unsigned requests in a closed loop at concurrency 64. The gateway's admission control
refuses most of the flood before authentication (RESOURCE_EXHAUSTED); the refusals are the
flood's "errors" and are not counted against the run.

The bench's own registry (`bench_policies`) raises the measured caller's limits: a closed
loop at concurrency 64 is what the throughput parts measure, not a flood.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from bench.load import LoadResult, drive
from bench.workload import CALLER, SignedRequests
from gateway.protocol.identities import EXAMPLE_CALLERS
from gateway.protocol.model import Query
from gateway.protocol.tls import TlsFiles

FLOODER: Final = "jsc-command-centre"
MEASURED_CONCURRENCY: Final = 4
FLOOD_CONCURRENCY: Final = 64
TARGET_P99_RATIO: Final = 3.0
# The measured caller's limits in the bench's registry: high enough never to refuse it.
BENCH_CALLER_LIMITS: Final = {
    "concurrent_requests": 1024,
    "open_streams": 64,
    "rate_per_second": 10_000,
    "burst": 100_000,
}


def bench_policies(source: Path, target: Path) -> Path:
    """A copy of the policies in which the measured caller has the bench's limits."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    path = target / "registry" / "callers" / "data.json"
    callers = json.loads(path.read_text())
    callers[EXAMPLE_CALLERS[CALLER]]["limits"] = BENCH_CALLER_LIMITS
    path.write_text(json.dumps(callers, indent=2, ensure_ascii=False) + "\n")
    return target


@dataclass(frozen=True)
class FloodResult:
    unloaded: LoadResult  # the measured caller alone
    loaded: LoadResult  # the measured caller while the flood runs
    flood: LoadResult  # the flooder: its refusals are in `errors`

    @property
    def ratio(self) -> float | None:
        if self.unloaded.p99_ms <= 0 or self.loaded.ok == 0:
            return None
        return self.loaded.p99_ms / self.unloaded.p99_ms

    @property
    def met(self) -> bool | None:
        ratio = self.ratio
        return None if ratio is None else ratio <= TARGET_P99_RATIO

    def line(self) -> str:
        refused = dict(self.flood.errors)
        return (
            f"flood: other caller's p99 {self.unloaded.p99_ms:.2f} ms alone, "
            f"{self.loaded.p99_ms:.2f} ms under the flood (x{self.ratio or 0.0:.2f}); "
            f"the flood's answers {refused}"
        )


async def measure(
    address: str,
    pki: Path,
    keys_dir: Path,
    query: Query,
    *,
    seconds: float,
    warmup: float,
) -> FloodResult:
    tls = TlsFiles.load(pki, CALLER)
    requests = SignedRequests(pki, keys_dir, query)

    async def measured() -> LoadResult:
        return await drive(
            address,
            tls,
            requests,
            target="B",
            concurrency=MEASURED_CONCURRENCY,
            seconds=seconds,
            warmup=warmup,
            connections=MEASURED_CONCURRENCY,
        )

    unloaded = await measured()
    unsigned = query.to_proto().SerializeToString()
    flood = asyncio.ensure_future(
        drive(
            address,
            TlsFiles.load(pki, FLOODER),
            lambda: unsigned,
            target="B",
            concurrency=FLOOD_CONCURRENCY,
            seconds=seconds + warmup,  # covers the measured window
            warmup=0.0,
            connections=8,
        )
    )
    try:
        loaded = await measured()
    finally:
        flooded = await flood
    return FloodResult(unloaded, loaded, flooded)
