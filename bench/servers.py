"""The processes a run measures: the adapter and the gateway (path B) with the chosen policy
engine, and the bare relay (path A), all on loopback.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.settings import Settings
from bench.workload import ADAPTER, City
from gateway.protocol.identities import adapter_id
from gateway.protocol.tls import TlsFiles
from tools.federation import LocalFederation, Process, free_port, wait_healthy

SHIPPED_POLICIES = Path("policies")
# The bench's copy, with the measured caller's limits raised (bench/flood.py); relative,
# as the OPA engine needs. Written at the start of each run.
POLICIES = Path(".gerbang/bench/policies")


def pid_of(process: Process) -> int:
    assert process.popen is not None
    return process.popen.pid


def by_name(federation: LocalFederation, name: str) -> Process:
    return next(p for p in federation.processes if p.name == name)


def wait_log(path: Path, offset: int, needle: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(FileNotFoundError), path.open("rb") as f:
            f.seek(offset)
            if needle.encode() in f.read():
                return
        time.sleep(0.2)
    raise RuntimeError(f"{needle!r} did not appear in {path} within {timeout:g} s")


def default_engine() -> str:
    """The policy engine `gerbang gateway serve` uses when not told otherwise."""
    from gateway import policy

    return str(getattr(policy, "DEFAULT_ENGINE", "wasm"))


@contextlib.contextmanager
def federation(
    city: City, s: Settings, opa: str | None, *, metrics: bool = False, **kwargs: Any
) -> Iterator[LocalFederation]:
    """The adapter and the gateway with the chosen policy engine (and its OPA, if it needs one)."""
    engine = s.engine or default_engine()
    with contextlib.ExitStack() as stack:
        opa_url = None
        if engine == "opa":
            from gateway.policy import OpaServerProcess

            server = OpaServerProcess(POLICIES, binary=Path(opa) if opa else None)
            opa_url = stack.enter_context(server).url
        extra = list(kwargs.pop("extra_gateway_args", ()))
        if opa_url is not None:
            extra += ["--opa-tls", str(server.tls.directory)]
        if metrics:  # one gateway process: workers would each need a port of their own
            extra += ["--metrics-port", str(free_port())]
        yield stack.enter_context(
            LocalFederation(
                city.workdir,
                [city.adapter],
                policies=POLICIES,
                engine=engine,
                opa_url=opa_url,
                extra_gateway_args=extra,
                **kwargs,
            )
        )


def metrics_port(fed: LocalFederation) -> int:
    args = fed.extra_gateway_args
    return int(args[args.index("--metrics-port") + 1])


@contextlib.contextmanager
def relay_process(city: City, federation: LocalFederation) -> Iterator[tuple[str, Process]]:
    address = f"127.0.0.1:{free_port()}"
    relay = Process(
        "relay",
        [
            sys.executable,
            "-m",
            "bench.relay",
            "--listen",
            address,
            "--pki",
            str(city.pki),
            "--keys",
            str(federation.keys_dir),
            "--adapter",
            f"{adapter_id(ADAPTER)}={federation.adapter_addresses[ADAPTER]}",
            "--policies",
            str(POLICIES),
        ],
        city.workdir / "logs" / "relay.log",
    )
    relay.start()
    try:
        wait_healthy(address, TlsFiles.load(city.pki, "gateway"), relay)
        yield address, relay
    finally:
        relay.stop()
