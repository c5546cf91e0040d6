"""`make bench`: one whole benchmark run, written to BENCHMARKS.md.

In order:
1. describe the machine; seed one police database and create a PKI in a
   temporary directory;
2. start the adapter and the gateway (path B) and the bare relay (path A) as
   processes on loopback;
3. A and B at each concurrency with the Python client, then with ghz;
4. the memory soak: B at concurrency 64, sampling the gateway's RSS;
5. one and two gateway workers on one port, at concurrency 64;
6. each component against its baseline;
7. write BENCHMARKS.md, and end with the B/A throughput ratio at concurrency 64.

A part that cannot run (ghz or OPA missing, say) is reported as missing; the
end-to-end comparison cannot be missing, and its failure fails the run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
import typing
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.server import SqlAdapter, make_engine
from bench import agent, components, flood, heatmap, report, stages
from bench.ghz import GhzFailed, find_ghz, ghz_version, run_ghz
from bench.load import LoadResult, drive
from bench.procs import (
    CpuMeter,
    describe_machine,
    fsync_ms,
    machine_busy_seconds,
    tool_version,
    tree_rss_bytes,
)
from bench.workload import (
    ADAPTER,
    CALLER,
    KOTA,
    SEED,
    WINDOW_END,
    City,
    SignedRequests,
    bench_query,
    prepare_city,
)
from gateway.protocol.identities import adapter_id
from gateway.protocol.model import Filter, Op, Query
from gateway.protocol.planning import narrow
from gateway.protocol.tls import TlsFiles
from tools.federation import LocalFederation, Process, free_port, wait_healthy

SHIPPED_POLICIES = Path("policies")
# The bench's copy, with the measured caller's limits raised (bench/flood.py); relative,
# as the OPA engine needs. Written at the start of each run.
POLICIES = Path(".gerbang/bench/policies")
# Seeded databases of the heatmap component, kept between runs (`make clean` removes them).
HEATMAP_CACHE = Path(".gerbang/bench/cache")


@dataclass(frozen=True)
class Settings:
    seconds: float = 10.0
    warmup: float = 2.0
    concurrencies: tuple[int, ...] = (1, 16, 64)
    connections: int = 8
    ghz_seconds: float = 8.0
    soak_seconds: float = 120.0
    soak_window: float = 30.0
    workers_seconds: float = 10.0
    incidents: int = 100_000
    window_days: int = 14
    component_seconds: float = 3.0
    audit_batches: tuple[int, ...] = (1, 64, 1024)
    verify_entries: int = 50_000
    proof_entries: int = 1_000_000  # inclusion proofs are measured at this log size
    seal_sizes: tuple[int, ...] = (1_000, 100_000, 10_000_000)
    engine: str = ""  # the gateway's policy engine on path B; "" for the gateway's default
    heatmap_incidents: int = 1_000_000  # issue 7: the heatmap end to end (bench/heatmap.py)
    heatmap_runs: int = 9
    agent_requests: int = 200  # issue 14: the agent against the client library, sequential


QUICK = Settings(
    seconds=1.0,
    warmup=0.3,
    ghz_seconds=1.0,
    soak_seconds=4.0,
    soak_window=1.0,
    workers_seconds=1.0,
    incidents=3_000,
    window_days=90,
    component_seconds=0.2,
    audit_batches=(1, 64),
    verify_entries=300,
    proof_entries=600,
    seal_sizes=(1_000,),
    heatmap_incidents=3_000,
    heatmap_runs=2,
    agent_requests=10,
)


def say(text: str) -> None:
    print(text, flush=True)


def _commit() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head} + uncommitted changes" if dirty else head


def _line(r: LoadResult) -> str:
    errors = f", errors {dict(r.errors)}" if r.errors else ""
    return (
        f"{r.generator:6} {r.target} c={r.concurrency:<3} {r.throughput:8.1f} req/s  "
        f"p50 {r.p50_ms:7.2f} ms  p99 {r.p99_ms:7.2f} ms{errors}"
    )


def measure_workload(city: City, query: Query, settings: Settings) -> tuple[report.Workload, bytes]:
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
    workload = report.Workload(
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


def _pid(process: Process) -> int:
    assert process.popen is not None
    return process.popen.pid


def _by_name(federation: LocalFederation, name: str) -> Process:
    return next(p for p in federation.processes if p.name == name)


def _wait_log(path: Path, offset: int, needle: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(FileNotFoundError), path.open("rb") as f:
            f.seek(offset)
            if needle.encode() in f.read():
                return
        time.sleep(0.2)
    raise RuntimeError(f"{needle!r} did not appear in {path} within {timeout:g} s")


def default_engine() -> str:
    """The policy engine `gerbang gateway serve` uses when not told otherwise."""
    from gateway import policy

    return str(getattr(policy, "DEFAULT_ENGINE", "wasm"))


@contextlib.contextmanager
def federation(
    city: City, s: Settings, opa: str | None, *, metrics: bool = False, **kwargs: Any
) -> Iterator[LocalFederation]:
    """The adapter and the gateway with the chosen policy engine (and its OPA, if it needs one)."""
    engine = s.engine or default_engine()
    with contextlib.ExitStack() as stack:
        opa_url = None
        if engine == "opa":
            from gateway.policy import OpaServerProcess

            server = OpaServerProcess(POLICIES, binary=Path(opa) if opa else None)
            opa_url = stack.enter_context(server).url
        extra = list(kwargs.pop("extra_gateway_args", ()))
        if opa_url is not None:
            extra += ["--opa-tls", str(server.tls.directory)]
        if metrics:  # one gateway process: workers would each need a port of their own
            extra += ["--metrics-port", str(free_port())]
        yield stack.enter_context(
            LocalFederation(
                city.workdir,
                [city.adapter],
                policies=POLICIES,
                engine=engine,
                opa_url=opa_url,
                extra_gateway_args=extra,
                **kwargs,
            )
        )


def metrics_port(fed: LocalFederation) -> int:
    args = fed.extra_gateway_args
    return int(args[args.index("--metrics-port") + 1])


@contextlib.contextmanager
def relay_process(city: City, federation: LocalFederation) -> Iterator[tuple[str, Process]]:
    address = f"127.0.0.1:{free_port()}"
    relay = Process(
        "relay",
        [
            sys.executable,
            "-m",
            "bench.relay",
            "--listen",
            address,
            "--pki",
            str(city.pki),
            "--keys",
            str(federation.keys_dir),
            "--adapter",
            f"{adapter_id(ADAPTER)}={federation.adapter_addresses[ADAPTER]}",
            "--policies",
            str(POLICIES),
        ],
        city.workdir / "logs" / "relay.log",
    )
    relay.start()
    try:
        wait_healthy(address, TlsFiles.load(city.pki, "gateway"), relay)
        yield address, relay
    finally:
        relay.stop()


async def soak(
    address: str,
    tls: TlsFiles,
    requests: SignedRequests,
    gateway_pid: int,
    meter: CpuMeter,
    s: Settings,
) -> report.Soak:
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
    return report.Soak(s.soak_seconds, s.soak_window, samples, load)


def _ghz_total(python: LoadResult | None, seconds: float) -> int:
    """How many requests ghz should send to run about `seconds`, from the Python figure."""
    rate = python.throughput if python is not None else 100.0
    return max(50, min(50_000, int(rate * seconds)))


def end_to_end(
    run: report.RunResult,
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
        gateway = _by_name(fed, "gateway")
        meter = CpuMeter(
            {
                "relay": _pid(relay),
                "gateway": _pid(gateway),
                "adapter": _pid(_by_name(fed, f"adapter-{ADAPTER}")),
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
        run.soak = asyncio.run(soak(fed.address, client_tls, requests, _pid(gateway), meter, s))
        say(
            f"soak: {run.soak.load.ok} requests, RSS {run.soak.first_mib:.1f} MiB → "
            f"{run.soak.last_mib:.1f} MiB ({run.soak.change * 100:+.1f} %)"
        )


def workers(
    run: report.RunResult,
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
                _wait_log(log, offset, "gateway workers serving")
            requests = SignedRequests(city.pki, fed.keys_dir, query)
            meter = CpuMeter(
                {
                    "gateway": _pid(_by_name(fed, "gateway")),
                    "adapter": _pid(_by_name(fed, f"adapter-{ADAPTER}")),
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


def _engine_kinds() -> tuple[str, ...]:
    """The policy engines this checkout has (the Wasm engine is newer than the others)."""
    from gateway.policy import EngineKind

    return tuple(typing.get_args(EngineKind))


def flood_run(
    run: report.RunResult, city: City, query: Query, s: Settings, opa: str | None
) -> None:
    """Issue 12: another caller's p99 while one caller floods (bench/flood.py)."""
    say("flood: the measured caller alone, then while another caller floods")
    with federation(city, s, opa) as fed:
        run.flood = asyncio.run(
            flood.measure(
                fed.address, city.pki, fed.keys_dir, query, seconds=s.seconds, warmup=s.warmup
            )
        )
    say(run.flood.line())


