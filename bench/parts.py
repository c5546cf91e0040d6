"""The parts of a run measured apart: one caller's flood, every policy engine and the other
components against their baselines, the agent, and the heatmap end to end; and `--only audit`.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import shutil
import tempfile
import time
import typing
from pathlib import Path

from bench import agent, flood, heatmap
from bench.components import Component
from bench.components.audit_log import (
    audit_components,
    grow_log,
    postgres_audit_components,
    proof_component,
    verify_component,
)
from bench.components.policy_engines import policy_component, trivial_policies
from bench.components.sealing import seal_and_sign_components, sealing_component
from bench.procs import describe_machine, machine_busy_seconds
from bench.results import RunResult
from bench.servers import POLICIES, default_engine, federation
from bench.settings import Settings, say
from bench.workload import City
from gateway.protocol.model import Query

# Seeded databases of the heatmap component, kept between runs (`make clean` removes them).
HEATMAP_CACHE = Path(".gerbang/bench/cache")


def _engine_kinds() -> tuple[str, ...]:
    """The policy engines this checkout has (the Wasm engine is newer than the others)."""
    from gateway.policy import EngineKind

    return tuple(typing.get_args(EngineKind))


def flood_run(run: RunResult, city: City, query: Query, s: Settings, opa: str | None) -> None:
    """Issue 12: another caller's p99 while one caller floods (bench/flood.py)."""
    say("flood: the measured caller alone, then while another caller floods")
    with federation(city, s, opa) as fed:
        run.flood = asyncio.run(
            flood.measure(
                fed.address, city.pki, fed.keys_dir, query, seconds=s.seconds, warmup=s.warmup
            )
        )
    say(run.flood.line())


def policy_runs(run: RunResult, s: Settings, opa: str | None) -> None:
    """Every policy engine, each against itself answering one constant rule."""
    # Relative, like POLICIES: the OPA engine cannot verify a bundle given by an absolute
    # path (OPA names its policies after the path; see BENCHMARKS.md, "Findings").
    baseline = Path(".gerbang") / f"bench-baseline-policies-{os.getpid()}"
    trivial_policies(POLICIES, baseline)
    try:
        for kind in _engine_kinds():
            try:
                run.components.append(asyncio.run(_policy_component(kind, baseline, s, opa)))
            except Exception as e:  # a broken engine is reported, not fatal to the whole run
                run.missing.append(f"{kind} policy engine: {type(e).__name__}: {e}")
    finally:
        shutil.rmtree(baseline, ignore_errors=True)


async def _policy_component(kind: str, baseline: Path, s: Settings, opa: str | None) -> Component:
    if kind == "opa":
        if opa is None:
            raise RuntimeError("no opa binary (run `make tools`)")
        from gateway.policy import OpaServerProcess

        with (
            OpaServerProcess(POLICIES, binary=Path(opa)) as server,
            OpaServerProcess(baseline, binary=Path(opa)) as baseline_server,
        ):
            return await policy_component(
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
    return await policy_component(kind, POLICIES, baseline, s.component_seconds)


def component_runs(
    run: RunResult, city: City, s: Settings, opa: str | None, payload: bytes
) -> None:
    policy_runs(run, s, opa)
    url = f"sqlite:///{city.workdir / 'components-audit.db'}"
    run.components += audit_components(url, s.audit_batches, s.component_seconds)
    run.components += postgres_audit_components(s.audit_batches, s.component_seconds)
    grow_log(url, s.verify_entries)
    run.components.append(verify_component(url))
    run.components.append(sealing_component(payload, s.component_seconds))
    run.components += seal_and_sign_components(s.seal_sizes, s.component_seconds)
    say(f"growing the audit log to {s.proof_entries:,} entries for the proof component")
    grow_log(url, s.proof_entries, batch=2048)
    run.components.append(proof_component(url, s.component_seconds))
    for comp in run.components:
        say(
            f"component {comp.name}: "
            + (f"{comp.subject.per_second:,.0f}/s" if comp.subject else "not implemented")
            + (f" vs baseline {comp.baseline.per_second:,.0f}/s" if comp.baseline else "")
        )


def agent_run(run: RunResult, city: City, query: Query, s: Settings, opa: str | None) -> None:
    """Issue 14: the agent's added latency per request, against the client library."""
    try:
        with federation(city, s, opa) as fed:
            comp = agent.agent_component(fed, query, s.agent_requests)
    except Exception as e:  # reported as missing, like a broken policy engine
        run.missing.append(f"agent component: {type(e).__name__}: {e}")
        return
    run.components.append(comp)
    say(f"component {comp.name}: {comp.note}")


def heatmap_run(run: RunResult, s: Settings, work: Path) -> None:
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
        found = audit_components(url, s.audit_batches, s.component_seconds)
        found += postgres_audit_components(s.audit_batches, s.component_seconds)
        grow_log(url, s.verify_entries)
        found.append(verify_component(url))
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
