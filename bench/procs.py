"""Processes and the machine, sampled with psutil: CPU time, resident memory, a description.

A process "tree" is a root and its descendants (a gateway with workers is a supervisor and
its children), so its CPU time and memory are summed over the tree. A process that ends
while it is being read counts as 0.
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

import psutil

LIBRARIES: Final = (
    "grpcio",
    "protobuf",
    "SQLAlchemy",
    "opa-python-client",
    "cryptography",
    "structlog",
)


def descendants(root: int) -> list[int]:
    """`root` and every process below it (empty if `root` is gone)."""
    try:
        process = psutil.Process(root)
        return [root, *(child.pid for child in process.children(recursive=True))]
    except psutil.Error:
        return []


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of one process (all its threads), 0 if it is gone."""
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return 0.0
    return float(times.user + times.system)


def rss_bytes(pid: int) -> int:
    """Resident set size of one process, 0 if it is gone."""
    try:
        return int(psutil.Process(pid).memory_info().rss)
    except psutil.Error:
        return 0


def tree_cpu_seconds(root: int) -> float:
    return sum(cpu_seconds(p) for p in descendants(root))


def tree_rss_bytes(root: int) -> int:
    return sum(rss_bytes(p) for p in descendants(root))


MACHINE: Final = "machine"


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (every process, ours and others')."""
    t = psutil.cpu_times()
    # As /proc/stat's first eight fields less idle and iowait; guest time is already in user.
    busy = ("user", "nice", "system", "irq", "softirq", "steal")
    return float(sum(getattr(t, name, 0.0) for name in busy))


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
    return float(psutil.virtual_memory().total) / 1024**3


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
    load = " ".join(f"{x:.2f}" for x in psutil.getloadavg())
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
