"""Fail fast at the edges: a second gateway on a bound port, a client with no certificate
(issue 12). Real processes.

Regressions:
- a second `gerbang gateway serve` on the port of a running one, with another
  configuration, started and silently took a share of the connections (SO_REUSEPORT);
- a client without a certificate saw a timeout instead of a TLS error.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator

import grpc
import pytest

from gateway.client import CallerKeys, GerbangClient
from gateway.errors import TransportError
from gateway.protocol.identities import EXAMPLE_CALLERS
from gateway.protocol.model import Aggregation, GroupBy, Query
from gateway.protocol.pki import init_pki
from gateway.protocol.tls import TlsFiles
from gerbang.v1 import query_pb2, query_pb2_grpc
from tests.conftest import month_window
from tools.city import seed_city
from tools.federation import AdapterSpec, LocalFederation, free_port

TRAFFIC = Query(
    "incidents",
    ("kecamatan",),
    month_window(2026, 10),
    Aggregation((GroupBy("kecamatan"),)),
    "traffic_planning",
    "UU 27/2022 Pasal 20 ayat (2) huruf e; UU 22/2009",
)


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    work = tmp_path_factory.mktemp("startup")
    init_pki(work / "pki", adapters=("p1",))
    url = f"sqlite:///{work / 'p1.db'}"
    seed_city(url, incidents=50, seed=3, kota=("Jakarta Pusat",))
    with LocalFederation(work, [AdapterSpec("p1", url)]) as fed:
        yield fed


def second_gateway(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


def with_option(argv: list[str], option: str, value: str) -> list[str]:
    i = argv.index(option)
    return [*argv[: i + 1], value, *argv[i + 2 :]]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_second_gateway_on_a_bound_port_refuses_to_start(
    federation: LocalFederation, workers: str
) -> None:
    """Another configuration (its own audit log), same port: it exits with a clear error."""
    other = with_option(
        federation.gateway_argv(), "--audit", f"sqlite:///{federation.workdir / 'other.db'}"
    )
    started = time.monotonic()
    run = second_gateway([*other, "--workers", workers])
    assert run.returncode != 0
    assert "already serves port" in run.stdout + run.stderr
    assert time.monotonic() - started < 30
    assert not (federation.workdir / "other.db").exists()  # it stopped before anything
    # The first gateway still serves, alone.
    creds = TlsFiles.load(federation.pki, "dishub-atcs").channel_credentials()
    with grpc.secure_channel(federation.address, creds) as channel:
        answer = query_pb2_grpc.QueryServiceStub(channel).Capabilities(
            query_pb2.CapabilitiesRequest(), timeout=10
        )
    assert answer.purposes


def test_port_held_by_another_program_refuses_to_start(federation: LocalFederation) -> None:
    """A lone gateway binds without SO_REUSEPORT: a port held by any listener is refused."""
    port = free_port()
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    holder.bind(("127.0.0.1", port))
    holder.listen()
    try:
        argv = with_option(federation.gateway_argv(), "--listen", f"127.0.0.1:{port}")
        argv = with_option(argv, "--audit", f"sqlite:///{federation.workdir / 'third.db'}")
        run = second_gateway(argv)
    finally:
        holder.close()
    assert run.returncode != 0
    assert "cannot listen on" in run.stdout + run.stderr


async def test_missing_client_certificate_fails_fast_with_a_tls_error(
    federation: LocalFederation,
) -> None:
    """The client library, on a channel without a client certificate, raises a
    TransportError that says the TLS handshake failed and what to check, within seconds."""
    creds = grpc.ssl_channel_credentials(root_certificates=(federation.pki / "ca.pem").read_bytes())
    keys = CallerKeys.load(federation.keys_dir, "dishub-atcs", EXAMPLE_CALLERS["dishub-atcs"])
    started = time.monotonic()
    async with GerbangClient(grpc.aio.secure_channel(federation.address, creds), keys) as client:
        with pytest.raises(TransportError, match="TLS handshake with the gateway failed"):
            await client.capabilities(timeout=10)
        with pytest.raises(TransportError, match="client certificate issued by the federation CA"):
            await client.query(TRAFFIC, timeout=10)
    assert time.monotonic() - started < 5


async def test_nothing_listening_is_unreachable(federation: LocalFederation) -> None:
    keys = CallerKeys.load(federation.keys_dir, "dishub-atcs", EXAMPLE_CALLERS["dishub-atcs"])
    creds = TlsFiles.load(federation.pki, "dishub-atcs").channel_credentials()
    channel = grpc.aio.secure_channel(f"127.0.0.1:{free_port()}", creds)
    async with GerbangClient(channel, keys) as client:
        with pytest.raises(TransportError, match="gateway unreachable"):
            await client.capabilities(timeout=10)
