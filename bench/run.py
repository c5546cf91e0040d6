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

The steps live in `end_to_end` (2 to 5) and `parts` (6 and the extras); the processes in
`servers`, the sizes in `settings`.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import flood, report
from bench.end_to_end import end_to_end, measure_workload, workers
from bench.ghz import find_ghz, ghz_version
from bench.parts import agent_run, audit_only, component_runs, flood_run, heatmap_run
from bench.procs import describe_machine, tool_version
from bench.results import RunResult
from bench.servers import POLICIES, SHIPPED_POLICIES, default_engine
from bench.settings import QUICK, Settings, say
from bench.workload import bench_query, prepare_city


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
        choices=("audit", "flood"),
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


def flood_only(s: Settings, opa: str | None) -> int:
    """`--only flood`: issue 12's flood part alone, printed (for reruns while working on
    admission control; BENCHMARKS.md is not written)."""
    from gateway.policy import find_opa_binary

    found = find_opa_binary()
    opa = opa if opa and Path(opa).is_file() else (str(found) if found else None)
    say(f"load average at start: {describe_machine({}).load_average}")
    work = Path(tempfile.mkdtemp(prefix="gerbang-bench-"))
    flood.bench_policies(SHIPPED_POLICIES, POLICIES)
    try:
        city = prepare_city(work, s.incidents)
        query = bench_query(POLICIES, s.window_days)
        workload, _ = measure_workload(city, query, s)
        run = RunResult("", 0.0, "", "", describe_machine({}), workload, dataclasses.asdict(s))
        flood_run(run, city, query, s, opa)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    say(f"load average at end: {describe_machine({}).load_average}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    s = settings_from(args)
    if args.only == "audit":
        return audit_only(s)
    if args.only == "flood":
        return flood_only(s, args.opa)
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
        run = RunResult(
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
