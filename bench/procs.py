"""Processes and the machine, read from /proc: CPU time, resident memory, a description.

psutil is not a dependency; Linux's /proc has what the benchmark needs. A process
"tree" is a root and its descendants (a gateway with workers is a supervisor and
its children), so its CPU time and memory are summed over the tree.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import sqlite3
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

_CLOCK_TICKS: Final = os.sysconf("SC_CLK_TCK")
LIBRARIES: Final = (
    "grpcio",
    "protobuf",
    "SQLAlchemy",
    "regopy",
    "opa-python-client",
    "cryptography",
    "structlog",
)


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces.
    return text[text.rindex(")") + 2 :].split()


def descendants(root: int) -> list[int]:
    """`root` and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return out


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of one process (all its threads), 0 if it is gone."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    # After the name: state(0) ppid(1) ... utime(11) stime(12), in clock ticks.
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def rss_bytes(pid: int) -> int:
    """Resident set size (VmRSS) of one process, 0 if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def tree_cpu_seconds(root: int) -> float:
    return sum(cpu_seconds(p) for p in descendants(root))


def tree_rss_bytes(root: int) -> int:
    return sum(rss_bytes(p) for p in descendants(root))


MACHINE: Final = "machine"


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (every process, ours and others')."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return 0.0
    ticks = [int(f) for f in fields[:8]]  # user nice system idle iowait irq softirq steal
    return (sum(ticks) - ticks[3] - ticks[4]) / _CLOCK_TICKS


class CpuMeter:
    """Cumulative CPU seconds of named process trees, of this process (the client), and of
    the whole machine (`MACHINE`), so that load from other processes shows."""

    def __init__(self, roots: Mapping[str, int], *, client: str | None = "client") -> None:
        self.roots = dict(roots)
        self.client = client

    def __call__(self) -> dict[str, float]:
        out = {name: tree_cpu_seconds(pid) for name, pid in self.roots.items()}
        if self.client is not None:
            t = os.times()
            out[self.client] = t.user + t.system
        out[MACHINE] = machine_busy_seconds()
        return out


@dataclass(frozen=True)
class Machine:
    cores: int
    cpu_model: str
    memory_gib: float
    kernel: str
    python: str
    sqlite: str
    libraries: Mapping[str, str]
    tools: Mapping[str, str]
    load_average: str

    def rows(self) -> list[tuple[str, str]]:
        return [
            ("cores", str(self.cores)),
            ("CPU", self.cpu_model),
            ("memory", f"{self.memory_gib:.1f} GiB"),
            ("kernel", self.kernel),
            ("Python", self.python),
            ("SQLite", self.sqlite),
            ("libraries", ", ".join(f"{k} {v}" for k, v in self.libraries.items())),
            ("tools", ", ".join(f"{k} {v}" for k, v in self.tools.items()) or "none"),
            ("load average at start (1, 5, 15 min)", self.load_average),
        ]


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    return 0.0


def tool_version(argv: list[str]) -> str | None:
    """First line of a tool's version output, or None if it does not run."""
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if out.returncode == 0 and text else None


def describe_machine(tools: Mapping[str, str | None]) -> Machine:
    libraries = {}
    for name in LIBRARIES:
        try:
            libraries[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            libraries[name] = "missing"
    try:
        load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        load = "unknown"
    return Machine(
        cores=os.cpu_count() or 0,
        cpu_model=_cpu_model(),
        memory_gib=_memory_gib(),
        kernel=f"{platform.system()} {platform.release()}",
        python=platform.python_version(),
        sqlite=sqlite3.sqlite_version,
        libraries=libraries,
        tools={k: v for k, v in tools.items() if v},
        load_average=load,
    )


def fsync_ms(directory: Path, rounds: int = 50) -> tuple[float, float]:
    """p50 and p99 of one 4 KiB write plus fdatasync in `directory`, in milliseconds.

    Every audit commit waits for at least one of these; on a shared disk it varies a lot.
    """
    path = directory / "fsync-probe"
    times = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        block = os.urandom(4096)
        for _ in range(rounds):
            t0 = time.perf_counter()
            os.write(fd, block)
            os.fdatasync(fd)
            times.append(time.perf_counter() - t0)
    finally:
        os.close(fd)
        path.unlink()
    times.sort()
    return times[len(times) // 2] * 1000, times[min(len(times) - 1, len(times) * 99 // 100)] * 1000
