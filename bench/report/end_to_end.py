"""The report's sections on the whole path: the workload, A against B with both load generators,
several gateway workers, the gateway's memory, and CPU per request.
"""

from __future__ import annotations

import json

from bench.report.cells import busy, cpu_cell, errors_cell, num, other, pct, table
from bench.results import RunResult


def preamble(run: RunResult) -> list[str]:
    """The run's title, summary, command, machine, workload and load."""
    w = run.workload
    s = run.settings
    return [
        f"## {run.started} · commit {run.commit}",
        "",
        f"<!-- bench:summary {json.dumps(run.summary(), sort_keys=True)} -->",
        "",
        f"Command: `{run.command}`; the run took {run.minutes:.1f} minutes.",
        "",
        *table(["machine", ""], [[k, v] for k, v in run.machine.rows()]),
        "",
        (
            f"**Workload.** One SQL adapter serves both paths: SQLite, {w.incidents:,} incidents "
            f"in all five kota (seed {w.seed}, seeded in {w.seed_seconds:.0f} s, then ANALYZE). "
            f"Query: `dishub-atcs`, purpose traffic_planning, incidents in {w.kota} over the "
            f"{w.window_days} days before 2026-11-01, counted by kecamatan and hour of day. "
            f"The adapter releases {w.rows} cells and suppresses {w.suppressed} (k = 10); the "
            f"payload is {w.payload_bytes} bytes; its SQL alone takes {w.sql_p50_ms:.2f} ms "
            "(p50, in-process, B's plan). B's plan also carries the policy's jurisdiction "
            "filter (kota in the caller's five kota); A's has no extra filter. Every request "
            "is signed by the caller with a fresh nonce, for A as for B. The gateway's "
            f"policy engine: {s.get('engine') or 'its default'}. A 4 KiB write and fdatasync in "
            f"the work directory took {w.fsync_p50_ms:.2f} ms (p50), {w.fsync_p99_ms:.2f} ms "
            "(p99) at the start: each durable commit waits at least that long."
        ),
        "",
        (
            f"**Load.** Closed loop: each of `concurrency` callers sends the next request when "
            f"the last one answers; {s['warmup']:g} s warm-up, then {s['seconds']:g} s measured "
            f"per level, over min(concurrency, {s['connections']}) connections. Every process "
            "(client, relay or gateway, adapter) shares the same cores."
        ),
    ]


def python_section(run: RunResult) -> list[str]:
    """Paths A and B at each concurrency with the Python client; the gateway's stages."""
    s = run.settings
    lines = ["", "### End to end: A (relay) vs B (Gerbang), Python client", ""]
    rows = []
    for c in s["concurrencies"]:
        a, b = run.find("python", "A", c), run.find("python", "B", c)
        rows.append(
            [
                str(c),
                num(a.throughput if a else None),
                num(b.throughput if b else None),
                num(run.ratio(c), 2),
                num(a.p50_ms if a else None, 2),
                num(b.p50_ms if b else None, 2),
                num(b.p50_ms - a.p50_ms if a and b else None, 2),
                num(a.p99_ms if a else None, 2),
                num(b.p99_ms if b else None, 2),
                f"{errors_cell(a)} / {errors_cell(b)}",
            ]
        )
    lines += table(
        [
            "concurrency",
            "A req/s",
            "B req/s",
            "B/A",
            "A p50 ms",
            "B p50 ms",
            "added p50 ms",
            "A p99 ms",
            "B p99 ms",
            "errors A / B",
        ],
        rows,
    )
    timed = [r for r in run.python if r.target == "B" and r.stages]
    if timed:
        lines += [
            "",
            "Inside the gateway, from its own metrics (mean ms per request over each B run): "
            "*rest* is everything else it waits for: the signature and replay check with "
            "its durable commit, the adapter's round trip, the event loop.",
            "",
        ]
        lines += table(
            ["concurrency", "request", "policy decision", "audit commit wait", "rest"],
            [
                [
                    str(r.concurrency),
                    *(num(r.stages.get(k), 2) for k in ("request", "policy", "audit", "rest")),
                ]
                for r in timed
            ],
        )
    return lines


