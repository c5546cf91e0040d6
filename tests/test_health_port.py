"""Health for a Kubernetes gRPC probe: a plaintext grpc.health.v1 port, off by default (issue 12).

A kubelet's `grpc:` probe has no client certificate, so it cannot reach the mTLS port. With
`--health-listen HOST:PORT` the gateway (and the adapter) also serve the health service, and
only it, in plaintext there. Checked with grpc's own health stub and with grpcurl, as a
probe would ask, against real processes.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway.cli import build_parser
from gateway.protocol.pki import init_pki
from tests.test_reflection import grpcurl
from tools.city import seed_city
from tools.federation import AdapterSpec, LocalFederation, Process, free_port, gerbang_command


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalFederation, str]]:
    work = tmp_path_factory.mktemp("health")
    init_pki(work / "pki", adapters=("h1",))
    url = f"sqlite:///{work / 'h1.db'}"
    seed_city(url, incidents=50, seed=5, kota=("Jakarta Pusat",))
    health = f"127.0.0.1:{free_port()}"
    with LocalFederation(
        work, [AdapterSpec("h1", url)], extra_gateway_args=["--health-listen", health]
    ) as fed:
        yield fed, health


def check(address: str, service: str = "") -> int:
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        # The stubs package omits the client stub's methods.
        answer = stub.Check(  # type: ignore[attr-defined]
            health_pb2.HealthCheckRequest(service=service), timeout=10, wait_for_ready=True
        )
    return int(answer.status)


def test_gateway_health_port_answers_a_plaintext_probe(
    federation: tuple[LocalFederation, str],
) -> None:
    _, address = federation
    assert check(address) == health_pb2.HealthCheckResponse.SERVING
    assert check(address, "gerbang.v1.QueryService") == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.RpcError) as unknown:
        check(address, "no.such.Service")
    assert unknown.value.code() is grpc.StatusCode.NOT_FOUND


def test_gateway_health_port_serves_nothing_else(federation: tuple[LocalFederation, str]) -> None:
    _, address = federation
    with grpc.insecure_channel(address) as channel:
        call: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
            "/gerbang.v1.QueryService/Capabilities"
        )
        with pytest.raises(grpc.RpcError) as err:
            call(b"", timeout=10)
    assert err.value.code() is grpc.StatusCode.UNIMPLEMENTED


def test_grpcurl_probe_of_the_gateway(federation: tuple[LocalFederation, str]) -> None:
    _, address = federation
    out = subprocess.run(
        [
            grpcurl(),
            "-plaintext",
            "-max-time",
            "10",
            "-d",
            "{}",
            address,
            "grpc.health.v1.Health/Check",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert '"status": "SERVING"' in out.stdout


def test_adapter_health_port(federation: tuple[LocalFederation, str], tmp_path: Path) -> None:
    fed, _ = federation
    health = f"127.0.0.1:{free_port()}"
    spec = fed.adapter_specs[0]
    argv = [*gerbang_command(), "adapter", "serve", "--store", spec.store, "--id", spec.name]
    argv += ["--listen", f"127.0.0.1:{free_port()}", "--pki", str(fed.pki)]
    argv += ["--keys", str(fed.keys_dir), "--state", str(tmp_path / "plans.db")]
    argv += ["--health-listen", health]
    adapter = Process("adapter-health", argv, tmp_path / "adapter.log")
    adapter.start()
    try:
        assert check(health) == health_pb2.HealthCheckResponse.SERVING, adapter.tail()
        assert check(health, "gerbang.v1.AdapterService") == health_pb2.HealthCheckResponse.SERVING
    finally:
        adapter.stop()


def test_health_port_is_off_by_default() -> None:
    parser = build_parser()
    args = parser.parse_args(
        ["gateway", "serve", "--adapter", "x=127.0.0.1:1", "--audit", "sqlite://"]
    )
    assert args.health_listen is None
    args = parser.parse_args(["adapter", "serve"])
    assert args.health_listen is None
