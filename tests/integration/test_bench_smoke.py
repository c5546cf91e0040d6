"""The benchmark harness runs end to end at tiny sizes and writes its report (no timings checked).

`python -m bench --quick` starts the real processes (adapter, gateway, relay, two gateway
workers), drives every load level, the soak and the components for a moment each, and
must produce BENCHMARKS.md's tables and the final ratio line. ghz is pointed at a path
that does not exist, so the harness must report it as missing instead of failing.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench import report
from bench.results import RunResult, Workload

pytestmark = pytest.mark.slow

RATIO_LINE = re.compile(r"gateway/relay throughput ratio at concurrency 64: \d+\.\d\d")


def run_bench(out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out), "--ghz", "/nonexistent/ghz"],
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )


def test_quick_run_writes_report_and_ends_with_the_ratio_line(tmp_path: Path) -> None:
    out = tmp_path / "BENCHMARKS.md"
    first = run_bench(out)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert RATIO_LINE.fullmatch(first.stdout.rstrip("\n").splitlines()[-1])

    text = out.read_text()
    for heading in (
        "## History",
        "### End to end: A (relay) vs B (Gerbang), Python client",
        "### Independent load generator: ghz beside the Python client",
        "### Several gateway processes on one port (concurrency 64)",
        "### Memory of the gateway under load",
        "### CPU per request (Python client runs)",
        "### Components, each against its own baseline",
        "### Targets",
    ):
        assert heading in text
    assert "ghz: missing" in text
    for row in ("| 1 |", "| 16 |", "| 64 |"):
        assert row in text
    assert "audit append (SQLite), batches of 64" in text
    assert "audit append (PostgreSQL)" in text
    assert "full-log verification" in text
    assert "| sealing a result | seal_result (HPKE)" in text
    # Issue 14: the agent against the client library (bench/agent.py).
    assert "| agent over HTTP/JSON | agent (HTTP/JSON)" in text
    # Issue 7's heatmap, at the quick run's 3,000 incidents (bench/heatmap.py).
    assert "### Heatmap over 3,000 incidents, end to end (issue 7)" in text
    assert "heatmap over 3,000 incidents, end to end: p50 " in first.stdout


def _result(started: str, ratio_b: float) -> RunResult:
    from bench.load import LoadResult
    from bench.procs import describe_machine

    run = RunResult(
        started=started,
        minutes=1.0,
        command="test",
        commit="abc1234",
        machine=describe_machine({}),
        workload=Workload(100, 1, 14, "Jakarta Selatan", 5, 200, 170, 1.5, 1.0),
        settings={"warmup": 1, "seconds": 1, "connections": 8, "concurrencies": [64]},
    )
    for target, ok in (("A", 100), ("B", int(100 * ratio_b))):
        run.python.append(LoadResult("python", target, 64, 8, 1.0, ok, 1.0, 2.0, 1.0))
    return run


def test_report_puts_the_new_run_first_and_keeps_the_earlier_ones(tmp_path: Path) -> None:
    out = tmp_path / "BENCHMARKS.md"
    out.write_text("# Benchmarks\n\nNotes written by people stay.\n")
    report.write(out, _result("2026-01-01 00:00 UTC", 0.5))
    report.write(out, _result("2026-02-01 00:00 UTC", 0.8))
    text = out.read_text()
    assert text.startswith("# Benchmarks\n\nNotes written by people stay.\n")
    assert text.count("<!-- bench:summary ") == 2
    assert text.index("## 2026-02-01") < text.index("## 2026-01-01")
    history = text[text.index(report.HISTORY_START) : text.index(report.HISTORY_END)]
    assert "| 0.80 |" in history
    assert "| 0.50 |" in history
