"""BENCHMARKS.md: one Markdown section per run, newest first, earlier runs kept.

The file has three parts: the text above the history (written by people: what
the workload is and why, what the profiles showed, what was changed), the
history table (one line per run, rebuilt from the runs' summaries), and the
runs themselves. Each run carries a machine-readable summary in an HTML comment,
so the history survives edits to the prose.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from bench.components import Component, Rate
from bench.flood import FloodResult
from bench.heatmap import HeatmapResult
from bench.load import LoadResult
from bench.procs import Machine

HISTORY_START: Final = "<!-- bench:history:start -->"
HISTORY_END: Final = "<!-- bench:history:end -->"
RUNS: Final = "<!-- bench:runs -->"
NONE: Final = "n/a"
_SUMMARY = re.compile(r"<!-- bench:summary (\{.*?\}) -->")

DEFAULT_HEAD: Final = """# Benchmarks

Written by `make bench` (code in `bench/`); newest run first, earlier runs kept below so
that regressions show. Path A is a bare two-hop relay (caller → relay → adapter, mTLS,
plans signed because the adapter runs nothing else, results sealed by the adapter); path B
is the full Gerbang path as it stands (mTLS, request signature, freshness and replay
check, policy decision, planning, signed plans, the adapter's SQL and sealing, attestation
check, durable audit append). Both ask the same adapter the same question over the same
database, with requests signed the same way.

