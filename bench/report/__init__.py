"""BENCHMARKS.md: one Markdown section per run, newest first, earlier runs kept.

The file has three parts: the text above the history (written by people: what
the workload is and why, what the profiles showed, what was changed), the
history table (one line per run, rebuilt from the runs' summaries), and the
runs themselves. Each run carries a machine-readable summary in an HTML comment,
so the history survives edits to the prose.

The sections are written by `end_to_end` (the whole path) and `parts` (components, heatmap,
flood, targets), their cells by `cells`; the run's figures are a `bench.results.RunResult`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from bench.report.cells import NONE, num, pct, table
from bench.report.end_to_end import (
    cpu_section,
    ghz_section,
    memory_section,
    preamble,
    python_section,
    workers_section,
)
from bench.report.parts import components_section, flood_section, heatmap_section, target_rows
from bench.results import RunResult

HISTORY_START: Final = "<!-- bench:history:start -->"
HISTORY_END: Final = "<!-- bench:history:end -->"
RUNS: Final = "<!-- bench:runs -->"
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


def render_run(run: RunResult) -> str:
    """The run's section of BENCHMARKS.md."""
    lines = [
        *preamble(run),
        *python_section(run),
        *ghz_section(run),
        *workers_section(run),
        *memory_section(run),
        *cpu_section(run),
        *components_section(run),
    ]
    if run.heatmap is not None:
        lines += ["", *heatmap_section(run.heatmap)]
    if run.flood is not None:
        lines += ["", *flood_section(run.flood)]
    lines += ["", "### Targets", ""]
    lines += table(["target", "figure", "met"], target_rows(run))
    if run.missing:
        lines += ["", "Not measured in this run:", ""]
        lines += [f"- {m}" for m in run.missing]
    return "\n".join(lines) + "\n"


def _history(summaries: Sequence[dict[str, Any]]) -> list[str]:
    rows = [
        [
            str(s.get("date", "")),
            str(s.get("commit", "")),
            str(s.get("engine") or NONE),
            num(s.get("b_64_rps")),
            num(s.get("ratio_64"), 2),
            num(s.get("added_p50_1_ms"), 2),
            num(s.get("workers_ratio"), 2),
            str(s.get("errors", NONE)),
            pct(s.get("rss_change")),
        ]
        for s in summaries
    ]
    return table(
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
