"""A federation on one machine: adapters and gateway as real processes on loopback.

Used by `make run`, the integration tests and the benchmark. Each party is a
separate `gerbang ... serve` process with its own log file; readiness is the
standard gRPC health check over mTLS.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway.errors import ConfigurationError
from gateway.oversight.witness import WitnessKey
from gateway.protocol.sealed_details import DetailsKey, public_key_text
from gateway.protocol.tls import TlsFiles


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def gerbang_command() -> list[str]:
    return [sys.executable, "-m", "gateway.cli"]


@dataclass
class Process:
    name: str
    argv: list[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            self.argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **self.env},
        )
        log.close()

    def stop(self, timeout: float = 10.0) -> int | None:
        p = self.popen
        if p is None or p.poll() is not None:
            return None if p is None else p.returncode
        p.send_signal(signal.SIGTERM)
        try:
            return p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            return p.wait()

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


def wait_healthy(address: str, tls: TlsFiles, process: Process, timeout: float = 60.0) -> None:
    """Wait until `address` answers the gRPC health check with SERVING."""
    deadline = time.monotonic() + timeout
    with grpc.secure_channel(address, tls.channel_credentials()) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if process.popen is not None and process.popen.poll() is not None:
                raise ConfigurationError(
                    f"{process.name} exited with {process.popen.returncode}:\n{process.tail()}"
                )
            try:
                # The stubs package omits the client stub's methods.
                answer = stub.Check(health_pb2.HealthCheckRequest(), timeout=1.0)  # type: ignore[attr-defined]
                if answer.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.1)
    raise ConfigurationError(
        f"{process.name} at {address} not healthy after {timeout}s:\n{process.tail()}"
    )


@dataclass(frozen=True)
class AdapterSpec:
    name: str  # e.g. "pmj-1"; its certificate is adapter-<name>
    store: str  # SQLAlchemy URL of its police database


class LocalFederation:
    """Start adapters, then the gateway, as processes; stop them in reverse order."""

    def __init__(
        self,
        workdir: Path,
        adapters: Sequence[AdapterSpec],
        *,
        audit_url: str | None = None,
        policies: Path = Path("policies"),
        engine: str = "wasm",
        opa_url: str | None = None,
        gateway_port: int | None = None,
        extra_gateway_args: Sequence[str] = (),
        gateway_launcher: Sequence[str] = (),
    ) -> None:
        self.workdir = workdir
        self.pki = workdir / "pki"
        self.adapter_specs = list(adapters)
        self.audit_url = audit_url or f"sqlite:///{workdir / 'audit.db'}"
        self.policies = policies
        self.engine = engine
        self.opa_url = opa_url
        self.gateway_port = gateway_port or free_port()
        self.extra_gateway_args = list(extra_gateway_args)
        # A test may run the gateway through its own launcher (e.g. to observe traffic).
        self.gateway_launcher = list(gateway_launcher) or gerbang_command()
        self.processes: list[Process] = []
        self.adapter_addresses: dict[str, str] = {}

    @property
    def log_key_path(self) -> Path:
        return self.workdir / "keys" / "audit-log.key"

    def witness_key(self) -> WitnessKey:
        """The development oversight witness (Kompolnas): its key, created on first use."""
        return WitnessKey.load_or_create(
            self.workdir / "keys" / "witness-kompolnas.json", "kompolnas.go.id/witness"
        )

    def details_key(self) -> DetailsKey:
        """The development oversight body's key for sealed audit details."""
        return DetailsKey.load_or_create(self.workdir / "keys" / "oversight-kompolnas.x25519")

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.gateway_port}"

    @property
    def keys_dir(self) -> Path:
        return self.workdir / "keys"

    def start(self) -> None:
        from gateway.cli.keys import development_identities
        from gateway.protocol.keys import init_keys

        init_keys(self.keys_dir, development_identities(tuple(s.name for s in self.adapter_specs)))
        try:
            self.start_adapters()
            self.start_gateway()
        except BaseException:
            self.stop()
            raise

    def start_adapters(self) -> None:
        probe = TlsFiles.load(self.pki, "gateway")
        started = []
        for spec in self.adapter_specs:
            address = f"127.0.0.1:{free_port()}"
            argv = [*gerbang_command(), "adapter", "serve", "--store", spec.store]
            argv += ["--listen", address, "--id", spec.name, "--pki", str(self.pki)]
            argv += ["--keys", str(self.keys_dir)]
            argv += ["--state", str(self.workdir / f"adapter-{spec.name}-plans.db")]
            p = Process(
                f"adapter-{spec.name}", argv, self.workdir / "logs" / f"adapter-{spec.name}.log"
            )
            p.start()
            self.processes.append(p)
            self.adapter_addresses[spec.name] = address
            started.append((p, address))
        for p, address in started:
            wait_healthy(address, probe, p)

    def gateway_argv(self) -> list[str]:
        from gateway.protocol.identities import adapter_id

        argv = [*self.gateway_launcher, "gateway", "serve", "--listen", self.address]
        argv += ["--pki", str(self.pki), "--audit", self.audit_url]
        argv += ["--policies", str(self.policies), "--engine", self.engine]
        argv += ["--commitment-key", str(self.workdir / "keys" / "audit-commitment.key")]
        argv += ["--log-key", str(self.log_key_path), "--keys", str(self.keys_dir)]
        argv += ["--witness-key", self.witness_key().verifier_key]
        argv += ["--details-key", public_key_text(self.details_key().public_key)]
        if self.opa_url:
            argv += ["--opa-url", self.opa_url]
        for spec in self.adapter_specs:
            argv += ["--adapter", f"{adapter_id(spec.name)}={self.adapter_addresses[spec.name]}"]
        return argv + self.extra_gateway_args

    @property
    def gateway(self) -> Process | None:
        found = [p for p in self.processes if p.name == "gateway"]
        return found[-1] if found else None

    def start_gateway(self) -> Process:
        """Start (or restart) the gateway and wait until it serves."""
        gateway = Process("gateway", self.gateway_argv(), self.workdir / "logs" / "gateway.log")
        gateway.start()
        self.processes.append(gateway)
        wait_healthy(self.address, TlsFiles.load(self.pki, "gateway"), gateway)
        return gateway

    def kill_gateway(self) -> None:
        """SIGKILL the gateway, as a crash would: no shutdown code runs."""
        gateway = self.gateway
        if gateway is not None and gateway.popen is not None:
            gateway.popen.kill()
            gateway.popen.wait()
            self.processes.remove(gateway)

    def stop(self) -> None:
        for p in reversed(self.processes):
            with contextlib.suppress(Exception):
                p.stop()
        self.processes.clear()

    def __enter__(self) -> LocalFederation:
        self.start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
