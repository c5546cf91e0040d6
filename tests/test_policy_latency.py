"""Decision latency of each engine, measured and printed; no assertions on time.

`pytest -s tests/test_policy_latency.py` prints p50/p99 per engine over the corpus's
allowed requests and a mix of denials, decided one after another (the gateway's per-request
path: `decide`, including JSON encoding, the worker thread hop or the loopback HTTP call).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from gateway.policy import EmbeddedEngine, OpaServerEngine, OpaServerProcess, find_opa_binary
from tools.policy_corpus import parity_corpus, purpose_bases

POLICIES = Path(__file__).resolve().parent.parent / "policies"
SECONDS = float(os.environ.get("GERBANG_POLICY_LATENCY_SECONDS", "1.5"))


def _inputs() -> dict[str, list[dict[str, Any]]]:
    denials = [
        doc
        for name, doc in parity_corpus()
        if "/caller/unknown" in name or "/fields/add-nik" in name
    ]
    return {"allowed": list(purpose_bases().values()), "denied": denials}


async def _measure(engine: EmbeddedEngine | OpaServerEngine, docs: Sequence[dict[str, Any]]) -> str:
    for doc in docs:  # warm up: connection pool, caches, the first check of the OPA bundle
        await engine.decide(doc)
    latencies: list[float] = []
    end = time.perf_counter() + SECONDS
    i = 0
    while time.perf_counter() < end:
        doc = docs[i % len(docs)]
        t0 = time.perf_counter()
        await engine.decide(doc)
        latencies.append(time.perf_counter() - t0)
        i += 1
    q = statistics.quantiles(latencies, n=100)
    return f"p50 {q[49] * 1e6:8.0f} µs   p99 {q[98] * 1e6:8.0f} µs   n={len(latencies)}"


async def test_embedded_engine_latency(capsys: pytest.CaptureFixture[str]) -> None:
    engine = EmbeddedEngine(POLICIES)
    try:
        lines = [
            f"embedded (rego-cpp), {kind:7}: {await _measure(engine, docs)}"
            for kind, docs in _inputs().items()
        ]
    finally:
        await engine.close()
    with capsys.disabled():
        print("\n" + "\n".join(lines))


@pytest.mark.opa
async def test_opa_server_engine_latency(capsys: pytest.CaptureFixture[str]) -> None:
    binary = find_opa_binary()
    if binary is None:
        pytest.skip("no opa binary (run `make tools`, or set GERBANG_OPA_BINARY)")
    with OpaServerProcess(POLICIES, binary=binary) as server:
        engine = OpaServerEngine(POLICIES, server.url, tls=server.tls)
        try:
            lines = [
                f"OPA server (mTLS), {kind:7}: {await _measure(engine, docs)}"
                for kind, docs in _inputs().items()
            ]
        finally:
            await engine.close()
    with capsys.disabled():
        print("\n" + "\n".join(lines))