def policy_runs(run: report.RunResult, s: Settings, opa: str | None) -> None:
    """Every policy engine, each against itself answering one constant rule."""
    # Relative, like POLICIES: the OPA engine cannot verify a bundle given by an absolute
    # path (OPA names its policies after the path; see BENCHMARKS.md, "Findings").
    baseline = Path(".gerbang") / f"bench-baseline-policies-{os.getpid()}"
    components.trivial_policies(POLICIES, baseline)
    try:
        for kind in _engine_kinds():
            try:
                run.components.append(asyncio.run(_policy_component(kind, baseline, s, opa)))
            except Exception as e:  # a broken engine is reported, not fatal to the whole run
                run.missing.append(f"{kind} policy engine: {type(e).__name__}: {e}")
    finally:
        shutil.rmtree(baseline, ignore_errors=True)


async def _policy_component(
    kind: str, baseline: Path, s: Settings, opa: str | None
) -> components.Component:
    if kind == "opa":
        if opa is None:
            raise RuntimeError("no opa binary (run `make tools`)")
        from gateway.policy import OpaServerProcess

        with (
            OpaServerProcess(POLICIES, binary=Path(opa)) as server,
            OpaServerProcess(baseline, binary=Path(opa)) as baseline_server,
        ):
            return await components.policy_component(
                kind,
                POLICIES,
                baseline,
                s.component_seconds,
                opa_url=server.url,
                baseline_opa_url=baseline_server.url,
                opa_tls=server.tls.directory,
                baseline_opa_tls=baseline_server.tls.directory,
            )
    if kind == "wasm":
        # The baseline's one rule needs compiling to Wasm too, which takes OPA.
        if opa is None:
            raise RuntimeError("no opa binary to compile the baseline policy to Wasm")
        from tools.policywasm import write

        with contextlib.redirect_stdout(io.StringIO()):
            write(Path(opa), baseline)
    return await components.policy_component(kind, POLICIES, baseline, s.component_seconds)