def ghz_section(run: RunResult) -> list[str]:
    """The same with ghz, the independent load generator, when it ran."""
    s = run.settings
    lines: list[str] = []
    lines += ["", "### Independent load generator: ghz beside the Python client", ""]
    if run.ghz:
        lines += [
            f"ghz {run.ghz_status}: the same identity, connections and concurrency; the "
            "requests are signed by the same caller beforehand (ghz cannot sign), each sent "
            "once, so ghz runs for a number of requests (about the Python client's rate times "
            f"{s.get('ghz_seconds', 8):g} s) rather than for a duration.",
            "",
        ]
        rows = []
        for r in run.ghz:
            py = run.find("python", r.target, r.concurrency)
            rows.append(
                [
                    r.target,
                    str(r.concurrency),
                    num(r.throughput),
                    num(py.throughput if py else None),
                    num(r.p50_ms, 2),
                    num(py.p50_ms if py else None, 2),
                    num(r.p99_ms, 2),
                    num(py.p99_ms if py else None, 2),
                    errors_cell(r),
                ]
            )
        lines += table(
            [
                "path",
                "concurrency",
                "ghz req/s",
                "Python req/s",
                "ghz p50 ms",
                "Python p50 ms",
                "ghz p99 ms",
                "Python p99 ms",
                "ghz errors",
            ],
            rows,
        )
        ratios = ", ".join(f"c = {c}: {num(run.ratio(c, 'ghz'), 2)}" for c in s["concurrencies"])
        lines += ["", f"B/A by ghz: {ratios}."]
    else:
        lines.append(f"ghz: {run.ghz_status}.")
    return lines


def workers_section(run: RunResult) -> list[str]:
    """One and two gateway processes on one port."""
    lines: list[str] = []
    lines += ["", "### Several gateway processes on one port (concurrency 64)", ""]
    if run.workers:
        rows = [
            [
                str(n),
                r.generator,
                num(r.throughput),
                num(r.p50_ms, 2),
                num(r.p99_ms, 2),
                cpu_cell(r, "gateway"),
                cpu_cell(r, "adapter"),
                cpu_cell(r, "client"),
                busy(r, run.machine.cores),
                other(r),
                errors_cell(r),
            ]
            for n, r in run.workers
        ]
        lines += table(
            [
                "workers",
                "client",
                "req/s",
                "p50 ms",
                "p99 ms",
                "gateway CPU ms/req",
                "adapter CPU ms/req",
                "client CPU ms/req",
                "cores busy",
                "other load",
                "errors",
            ],
            rows,
        )
        lines += [
            "",
            f"2 workers / 1 worker: Python client {num(run.workers_ratio('python'), 2)}, "
            f"ghz {num(run.workers_ratio('ghz'), 2)}.",
        ]
    else:
        lines.append("not run.")
    return lines


def memory_section(run: RunResult) -> list[str]:
    """The gateway's RSS over the soak."""
    lines: list[str] = []
    lines += ["", "### Memory of the gateway under load", ""]
    if run.soak is not None:
        sk = run.soak
        lines += table(
            [
                "duration",
                "concurrency",
                "requests",
                "req/s",
                f"RSS first {sk.window:g} s",
                f"RSS last {sk.window:g} s",
                "change",
                "RSS max",
                "errors",
            ],
            [
                [
                    f"{sk.seconds:g} s",
                    str(sk.load.concurrency),
                    f"{sk.load.ok:,}",
                    num(sk.load.throughput),
                    f"{sk.first_mib:.1f} MiB",
                    f"{sk.last_mib:.1f} MiB",
                    pct(sk.change),
                    f"{max((r for _, r in sk.samples), default=0) / 2**20:.1f} MiB",
                    errors_cell(sk.load),
                ]
            ],
        )
    else:
        lines.append("not run.")
    return lines


def cpu_section(run: RunResult) -> list[str]:
    """CPU per request of each process, for every Python client run."""
    lines: list[str] = []
    lines += ["", "### CPU per request (Python client runs)", ""]
    lines += table(
        ["run", "client", "relay", "gateway", "adapter", "all", "cores busy", "other load"],
        [
            [
                f"{r.target} c={r.concurrency}",
                cpu_cell(r, "client"),
                cpu_cell(r, "relay"),
                cpu_cell(r, "gateway"),
                cpu_cell(r, "adapter"),
                num(sum(r.cpu_ms_per_request().values()), 2),
                busy(r, run.machine.cores),
                other(r),
            ]
            for r in run.python
        ],
    )
    lines += [
        "",
        "CPU milliseconds per completed request, sampled with psutil over the measured window "
        "(the client is the harness process). *Other load*: cores that processes outside "
        "the benchmark kept busy meanwhile; figures taken under other load are low.",
    ]
    return lines
