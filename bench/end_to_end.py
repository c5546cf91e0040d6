"""The whole path measured: the workload's own figures, paths A and B at each concurrency with
the Python client and with ghz, the memory soak, and one and two gateway workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from pathlib import Path

from adapters.server import SqlAdapter, make_engine
from bench import stages
from bench.ghz import GhzFailed, run_ghz
from bench.load import LoadResult, drive
from bench.procs import CpuMeter, fsync_ms, tree_rss_bytes
from bench.results import RunResult, Soak, Workload
from bench.servers import (
    POLICIES,
    by_name,
    federation,
    metrics_port,
    pid_of,
    relay_process,
    wait_log,
)
from bench.settings import Settings, say
from bench.workload import ADAPTER, CALLER, KOTA, SEED, WINDOW_END, City, SignedRequests
from gateway.protocol.identities import adapter_id
from gateway.protocol.model import Filter, Op, Query
from gateway.protocol.planning import narrow
from gateway.protocol.tls import TlsFiles


def _line(r: LoadResult) -> str:
    errors = f", errors {dict(r.errors)}" if r.errors else ""
    return (
        f"{r.generator:6} {r.target} c={r.concurrency:<3} {r.throughput:8.1f} req/s  "
        f"p50 {r.p50_ms:7.2f} ms  p99 {r.p99_ms:7.2f} ms{errors}"
    )


def measure_workload(city: City, query: Query, settings: Settings) -> tuple[Workload, bytes]:
    """Run B's plan in-process against the adapter's database: rows, payload, SQL time."""
    from bench.workload import obligations

    ob = obligations(POLICIES)
    jurisdiction = Filter(
        "kota",
        Op.IN,
        ("Jakarta Barat", "Jakarta Pusat", "Jakarta Selatan", "Jakarta Timur", "Jakarta Utara"),
    )
    plan = narrow(
        query,
        fields=query.fields,
        extra_filters=(jurisdiction,),
        aggregate_only=ob.aggregate_only,
        max_rows=ob.max_rows,
        min_cell_count=ob.min_cell_count,
        request_id="bench",
        adapter_id=adapter_id(ADAPTER),
        policy_revision="",
        now=WINDOW_END,
        epsilon=ob.epsilon,
    )
    engine = make_engine(city.adapter.store)
    try:
        adapter = SqlAdapter(adapter_id(ADAPTER), engine)
        result, rows = adapter.run(plan)
        times = []
        for _ in range(30):
            t0 = time.perf_counter()
            adapter.run(plan)
            times.append(time.perf_counter() - t0)
    finally:
        engine.dispose()
    times.sort()
    payload = result.SerializeToString()
    fsync_p50, fsync_p99 = fsync_ms(city.workdir)
    workload = Workload(
        incidents=city.incidents,
        seed=SEED,
        window_days=settings.window_days,
        kota=KOTA,
        rows=rows,
        suppressed=result.suppressed_groups,
        payload_bytes=len(payload),
        sql_p50_ms=times[len(times) // 2] * 1000,
        seed_seconds=city.seed_seconds,
        fsync_p50_ms=fsync_p50,
        fsync_p99_ms=fsync_p99,
    )
    return workload, payload


async def soak(
    address: str,
    tls: TlsFiles,
    requests: SignedRequests,
    gateway_pid: int,
    meter: CpuMeter,
    s: Settings,
) -> Soak:
    samples: list[tuple[float, int]] = []
    start = time.perf_counter()

    async def sample() -> None:
        while True:
            samples.append((time.perf_counter() - start, tree_rss_bytes(gateway_pid)))
            await asyncio.sleep(1.0 if s.soak_seconds >= 20 else 0.2)

    sampler = asyncio.ensure_future(sample())
    try:
        load = await drive(
            address,
            tls,
            requests,
            target="B",
            concurrency=64,
            seconds=s.soak_seconds,
            warmup=0.0,
            connections=s.connections,
            snapshot=meter,
        )
    finally:
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
    return Soak(s.soak_seconds, s.soak_window, samples, load)


def _ghz_total(python: LoadResult | None, seconds: float) -> int:
    """How many requests ghz should send to run about `seconds`, from the Python figure."""
    rate = python.throughput if python is not None else 100.0
    return max(50, min(50_000, int(rate * seconds)))


def end_to_end(
    run: RunResult,
    city: City,
    query: Query,
    s: Settings,
    ghz: Path | None,
    opa: str | None,
) -> None:
    """Paths A and B with both clients, then the soak, on one adapter."""
    client_tls = TlsFiles.load(city.pki, CALLER)
    with (
        federation(city, s, opa, metrics=True) as fed,
        relay_process(city, fed) as (relay_address, relay),
    ):
        requests = SignedRequests(city.pki, fed.keys_dir, query)
        gateway = by_name(fed, "gateway")
        meter = CpuMeter(
            {
                "relay": pid_of(relay),
                "gateway": pid_of(gateway),
                "adapter": pid_of(by_name(fed, f"adapter-{ADAPTER}")),
            }
        )
        targets = {"A": relay_address, "B": fed.address}
        for c in s.concurrencies:
            for target, address in targets.items():
                before = stages.scrape(metrics_port(fed))
                r = asyncio.run(
                    drive(
                        address,
                        client_tls,
                        requests,
                        target=target,
                        concurrency=c,
                        seconds=s.seconds,
                        warmup=s.warmup,
                        connections=min(c, s.connections),
                        snapshot=meter,
                    )
                )
                if target == "B":
                    after = stages.scrape(metrics_port(fed))
                    r = dataclasses.replace(r, stages=stages.mean_ms(before, after))
                run.python.append(r)
                say(_line(r))
        if ghz is not None:
            try:
                for c in s.concurrencies:
                    for target, address in targets.items():
                        r = run_ghz(
                            ghz,
                            address,
                            city.pki,
                            CALLER,
                            requests,
                            city.workdir,
                            target=target,
                            concurrency=c,
                            total=_ghz_total(run.find("python", target, c), s.ghz_seconds),
                            connections=min(c, s.connections),
                            snapshot=meter,
                        )
                        run.ghz.append(r)
                        say(_line(r))
            except GhzFailed as e:
                run.ghz_status = f"failed: {e}"
                run.missing.append(f"ghz: {e}")
        say(f"soak: B at concurrency 64 for {s.soak_seconds:g} s, sampling the gateway's RSS")
        run.soak = asyncio.run(soak(fed.address, client_tls, requests, pid_of(gateway), meter, s))
        say(
            f"soak: {run.soak.load.ok} requests, RSS {run.soak.first_mib:.1f} MiB → "
            f"{run.soak.last_mib:.1f} MiB ({run.soak.change * 100:+.1f} %)"
        )


def workers(
    run: RunResult,
    city: City,
    query: Query,
    s: Settings,
    ghz: Path | None,
    opa: str | None,
) -> None:
    """The same gateway with one and with two worker processes on one port, at c = 64."""
    client_tls = TlsFiles.load(city.pki, CALLER)
    log = city.workdir / "logs" / "gateway.log"
    for n in (1, 2):
        offset = log.stat().st_size if log.exists() else 0
        with federation(
            city,
            s,
            opa,
            audit_url=f"sqlite:///{city.workdir / f'audit-workers-{n}.db'}",
            extra_gateway_args=["--workers", str(n)],
        ) as fed:
            if n > 1:
                wait_log(log, offset, "gateway workers serving")
            requests = SignedRequests(city.pki, fed.keys_dir, query)
            meter = CpuMeter(
                {
                    "gateway": pid_of(by_name(fed, "gateway")),
                    "adapter": pid_of(by_name(fed, f"adapter-{ADAPTER}")),
                }
            )
            r = asyncio.run(
                drive(
                    fed.address,
                    client_tls,
                    requests,
                    target="B",
                    concurrency=64,
                    seconds=s.workers_seconds,
                    warmup=s.warmup,
                    connections=s.connections,
                    snapshot=meter,
                )
            )
            run.workers.append((n, r))
            say(f"{n} worker(s): {_line(r)}")
            if ghz is not None and not run.ghz_status.startswith("failed"):
                try:
                    g = run_ghz(
                        ghz,
                        fed.address,
                        city.pki,
                        CALLER,
                        requests,
                        city.workdir,
                        target="B",
                        concurrency=64,
                        total=_ghz_total(r, s.ghz_seconds),
                        connections=s.connections,
                        snapshot=meter,
                    )
                    run.workers.append((n, g))
                    say(f"{n} worker(s): {_line(g)}")
                except GhzFailed as e:
                    run.missing.append(f"ghz with {n} worker(s): {e}")