def component_runs(
    run: report.RunResult, city: City, s: Settings, opa: str | None, payload: bytes
) -> None:
    policy_runs(run, s, opa)
    url = f"sqlite:///{city.workdir / 'components-audit.db'}"
    run.components += components.audit_components(url, s.audit_batches, s.component_seconds)
    run.components += components.postgres_audit_components(s.audit_batches, s.component_seconds)
    components.grow_log(url, s.verify_entries)
    run.components.append(components.verify_component(url))
    run.components.append(components.sealing_component(payload, s.component_seconds))
    run.components += components.seal_and_sign_components(s.seal_sizes, s.component_seconds)
    say(f"growing the audit log to {s.proof_entries:,} entries for the proof component")
    components.grow_log(url, s.proof_entries, batch=2048)
    run.components.append(components.proof_component(url, s.component_seconds))
    for comp in run.components:
        say(
            f"component {comp.name}: "
            + (f"{comp.subject.per_second:,.0f}/s" if comp.subject else "not implemented")
            + (f" vs baseline {comp.baseline.per_second:,.0f}/s" if comp.baseline else "")
        )


def agent_run(
    run: report.RunResult, city: City, query: Query, s: Settings, opa: str | None
) -> None:
    """Issue 14: the agent's added latency per request, against the client library."""
    try:
        with federation(city, s, opa) as fed:
            comp = agent.agent_component(fed, query, s.agent_requests)
    except Exception as e:  # reported as missing, like a broken policy engine
        run.missing.append(f"agent component: {type(e).__name__}: {e}")
        return
    run.components.append(comp)
    say(f"component {comp.name}: {comp.note}")


def heatmap_run(run: report.RunResult, s: Settings, work: Path) -> None:
    """Issue 7's heatmap over two adapters, end to end; full-size databases are cached."""
    full = s.heatmap_incidents >= 100_000
    run.heatmap = heatmap.measure(
        work / "heatmap",
        HEATMAP_CACHE if full else work / "heatmap-cache",
        incidents=s.heatmap_incidents,
        runs=s.heatmap_runs,
        policies=POLICIES,
        engine=s.engine or default_engine(),
        say=say,
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("BENCHMARKS.md"))
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for the smoke test")
    parser.add_argument("--ghz", default=None, help="path to ghz (default: on PATH)")
    parser.add_argument("--opa", default=None, help="path to opa (default: on PATH)")
    parser.add_argument("--command", default=None, help="the command to record in the report")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument(
        "--engine",
        default=None,
        help="the gateway's policy engine on path B (default: the gateway's own default)",
    )
    parser.add_argument(
        "--only",
        choices=("audit",),
        default=None,
        help="run one group of components and print it (BENCHMARKS.md is not written)",
    )
    for name in ("seconds", "soak-seconds", "incidents", "window-days"):
        parser.add_argument(f"--{name}", type=float if "seconds" in name else int)
    return parser.parse_args(argv)


