"""`gerbang gateway serve --workers 2`: two gateways on one port under one supervisor.

Real processes: an adapter over a small seeded database and the supervised gateway.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.protocol.pki import init_pki
from tools.city import seed_city
from tools.federation import AdapterSpec, LocalFederation

READY = b"gateway workers serving"


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                out.append(int(entry.name))
    return out


def _workers(pid: int) -> list[int]:
    """The supervisor's gateway workers (multiprocessing's resource tracker left out)."""
    return [
        c
        for c in _children(pid)
        if b"resource_tracker" not in Path(f"/proc/{c}/cmdline").read_bytes()
    ]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def supervised(tmp_path: Path) -> Iterator[tuple[LocalFederation, int]]:
    init_pki(tmp_path / "pki", adapters=("w",))
    url = f"sqlite:///{tmp_path / 'w.db'}"
    seed_city(url, incidents=500, seed=3)
    fed = LocalFederation(tmp_path, [AdapterSpec("w", url)], extra_gateway_args=["--workers", "2"])
    with fed:
        gateway = next(p for p in fed.processes if p.name == "gateway")
        assert gateway.popen is not None
        deadline = time.monotonic() + 60
        while READY not in gateway.log_path.read_bytes():
            assert time.monotonic() < deadline, gateway.tail()
            time.sleep(0.1)
        yield fed, gateway.popen.pid


def test_sigterm_stops_every_worker_and_exits_cleanly(
    supervised: tuple[LocalFederation, int],
) -> None:
    # Regression: the supervisor sent each worker SIGTERM twice, and the second one could
    # land after the worker's event loop had closed and kill it (exit -15).
    fed, pid = supervised
    workers = _workers(pid)
    assert len(workers) == 2
    gateway = next(p for p in fed.processes if p.name == "gateway")
    assert gateway.popen is not None
    os.kill(pid, signal.SIGTERM)
    assert gateway.popen.wait(30) == 0
    assert not any(_alive(w) for w in workers)


def test_a_worker_that_dies_stops_the_others_and_the_supervisor_fails(
    supervised: tuple[LocalFederation, int],
) -> None:
    # Regression: the supervisor waited only on workers it had seen alive, and could miss
    # one that died between its check and its wait, then wait for ever.
    fed, pid = supervised
    first, second = _workers(pid)
    gateway = next(p for p in fed.processes if p.name == "gateway")
    assert gateway.popen is not None
    os.kill(first, signal.SIGKILL)
    assert gateway.popen.wait(30) == 1
    assert not _alive(second)
    assert b"gateway worker exited; stopping the others" in gateway.log_path.read_bytes()
