"""The agent's added latency (issue 14): one query through `gerbang agent serve` over HTTP/JSON
against the same query through the Python client library, sequentially, on one federation.

Both paths sign, go through the gateway and the adapter, verify and open the same way; the
difference is the agent's own work: HTTP, the client's API token, the end user's ID token
(an ES256 verification and the HMAC commitment), the journal line (with its fsync) and the
JSON answer. Run alone (`python -m bench.agent --requests 200`) it seeds a small city; in
`make bench` it is one of the components, against the library as its baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.components import Component, Rate
from bench.load import percentiles_ms
from bench.workload import CALLER, bench_query, prepare_city
from gateway.client import GerbangClient
from gateway.protocol.model import Query, time_text
from tools.agent_federation import LocalAgent
from tools.federation import LocalFederation

WARMUP = 10


def query_body(query: Query) -> dict[str, Any]:
    """The agent's JSON body for `query` (gateway/agent/asks.py reads it back)."""

    def value(v: object) -> object:
        return {"time": time_text(v)} if isinstance(v, dt.datetime) else v

    body: dict[str, Any] = {
        "dataset": query.dataset,
        "fields": list(query.fields),
        "filters": [
            {"field": f.field, "op": str(f.op), "values": [value(v) for v in f.values]}
            for f in query.filters
        ],
        "purpose": query.purpose,
        "legal_basis": query.legal_basis,
        "case_reference": query.case_reference,
        "limit": query.limit,
    }
    if query.aggregation is not None:
        body["aggregation"] = {
            "group_by": [
                {"field": g.field, "bucket": str(g.bucket), "h3_resolution": g.h3_resolution}
                for g in query.aggregation.group_by
            ],
            "measure": str(query.aggregation.measure),
        }
    return body


def _rate(what: str, latencies: list[float]) -> Rate:
    p50, p99, _ = percentiles_ms(latencies)
    return Rate(what, len(latencies), sum(latencies), "request", p50 * 1000, p99 * 1000)


async def _alternating(
    fed: LocalFederation, agent: LocalAgent, query: Query, requests: int
) -> tuple[list[float], list[float]]:
    """Library and agent requests in turn, so that load from outside falls on both alike."""
    body = query_body(query)
    direct: list[float] = []
    through: list[float] = []
    async with (
        GerbangClient.connect(fed.address, fed.pki, CALLER, fed.keys_dir) as client,
        httpx.AsyncClient(base_url=agent.url, timeout=60) as http,
    ):
        for i in range(WARMUP + requests):
            t0 = time.perf_counter()
            await client.query(query)
            t1 = time.perf_counter()
            # A fresh ID token per request, as a client serving many users would send.
            headers = {
                "Authorization": f"Bearer {agent.token}",
                "Gerbang-End-User": agent.id_token(),
            }
            t2 = time.perf_counter()
            r = await http.post("/v1/query", json=body, headers=headers)
            t3 = time.perf_counter()
            if r.status_code != 200:
                raise RuntimeError(f"the agent answered {r.status_code}: {r.text[:200]}")
            if i >= WARMUP:
                direct.append(t1 - t0)
                through.append(t3 - t2)
    return direct, through


def agent_component(fed: LocalFederation, query: Query, requests: int) -> Component:
    """`requests` sequential queries each way, in turn; the agent's figures against the
    library's."""
    with LocalAgent(fed, CALLER) as agent:
        direct, via_agent = asyncio.run(_alternating(fed, agent, query, requests))
    library = _rate("client library (gRPC, in process)", direct)
    through = _rate("agent (HTTP/JSON)", via_agent)
    added = (through.p50_us or 0) - (library.p50_us or 0)
    return Component(
        "agent over HTTP/JSON",
        through,
        library,
        f"adds {added / 1000:.2f} ms per request at p50 ({requests} sequential requests each)",
    )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.agent", description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--incidents", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gerbang-bench-agent-") as tmp:
        city = prepare_city(Path(tmp), args.incidents)
        query = bench_query(Path("policies"))
        with LocalFederation(city.workdir, [city.adapter]) as fed:
            comp = agent_component(fed, query, args.requests)
    for rate in (comp.baseline, comp.subject):
        assert rate is not None
        mean = rate.seconds / rate.ops * 1000
        print(
            f"{rate.what:36} {rate.ops} requests  mean {mean:6.2f} ms  "
            f"p50 {(rate.p50_us or 0) / 1000:6.2f} ms  p99 {(rate.p99_us or 0) / 1000:6.2f} ms"
        )
    print(comp.note)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
