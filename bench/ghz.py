"""The independent load generator: ghz (github.com/bojand/ghz), a client nobody here wrote.

It drives the same unary Query with the same mTLS identity and requests made
the same way as the Python client's (signed by the caller, each with its own
nonce, written to a file beforehand since ghz cannot sign), and reports its own
counts and latency distribution (JSON), which `run_ghz` turns into a `LoadResult`.
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from bench.load import LoadResult, Snapshot, _delta

PROTO_ROOT: Final = Path("proto")
PROTO_FILE: Final = PROTO_ROOT / "gerbang" / "v1" / "query.proto"
CALL: Final = "gerbang.v1.QueryService.Query"


class GhzFailed(RuntimeError):
    """ghz did not run or did not report."""


def find_ghz(candidate: str | None) -> Path | None:
    """The ghz binary to use: an explicit path if it exists, else one on PATH."""
    if candidate:
        path = Path(candidate)
        return path if path.is_file() else None
    found = shutil.which("ghz")
    return Path(found) if found else None


def ghz_version(ghz: Path) -> str | None:
    """The module version ghz was built from (`go install` leaves `ghz --version` at "dev")."""
    try:
        out = subprocess.run(
            ["go", "version", "-m", str(ghz)], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in out.stdout.splitlines():
        parts = line.split()
        if parts[:2] == ["mod", "github.com/bojand/ghz"] and len(parts) >= 3:
            return parts[2]
    return None


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def parse_report(
    report: dict[str, Any],
    *,
    target: str,
    concurrency: int,
    connections: int,
    cpu: dict[str, float],
) -> LoadResult:
    """A `LoadResult` from ghz's JSON report (times in nanoseconds)."""
    codes = {str(k): int(v) for k, v in (report.get("statusCodeDistribution") or {}).items()}
    ok = codes.pop("OK", 0)
    dist = {
        int(d["percentage"]): float(d["latency"]) / 1e6
        for d in report.get("latencyDistribution") or []
    }
    return LoadResult(
        generator="ghz",
        target=target,
        concurrency=concurrency,
        connections=connections,
        seconds=float(report.get("total", 0)) / 1e9,
        ok=ok,
        p50_ms=dist.get(50, 0.0),
        p99_ms=dist.get(99, 0.0),
        mean_ms=float(report.get("average", 0)) / 1e6,
        errors=codes,
        cpu=cpu,
    )


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def write_requests(path: Path, requests: Callable[[], bytes], count: int) -> None:
    """`count` distinct requests, each prefixed by its length (ghz's --binary-file format)."""
    with path.open("wb") as f:
        for _ in range(count):
            message = requests()
            f.write(_varint(len(message)) + message)


def run_ghz(
    ghz: Path,
    address: str,
    pki: Path,
    identity: str,
    requests: Callable[[], bytes],
    workdir: Path,
    *,
    target: str,
    concurrency: int,
    total: int,
    connections: int,
    snapshot: Snapshot | None = None,
) -> LoadResult:
    """ghz sends `total` distinct pre-signed requests, each once (ghz cannot sign).

    The gateway refuses a nonce it has seen, so ghz runs for a number of requests
    (`--total`), not for a duration: cycling through the pool would replay them.
    """
    request_file = workdir / "ghz-requests.bin"
    write_requests(request_file, requests, total)
    argv = [
        str(ghz),
        "--cacert",
        str(pki / "ca.pem"),
        "--cert",
        str(pki / f"{identity}.pem"),
        "--key",
        str(pki / f"{identity}.key"),
        "--proto",
        str(PROTO_FILE),
        "--import-paths",
        str(PROTO_ROOT),
        "--call",
        CALL,
        "--binary-file",
        str(request_file),
        "--concurrency",
        str(concurrency),
        "--connections",
        str(connections),
        "--total",
        str(total),
        "--timeout",
        "30s",
        "--format",
        "json",
        address,
    ]
    before = dict(snapshot()) if snapshot else {}
    ghz_before = _children_cpu()
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise GhzFailed(f"ghz did not finish: {e}") from e
    cpu = _delta(before, snapshot()) if snapshot else {}
    cpu.pop("client", None)  # the Python client is idle; ghz is the client
    cpu["client"] = _children_cpu() - ghz_before
    try:
        report = json.loads(out.stdout)
    except ValueError as e:
        detail = (out.stderr or out.stdout).strip()[-500:]
        raise GhzFailed(f"ghz exited with {out.returncode}: {detail}") from e
    return parse_report(
        report, target=target, concurrency=concurrency, connections=connections, cpu=cpu
    )
