"""`make profile`: where one process of the path spends its time under load.

Starts the benchmark's federation and relay (bench/run.py), drives path B (or A)
with the Python client at the given concurrency, and records the chosen process
(the gateway by default) with py-spy: all threads, native frames included
(gRPC's Cython layer, rego-cpp, SQLite). Writes, under `--out`:
- `<process>.collapsed`: the raw stacks (flamegraph.pl and speedscope read them);
- `<process>.md`: the summary printed at the end: CPU per thread from /proc,
  the share of samples under each stage of a request, the hottest functions.

    python -m bench.profile --seconds 20 --concurrency 64 --process gateway
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Final

from bench.flood import bench_policies
from bench.load import drive
from bench.procs import descendants
from bench.run import POLICIES, SHIPPED_POLICIES, default_engine, relay_process
from bench.workload import (
    ADAPTER,
    CALLER,
    INCIDENTS,
    WINDOW_DAYS,
    SignedRequests,
    bench_query,
    prepare_city,
)
from gateway.protocol.tls import TlsFiles
from tools.federation import LocalFederation

# Stages of a request, each recognised by a frame in its stack (file or function).
# A sample counts for every stage it is under, so the shares can add up to more than 100 %.
STAGES: Final = (
    ("gRPC server, whole Query handler", ("Gateway.Query ", "Relay.Query ")),
    ("request validation (model, catalogue)", ("Query.from_proto", "Dataset.check")),
    ("policy input", ("policy_input ",)),
    ("policy engine (rego-cpp, Wasm, OPA client)", ("gateway/policy/", "regopy", "wasmtime")),
    ("planning (narrow, plan to bytes)", ("narrow ", "QueryPlan.to_proto", "row_filters ")),
    ("adapter call (client side)", ("_fan_out", "AdapterService")),
    ("audit record and commitments", ("describe_query", "Outcome.record", "commit_value")),
    ("audit append (store, seal, SQL)", ("AuditStore.append", "gateway/audit/store.py")),
    ("audit leaf encoding (canonical JSON, seal)", ("canonical_json", "seal (")),
    ("SQLAlchemy", ("sqlalchemy/",)),
    ("SQLite (C)", ("sqlite3", "libsqlite")),
    ("structlog (request log line)", ("structlog/",)),
    ("Prometheus metrics", ("prometheus_client/",)),
    ("protobuf", ("google/protobuf", "_message", "upb")),
    ("asyncio event loop", ("asyncio/", "_asyncio")),
    ("gRPC Cython/C core", ("grpc/_cython", "cygrpc", "libgrpc", "_cython")),
    ("TLS (BoringSSL)", ("ssl_", "SSL_", "bssl", "aes_", "gcm_")),
)
# Stages seen only in native frames (`--native`); left out of a Python-only profile.
NATIVE_STAGES: Final = frozenset({"SQLite (C)", "gRPC Cython/C core", "TLS (BoringSSL)"})


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds per thread name of a process tree, from /proc/<pid>/task/*/stat."""
    import os

    ticks = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for p in descendants(pid):
        tasks = Path(f"/proc/{p}/task")
        if not tasks.exists():
            continue
        for task in tasks.iterdir():
            try:
                text = (task / "stat").read_text()
            except OSError:
                continue
            name = text[text.index("(") + 1 : text.rindex(")")]
            fields = text[text.rindex(")") + 2 :].split()
            # Thread names that end in a number are one pool: sum them.
            pool = name.rstrip("0123456789_-") or name
            out[pool] = out.get(pool, 0.0) + (int(fields[11]) + int(fields[12])) / ticks
    return out


def parse_collapsed(lines: Iterable[str]) -> list[tuple[list[str], int]]:
    stacks = []
    for line in lines:
        line = line.rstrip("\n")
        if not line:
            continue
        frames, _, count = line.rpartition(" ")
        stacks.append((frames.split(";"), int(count)))
    return stacks


def _function(frame: str) -> str:
    """`name (file:line)` without the line number, so lines of one function add up."""
    name, _, where = frame.partition(" (")
    file = where.rstrip(")").rsplit(":", 1)[0]
    return f"{name} ({file})" if file else name


