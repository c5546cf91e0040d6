"""The report's sections on the parts measured apart: components, the heatmap, one caller's
flood; and the targets the run is held to.
"""

from __future__ import annotations

from typing import Final

from bench.flood import FloodResult
from bench.heatmap import HeatmapResult
from bench.load import LoadResult
from bench.report.cells import NONE, errors_cell, met, num, pct, rate_cells, table
from bench.results import RunResult


def components_section(run: RunResult) -> list[str]:
    """Each component against its own baseline."""
    lines = ["", "### Components, each against its own baseline", ""]
    rows = []
    for comp in run.components:
        rows.append(
            [
                comp.name,
                *rate_cells(comp.subject),
                *rate_cells(comp.baseline),
                num(comp.ratio, 2),
                comp.note,
            ]
        )
    lines += table(
        [
            "component",
            "measured",
            "rate",
            "p50 µs",
            "p99 µs",
            "baseline",
            "rate",
            "p50 µs",
            "p99 µs",
            "rate / baseline",
            "note",
        ],
        rows,
    )
    return lines


def heatmap_section(h: HeatmapResult) -> list[str]:
    """Issue 7: bench/heatmap.py, the heatmap end to end through gateway and two adapters."""
    lines = [
        f"### Heatmap over {h.incidents:,} incidents, end to end (issue 7)",
        "",
        f"Two SQLite adapters of {h.incidents // 2:,} incidents each and the gateway, as "
        "processes over mTLS; `citata-spatial` asks for the seeded year by H3 cell at "
        "resolution 8 under `spatial_planning` (epsilon 1.0, k = 10) through GerbangClient, "
        "timed from signing to the merged rows (both parts opened). Each request is a fresh "
        "purpose cloned from `spatial_planning` in the bench's own copy of the policies, so "
        "each has a budget (bench/heatmap.py); the first request, which builds each "
        "adapter's public domain, is apart.",
        "",
    ]
    databases = "cached" if h.seeded_seconds is None else f"seeded in {h.seeded_seconds:.0f} s"
    lines += table(
        [
            "incidents",
            "first request ms",
            "p50 ms",
            "min ms",
            "max ms",
            "runs",
            "cells released",
            "withheld",
            "databases",
        ],
        [
            [
                f"{h.incidents:,}",
                num(h.first_ms, 0),
                num(h.p50_ms, 0),
                num(h.min_ms, 0),
                num(h.max_ms, 0),
                str(h.runs),
                str(h.cells),
                str(h.suppressed),
                databases,
            ]
        ],
    )
    return lines


def flood_section(f: FloodResult) -> list[str]:
    """Issue 12: bench/flood.py, another caller's latency while one caller floods."""
    rows = [
        ["measured caller alone", *_flood_cells(f.unloaded)],
        ["measured caller during the flood", *_flood_cells(f.loaded)],
        ["the flooder (unsigned requests)", *_flood_cells(f.flood)],
    ]
    return [
        "### One caller floods (issue 12)",
        "",
        "The measured caller at concurrency 4, alone and while another caller sends unsigned "
        "requests at concurrency 64 under its limits in the registry (bench/flood.py).",
        "",
        *table(["load", "ok", "p50 ms", "p99 ms", "answers other than OK"], rows),
    ]


def _flood_cells(r: LoadResult) -> list[str]:
    return [str(r.ok), num(r.p50_ms, 2), num(r.p99_ms, 2), errors_cell(r)]


# Issue 12's targets: B/A at c = 64, the p50 added at c = 1 over the run's own fsync probe
# (one durable commit is the floor of audit-before-release), the gateway's CPU per request.
TARGETS: Final = {
    "ratio_64": 0.75,
    "added_p50_1_ms": 1.5,
    "gateway_cpu_ms": 2.5,
    "workers_ratio": 1.6,
    "rss_change": 0.10,
}


def target_rows(run: RunResult) -> list[list[str]]:
    ratio = run.ratio(64)
    added = run.added_p50_ms(1)
    fsync = run.workload.fsync_p50_ms
    cpu = run.gateway_cpu_ms(64)
    workers = run.workers_ratio()
    change = run.soak.change if run.soak else None
    errors = run.errors()
    return [
        [
            f"B/A throughput at concurrency 64 ≥ {TARGETS['ratio_64']:.2f}",
            num(ratio, 2),
            met(None if ratio is None else ratio >= TARGETS["ratio_64"]),
        ],
        [
            f"added p50 latency at concurrency 1 ≤ the fsync probe ({fsync:.2f} ms) + 1.5 ms",
            num(added, 2, " ms"),
            met(None if added is None else added <= fsync + TARGETS["added_p50_1_ms"]),
        ],
        [
            "gateway CPU per request at concurrency 64 ≤ 2.5 ms",
            num(cpu, 2, " ms"),
            met(None if cpu is None else cpu <= TARGETS["gateway_cpu_ms"]),
        ],
        [
            "2 workers ≥ 1.6 x 1 worker",
            num(workers, 2),
            met(None if workers is None else workers >= TARGETS["workers_ratio"]),
        ],
        ["no errors or timeouts at any load", str(errors), met(errors == 0)],
        [
            "gateway RSS flat within 10 % (first vs last window)",
            pct(change),
            met(None if change is None else abs(change) <= TARGETS["rss_change"]),
        ],
        [
            "heatmap over 1,000,000 incidents end to end, p50 < 1000 ms",
            num(run.heatmap.p50_ms, 0, " ms") if run.heatmap else NONE,
            met(
                None
                if run.heatmap is None
                else run.heatmap.incidents >= 1_000_000 and run.heatmap.met
            ),
        ],
        [
            "while one caller floods, another's p99 ≤ 3 x its unloaded p99",
            num(run.flood.ratio, 2) if run.flood else NONE,
            met(run.flood.met if run.flood else None),
        ],
    ]