def settings_from(args: argparse.Namespace) -> Settings:
    s = QUICK if args.quick else Settings()
    changes: dict[str, Any] = {}
    if args.seconds is not None:
        changes["seconds"] = args.seconds
    if args.soak_seconds is not None:
        changes["soak_seconds"] = args.soak_seconds
        changes["soak_window"] = min(s.soak_window, args.soak_seconds / 4)
    if args.incidents is not None:
        changes["incidents"] = args.incidents
    if args.window_days is not None:
        changes["window_days"] = args.window_days
    changes["engine"] = args.engine or default_engine()
    return dataclasses.replace(s, **changes)


def audit_only(s: Settings) -> int:
    """`--only audit`: the audit append and verification components, printed.

    For reruns while working on the audit store, without the end-to-end runs. Other
    load is the machine's busy CPU outside this process over the run, in cores; it
    includes the PostgreSQL server when GERBANG_BENCH_PG_URL is set.
    """
    say(f"load average at start: {describe_machine({}).load_average}")
    machine0, own0, t0 = machine_busy_seconds(), sum(os.times()[:2]), time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="gerbang-bench-"))
    try:
        url = f"sqlite:///{work / 'components-audit.db'}"
        found = components.audit_components(url, s.audit_batches, s.component_seconds)
        found += components.postgres_audit_components(s.audit_batches, s.component_seconds)
        components.grow_log(url, s.verify_entries)
        found.append(components.verify_component(url))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    wall = time.monotonic() - t0
    other = (machine_busy_seconds() - machine0 - (sum(os.times()[:2]) - own0)) / wall
    for comp in found:
        if comp.subject is None or comp.baseline is None:
            say(f"{comp.name}: {comp.note}")
            continue
        say(
            f"{comp.name}: {comp.subject.per_second:,.0f} {comp.subject.unit}/s vs "
            f"{comp.baseline.what} {comp.baseline.per_second:,.0f}/s "
            f"(ratio {comp.ratio or 0.0:.2f})"
        )
    say(f"other load: {other:.2f} cores over {wall:.0f} s")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    s = settings_from(args)
    if args.only == "audit":
        return audit_only(s)
    started = dt.datetime.now(dt.UTC)
    t0 = time.monotonic()
    ghz = find_ghz(args.ghz)
    from gateway.policy import find_opa_binary

    found = find_opa_binary()
    opa = args.opa if args.opa and Path(args.opa).is_file() else (str(found) if found else None)
    tools = {
        "go": (tool_version(["go", "version"]) or "").removeprefix("go version ") or None,
        "opa": (tool_version([opa, "version"]) or "").replace("Version: ", "") if opa else None,
        "ghz": (ghz_version(ghz) or "unknown version") if ghz else None,
    }
    machine = describe_machine(tools)
    command = args.command or "python -m bench " + " ".join(sys.argv[1:] if argv is None else argv)
    work = Path(tempfile.mkdtemp(prefix="gerbang-bench-"))
    flood.bench_policies(SHIPPED_POLICIES, POLICIES)
    try:
        say(f"seeding {s.incidents:,} incidents into {work} ...")
        city = prepare_city(work, s.incidents)
        query = bench_query(POLICIES, s.window_days)
        workload, payload = measure_workload(city, query, s)
        say(
            f"workload: {workload.rows} cells released, {workload.suppressed} suppressed, "
            f"{workload.payload_bytes}-byte payload, SQL {workload.sql_p50_ms:.2f} ms"
        )
        run = report.RunResult(
            started=started.strftime("%Y-%m-%d %H:%M UTC"),
            minutes=0.0,
            command=command,
            commit=_commit(),
            machine=machine,
            workload=workload,
            settings=dataclasses.asdict(s),
        )
        if ghz is None:
            run.ghz_status = "missing: could not be built or found (see `make bench` output)"
            run.missing.append("ghz: " + run.ghz_status)
        else:
            run.ghz_status = tools["ghz"] or "unknown version"
        end_to_end(run, city, query, s, ghz, opa)
        flood_run(run, city, query, s, opa)
        workers(run, city, query, s, ghz, opa)
        component_runs(run, city, s, opa, payload)
        agent_run(run, city, query, s, opa)
        heatmap_run(run, s, work)
    finally:
        if args.keep:
            say(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    for m in run.missing:
        say(f"not measured: {m}")
    run.minutes = (time.monotonic() - t0) / 60
    report.write(args.out, run)
    say(f"wrote {args.out} ({run.minutes:.1f} minutes)")
    if run.heatmap is not None:
        say(run.heatmap.line())
    ratio = run.ratio(64)
    say(f"gateway/relay throughput ratio at concurrency 64: {ratio or 0.0:.2f}")
    return 0