"""

# Issue 12's targets: B/A at c = 64, the p50 added at c = 1 over the run's own fsync probe
# (one durable commit is the floor of audit-before-release), the gateway's CPU per request.
TARGETS: Final = {
    "ratio_64": 0.75,
    "added_p50_1_ms": 1.5,
    "gateway_cpu_ms": 2.5,
    "workers_ratio": 1.6,
    "rss_change": 0.10,
}


@dataclass(frozen=True)
class Workload:
    incidents: int
    seed: int
    window_days: int
    kota: str
    rows: int
    suppressed: int
    payload_bytes: int
    sql_p50_ms: float
    seed_seconds: float
    fsync_p50_ms: float = 0.0
    fsync_p99_ms: float = 0.0


@dataclass(frozen=True)
class Soak:
    seconds: float
    window: float
    samples: Sequence[tuple[float, int]]  # (seconds since start, RSS bytes)
    load: LoadResult

    def _average(self, first: bool) -> float:
        end = self.samples[-1][0] if self.samples else 0.0
        picked = [
            rss
            for t, rss in self.samples
            if (t <= self.window if first else t >= end - self.window)
        ]
        return sum(picked) / len(picked) if picked else 0.0

    @property
    def first_mib(self) -> float:
        return self._average(True) / 2**20

    @property
    def last_mib(self) -> float:
        return self._average(False) / 2**20

    @property
    def change(self) -> float:
        return (self.last_mib - self.first_mib) / self.first_mib if self.first_mib else 0.0


@dataclass
class RunResult:
    started: str  # ISO UTC
    minutes: float
    command: str
    commit: str
    machine: Machine
    workload: Workload
    settings: Mapping[str, Any]
    python: list[LoadResult] = field(default_factory=list)
    ghz: list[LoadResult] = field(default_factory=list)
    ghz_status: str = "not run"
    workers: list[tuple[int, LoadResult]] = field(default_factory=list)
    soak: Soak | None = None
    components: list[Component] = field(default_factory=list)
    heatmap: HeatmapResult | None = None  # issue 7: the heatmap over 1M incidents
    flood: FloodResult | None = None  # issue 12: another caller's p99 while one floods
    missing: list[str] = field(default_factory=list)  # parts that could not run, and why

    def find(self, generator: str, target: str, concurrency: int) -> LoadResult | None:
        runs = self.python if generator == "python" else self.ghz
        for r in runs:
            if r.target == target and r.concurrency == concurrency:
                return r
        return None

    def ratio(self, concurrency: int, generator: str = "python") -> float | None:
        a = self.find(generator, "A", concurrency)
        b = self.find(generator, "B", concurrency)
        if a is None or b is None or a.throughput == 0:
            return None
        return b.throughput / a.throughput

    def added_p50_ms(self, concurrency: int = 1) -> float | None:
        a = self.find("python", "A", concurrency)
        b = self.find("python", "B", concurrency)
        return None if a is None or b is None else b.p50_ms - a.p50_ms

    def workers_ratio(self, generator: str = "python") -> float | None:
        by = {n: r.throughput for n, r in self.workers if r.generator == generator}
        if 1 not in by or 2 not in by or by[1] == 0:
            return None
        return by[2] / by[1]

    def gateway_cpu_ms(self, concurrency: int = 64) -> float | None:
        """The gateway's CPU per request on path B (the bench's /proc meter)."""
        b = self.find("python", "B", concurrency)
        return None if b is None else b.cpu_ms_per_request().get("gateway")

    def errors(self) -> int:
        loads = [*self.python, *self.ghz, *(r for _, r in self.workers)]
        if self.soak is not None:
            loads.append(self.soak.load)
        if self.flood is not None:  # the flood's own refusals are what it measures
            loads += [self.flood.unloaded, self.flood.loaded]
        return sum(r.error_count for r in loads)

    def summary(self) -> dict[str, Any]:
        return {
            "date": self.started,
            "commit": self.commit,
            "engine": self.settings.get("engine", ""),
            "ratio_64": self.ratio(64),
            "added_p50_1_ms": self.added_p50_ms(1),
            "b_64_rps": (b.throughput if (b := self.find("python", "B", 64)) else None),
            "workers_ratio": self.workers_ratio(),
            "errors": self.errors(),
            "rss_change": self.soak.change if self.soak else None,
            "heatmap_p50_ms": self.heatmap.p50_ms if self.heatmap else None,
            "flood_p99_ratio": self.flood.ratio if self.flood else None,
            "gateway_cpu_ms_64": self.gateway_cpu_ms(64),
        }


def _f(value: float | None, digits: int = 1, suffix: str = "") -> str:
    return NONE if value is None else f"{value:,.{digits}f}{suffix}"


def _pct(value: float | None) -> str:
    return NONE if value is None else f"{value * 100:+.1f} %"


def _errors(r: LoadResult | None) -> str:
    if r is None:
        return NONE
    if not r.errors:
        return "0"
    return ", ".join(f"{k} {v}" for k, v in sorted(r.errors.items()))


def _met(ok: bool | None) -> str:
    return NONE if ok is None else ("yes" if ok else "**no**")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out


def _plural(unit: str) -> str:
    return unit[:-1] + "ies" if unit.endswith("y") else unit + "s"


def _rate_cells(rate: Rate | None) -> list[str]:
    if rate is None:
        return ["not measured (see note)", NONE, NONE, NONE]
    return [
        f"{rate.what}",
        f"{rate.per_second:,.0f} {_plural(rate.unit)}/s",
        _f(rate.p50_us, 0),
        _f(rate.p99_us, 0),
    ]


def render_run(run: RunResult) -> str:
    w = run.workload
    s = run.settings
    lines = [
        f"## {run.started} · commit {run.commit}",
        "",
        f"<!-- bench:summary {json.dumps(run.summary(), sort_keys=True)} -->",
        "",
        f"Command: `{run.command}`; the run took {run.minutes:.1f} minutes.",
        "",
        *_table(["machine", ""], [[k, v] for k, v in run.machine.rows()]),
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
        "",
        "### End to end: A (relay) vs B (Gerbang), Python client",
        "",
    ]
    rows = []
    for c in s["concurrencies"]:
        a, b = run.find("python", "A", c), run.find("python", "B", c)
        rows.append(
            [
                str(c),
                _f(a.throughput if a else None),
                _f(b.throughput if b else None),
                _f(run.ratio(c), 2),
                _f(a.p50_ms if a else None, 2),
                _f(b.p50_ms if b else None, 2),
                _f(b.p50_ms - a.p50_ms if a and b else None, 2),
                _f(a.p99_ms if a else None, 2),
                _f(b.p99_ms if b else None, 2),
                f"{_errors(a)} / {_errors(b)}",
            ]
        )
    lines += _table(
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
        lines += _table(
            ["concurrency", "request", "policy decision", "audit commit wait", "rest"],
            [
                [
                    str(r.concurrency),
                    *(_f(r.stages.get(k), 2) for k in ("request", "policy", "audit", "rest")),
                ]
                for r in timed
            ],
        )
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
                    _f(r.throughput),
                    _f(py.throughput if py else None),
                    _f(r.p50_ms, 2),
                    _f(py.p50_ms if py else None, 2),
                    _f(r.p99_ms, 2),
                    _f(py.p99_ms if py else None, 2),
                    _errors(r),
                ]
            )
        lines += _table(
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
        ratios = ", ".join(f"c = {c}: {_f(run.ratio(c, 'ghz'), 2)}" for c in s["concurrencies"])
        lines += ["", f"B/A by ghz: {ratios}."]
    else:
        lines.append(f"ghz: {run.ghz_status}.")
    lines += ["", "### Several gateway processes on one port (concurrency 64)", ""]
    if run.workers:
        rows = [
            [
                str(n),
                r.generator,
                _f(r.throughput),
                _f(r.p50_ms, 2),
                _f(r.p99_ms, 2),
                _cpu_cell(r, "gateway"),
                _cpu_cell(r, "adapter"),
                _cpu_cell(r, "client"),
                _busy(r, run.machine.cores),
                _other(r),
                _errors(r),
            ]
            for n, r in run.workers
        ]
        lines += _table(
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
            f"2 workers / 1 worker: Python client {_f(run.workers_ratio('python'), 2)}, "
            f"ghz {_f(run.workers_ratio('ghz'), 2)}.",
        ]
    else:
        lines.append("not run.")
    lines += ["", "### Memory of the gateway under load", ""]
    if run.soak is not None:
        sk = run.soak
        lines += _table(
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
                    _f(sk.load.throughput),
                    f"{sk.first_mib:.1f} MiB",
                    f"{sk.last_mib:.1f} MiB",
                    _pct(sk.change),
                    f"{max((r for _, r in sk.samples), default=0) / 2**20:.1f} MiB",
                    _errors(sk.load),
                ]
            ],
        )
    else:
        lines.append("not run.")
    lines += ["", "### CPU per request (Python client runs)", ""]
    lines += _table(
        ["run", "client", "relay", "gateway", "adapter", "all", "cores busy", "other load"],
        [
            [
                f"{r.target} c={r.concurrency}",
                _cpu_cell(r, "client"),
                _cpu_cell(r, "relay"),
                _cpu_cell(r, "gateway"),
                _cpu_cell(r, "adapter"),
                _f(sum(r.cpu_ms_per_request().values()), 2),
                _busy(r, run.machine.cores),
                _other(r),
            ]
            for r in run.python
        ],
    )
    lines += [
        "",
        "CPU milliseconds per completed request, sampled with psutil over the measured window "
        "(the client is the harness process). *Other load*: cores that processes outside "
        "the benchmark kept busy meanwhile; figures taken under other load are low.",
        "",
        "### Components, each against its own baseline",
        "",
    ]
    rows = []
    for comp in run.components:
        rows.append(
            [
                comp.name,
                *_rate_cells(comp.subject),
                *_rate_cells(comp.baseline),
                _f(comp.ratio, 2),
                comp.note,
            ]
        )
    lines += _table(
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
    if run.heatmap is not None:
        lines += ["", *_heatmap_section(run.heatmap)]
    if run.flood is not None:
        lines += ["", *_flood_section(run.flood)]
    lines += ["", "### Targets", ""]
    lines += _table(["target", "figure", "met"], _targets(run))
    if run.missing:
        lines += ["", "Not measured in this run:", ""]
        lines += [f"- {m}" for m in run.missing]
    return "\n".join(lines) + "\n"


def _flood_section(f: FloodResult) -> list[str]:
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
        *_table(["load", "ok", "p50 ms", "p99 ms", "answers other than OK"], rows),
    ]


def _flood_cells(r: LoadResult) -> list[str]:
    return [str(r.ok), _f(r.p50_ms, 2), _f(r.p99_ms, 2), _errors(r)]


def _heatmap_section(h: HeatmapResult) -> list[str]:
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
    lines += _table(
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
                _f(h.first_ms, 0),
                _f(h.p50_ms, 0),
                _f(h.min_ms, 0),
                _f(h.max_ms, 0),
                str(h.runs),
                str(h.cells),
                str(h.suppressed),
                databases,
            ]
        ],
    )
    return lines


def _cpu_cell(r: LoadResult, name: str) -> str:
    per = r.cpu_ms_per_request()
    return _f(per[name], 2) if name in per and per[name] > 0.0005 else NONE


def _busy(r: LoadResult, cores: int) -> str:
    if not r.cpu or r.seconds <= 0:
        return NONE
    return f"{r.busy_cores:.2f} of {cores}"


def _other(r: LoadResult) -> str:
    return _f(r.other_cores, 2)


def _targets(run: RunResult) -> list[list[str]]:
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
            _f(ratio, 2),
            _met(None if ratio is None else ratio >= TARGETS["ratio_64"]),
        ],
        [
            f"added p50 latency at concurrency 1 ≤ the fsync probe ({fsync:.2f} ms) + 1.5 ms",
            _f(added, 2, " ms"),
            _met(None if added is None else added <= fsync + TARGETS["added_p50_1_ms"]),
        ],
        [
            "gateway CPU per request at concurrency 64 ≤ 2.5 ms",
            _f(cpu, 2, " ms"),
            _met(None if cpu is None else cpu <= TARGETS["gateway_cpu_ms"]),
        ],
        [
            "2 workers ≥ 1.6 x 1 worker",
            _f(workers, 2),
            _met(None if workers is None else workers >= TARGETS["workers_ratio"]),
        ],
        ["no errors or timeouts at any load", str(errors), _met(errors == 0)],
        [
            "gateway RSS flat within 10 % (first vs last window)",
            _pct(change),
            _met(None if change is None else abs(change) <= TARGETS["rss_change"]),
        ],
        [
            "heatmap over 1,000,000 incidents end to end, p50 < 1000 ms",
            _f(run.heatmap.p50_ms, 0, " ms") if run.heatmap else NONE,
            _met(
                None
                if run.heatmap is None
                else run.heatmap.incidents >= 1_000_000 and run.heatmap.met
            ),
        ],
        [
            "while one caller floods, another's p99 ≤ 3 x its unloaded p99",
            _f(run.flood.ratio, 2) if run.flood else NONE,
            _met(run.flood.met if run.flood else None),
        ],
    ]


def _history(summaries: Sequence[dict[str, Any]]) -> list[str]:
    rows = [
        [
            str(s.get("date", "")),
            str(s.get("commit", "")),
            str(s.get("engine") or NONE),
            _f(s.get("b_64_rps")),
            _f(s.get("ratio_64"), 2),
            _f(s.get("added_p50_1_ms"), 2),
            _f(s.get("workers_ratio"), 2),
            str(s.get("errors", NONE)),
            _pct(s.get("rss_change")),
        ]
        for s in summaries
    ]
    return _table(
        [
            "run",
            "commit",
            "policy engine",
            "B req/s at c=64",
            "B/A at c=64",
            "added p50 at c=1 (ms)",
            "2 workers / 1",
            "errors",
            "RSS change",
        ],
        rows,
    )


def write(path: Path, run: RunResult) -> None:
    """Put `run` first among the runs in `path`, keeping the prose and every earlier run."""
    text = path.read_text() if path.exists() else DEFAULT_HEAD
    head, runs = text, ""
    if RUNS in text:
        head, runs = text.split(RUNS, 1)
    if HISTORY_START in head:
        head = head.split(HISTORY_START, 1)[0]
    section = render_run(run)
    summaries = [json.loads(m) for m in _SUMMARY.findall(section + runs)]
    body = [
        head.rstrip() + "\n",
        HISTORY_START,
        "",
        "## History",
        "",
        *_history(summaries),
        "",
        HISTORY_END,
        "",
        RUNS,
        "",
        section.rstrip() + "\n",
    ]
    if runs.strip():
        body += ["", runs.strip() + "\n"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(body))
