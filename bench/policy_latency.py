"""Decision latency of each policy engine over the parity corpus: `make bench` runs it.

Measured, not asserted: p50 and p99 per engine (Wasm, and a real OPA server over mTLS when
the binary is given) for the registry's allowed requests and a mix of denials,
decided one after another as the gateway's per-request path does (`decide`, including the
JSON encoding, or the loopback HTTPS call). These were three pytest
"tests" that asserted nothing (issue 13); the comparable, recorded figures are the policy
components of `python -m bench`.

    python -m bench.policy_latency [--opa PATH] [--seconds 1.5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gateway.policy import (
    OpaServerEngine,
    OpaServerProcess,
    PolicyEngine,
    find_opa_binary,
)
from gateway.policy.wasm import WasmEngine
from tools.policy_corpus import parity_corpus, purpose_bases

POLICIES = Path("policies")


def inputs() -> dict[str, list[dict[str, Any]]]:
    denials = [
        doc
        for name, doc in parity_corpus()
        if "/caller/unknown" in name or "/fields/add-nik" in name
    ]
    return {"allowed": list(purpose_bases().values()), "denied": denials}


async def measure(engine: PolicyEngine, docs: Sequence[dict[str, Any]], seconds: float) -> str:
    for doc in docs:  # warm up: connection pool, caches, the first check of the OPA bundle
        await engine.decide(doc)
    latencies: list[float] = []
    end = time.perf_counter() + seconds
    i = 0
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        await engine.decide(docs[i % len(docs)])
        latencies.append(time.perf_counter() - t0)
        i += 1
    q = statistics.quantiles(latencies, n=100)
    return f"p50 {q[49] * 1e6:7.0f} µs   p99 {q[98] * 1e6:7.0f} µs   n={len(latencies)}"


async def engine_lines(name: str, engine: PolicyEngine, seconds: float) -> list[str]:
    try:
        return [
            f"{name:20} {kind:7} {await measure(engine, docs, seconds)}"
            for kind, docs in inputs().items()
        ]
    finally:
        await engine.close()


async def run(opa: Path | None, seconds: float) -> list[str]:
    lines = await engine_lines("wasm", WasmEngine(POLICIES), seconds)
    if opa is None:
        lines.append("OPA server: no opa binary (run `make tools`); not measured")
        return lines
    with OpaServerProcess(POLICIES, binary=opa) as server:
        engine = OpaServerEngine(POLICIES, server.url, tls=server.tls)
        lines += await engine_lines("OPA server (mTLS)", engine, seconds)
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--opa", type=Path, default=None, help="the OPA binary")
    parser.add_argument("--seconds", type=float, default=1.5, help="per engine and input kind")
    args = parser.parse_args(argv)
    opa = args.opa if args.opa is not None and args.opa.exists() else find_opa_binary()
    print("\n".join(asyncio.run(run(opa, args.seconds))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