def summarise(
    stacks: list[tuple[list[str], int]], top: int = 25, *, native: bool = False
) -> list[str]:
    total = sum(c for _, c in stacks) or 1
    threads: Counter[str] = Counter()
    stages: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for frames, count in stacks:
        threads[frames[0].split(": ", 1)[-1] if frames else "?"] += count
        text = ";".join(frames) + ";"
        for stage, needles in STAGES:
            if any(n in text for n in needles):
                stages[stage] += count
        for fn in {_function(f) for f in frames[1:]}:
            inclusive[fn] += count
        if len(frames) > 1:
            own[_function(frames[-1])] += count

    def pct(n: int) -> str:
        return f"{100 * n / total:5.1f} %"

    out = [f"{total} samples (non-idle threads)", "", "| thread | samples |", "|---|---|"]
    out += [f"| {t} | {pct(n)} |" for t, n in threads.most_common(12)]
    out += ["", "| stage (a sample counts under every stage in its stack) | samples |", "|---|---|"]
    out += [f"| {s} | {pct(stages[s])} |" for s, _ in STAGES if native or s not in NATIVE_STAGES]
    out += ["", "| function, inclusive | samples |", "|---|---|"]
    out += [f"| `{f}` | {pct(n)} |" for f, n in inclusive.most_common(top)]
    out += ["", "| function, own time | samples |", "|---|---|"]
    out += [f"| `{f}` | {pct(n)} |" for f, n in own.most_common(top)]
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--process", choices=["gateway", "relay", "adapter"], default="gateway")
    parser.add_argument("--rate", type=int, default=100, help="samples per second")
    parser.add_argument(
        "--native", action="store_true", help="native frames too (slows the process down)"
    )
    parser.add_argument(
        "--blocking", action="store_true", help="pause the process for each sample (slower)"
    )
    parser.add_argument("--gil", action="store_true", help="only samples holding the GIL")
    parser.add_argument(
        "--engine", default=None, help="the gateway's policy engine (default: its default)"
    )
    parser.add_argument("--incidents", type=int, default=INCIDENTS)
    parser.add_argument("--window-days", type=int, default=WINDOW_DAYS)
    parser.add_argument("--out", type=Path, default=Path(".gerbang/profile"))
    args = parser.parse_args(argv)
    engine = args.engine or default_engine()
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="gerbang-profile-"))
    bench_policies(SHIPPED_POLICIES, POLICIES)
    try:
        print(f"seeding {args.incidents:,} incidents ...", flush=True)
        city = prepare_city(work, args.incidents)
        query = bench_query(POLICIES, args.window_days)
        tls = TlsFiles.load(city.pki, CALLER)
        with (
            LocalFederation(work, [city.adapter], policies=POLICIES, engine=engine) as federation,
            relay_process(city, federation) as (relay_address, relay),
        ):
            requests = SignedRequests(city.pki, federation.keys_dir, query)
            processes = {p.name: p for p in federation.processes} | {"relay": relay}
            target = processes[args.process if args.process != "adapter" else f"adapter-{ADAPTER}"]
            assert target.popen is not None
            pid = target.popen.pid
            address = relay_address if args.process == "relay" else federation.address
            path = "A" if args.process == "relay" else "B"
            # Warm up first, so that the profile holds no start-up work.
            asyncio.run(
                drive(
                    address,
                    tls,
                    requests,
                    target=path,
                    concurrency=args.concurrency,
                    seconds=2.0,
                    warmup=0.0,
                    connections=min(args.concurrency, 8),
                )
            )
            collapsed = args.out / f"{args.process}.collapsed"
            argv_spy = [
                spy,
                "record",
                "--pid",
                str(pid),
                "--rate",
                str(args.rate),
                "--duration",
                f"{int(args.seconds)}",
                "--format",
                "raw",
                "--threads",
                "--output",
                str(collapsed),
            ]
            if args.native:
                argv_spy.append("--native")
            if not args.blocking:
                argv_spy.append("--nonblocking")
            if args.gil:
                argv_spy.append("--gil")
            cpu_before = thread_cpu(pid)
            recorder = subprocess.Popen(argv_spy, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            time.sleep(0.5)
            load = asyncio.run(
                drive(
                    address,
                    tls,
                    requests,
                    target=path,
                    concurrency=args.concurrency,
                    seconds=args.seconds,
                    warmup=0.0,
                    connections=min(args.concurrency, 8),
                )
            )
            cpu_after = thread_cpu(pid)
            spy_out, _ = recorder.communicate(timeout=args.seconds + 60)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if recorder.returncode != 0 or not collapsed.exists():
        print(spy_out.decode(errors="replace"), file=sys.stderr)
        return 1
    threads = sorted(
        ((name, cpu_after[name] - cpu_before.get(name, 0.0)) for name in cpu_after),
        key=lambda item: -item[1],
    )
    busy = sum(s for _, s in threads)
    lines = [
        f"# Profile of the {args.process} ({path} path), concurrency {args.concurrency}, "
        f"{args.seconds:g} s, policy engine {engine}",
        "",
        f"Load: {load.throughput:.1f} req/s, p50 {load.p50_ms:.2f} ms, p99 {load.p99_ms:.2f} ms, "
        f"errors {dict(load.errors) or 0}.",
        f"CPU of the {args.process}: {busy:.2f} s over {load.seconds:g} s "
        f"({busy / load.seconds:.2f} cores), {1000 * busy / max(load.ok, 1):.2f} ms per request.",
        "",
        "| thread (from /proc) | CPU s | ms per request |",
        "|---|---|---|",
        *(
            f"| {name} | {s:.2f} | {1000 * s / max(load.ok, 1):.3f} |"
            for name, s in threads
            if s >= 0.01
        ),
        "",
        *summarise(parse_collapsed(collapsed.read_text().splitlines()), native=args.native),
    ]
    summary = args.out / f"{args.process}.md"
    summary.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"\nwrote {collapsed} (collapsed stacks) and {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
