"""Adapters authorise every RPC (issue 12).

Regression: `Describe` and `Health` skipped authorisation, and `Health` returned the row
count of every police table to any federation certificate, unlogged. Now only the
gateway may `Describe` (or `Execute`); `Health` says serving or not, nothing about the
data; every call is logged with the caller's identity. A real adapter process over mTLS.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from gateway.protocol.identities import GATEWAY_ID
from gateway.protocol.pki import init_pki
from gateway.protocol.tls import TlsFiles, peer_certificate_identity
from gerbang.v1 import adapter_pb2, adapter_pb2_grpc
from tools.city import seed_city
from tools.federation import AdapterSpec, LocalFederation


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    work = tmp_path_factory.mktemp("federation")
    init_pki(work / "pki", adapters=("t1",))
    url = f"sqlite:///{work / 't1.db'}"
    seed_city(url, incidents=100, seed=7, kota=("Jakarta Pusat",))
    fed = LocalFederation(work, [AdapterSpec("t1", url)])
    from gateway.cli.keys import development_identities
    from gateway.protocol.keys import init_keys

    init_keys(fed.keys_dir, development_identities(("t1",)))
    try:
        fed.start_adapters()
        yield fed
    finally:
        fed.stop()


def stub(federation: LocalFederation, identity: str) -> tuple[grpc.Channel, Path]:
    creds = TlsFiles.load(federation.pki, identity).channel_credentials()
    channel = grpc.secure_channel(federation.adapter_addresses["t1"], creds)
    return channel, federation.workdir / "logs" / "adapter-t1.log"


def identity_of(federation: LocalFederation, name: str) -> str:
    return peer_certificate_identity((federation.pki / f"{name}.pem").read_bytes())


def logged_calls(log: Path, method: str) -> list[dict[str, object]]:
    calls = []
    for line in log.read_text().splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("event") == "adapter call" and event.get("method") == method:
            calls.append(event)
    return calls


@pytest.mark.parametrize("identity", ["dishub-atcs", "kompolnas-oversight"])
def test_describe_is_for_the_gateway_only(federation: LocalFederation, identity: str) -> None:
    channel, log = stub(federation, identity)
    with channel, pytest.raises(grpc.RpcError) as err:
        adapter_pb2_grpc.AdapterServiceStub(channel).Describe(
            adapter_pb2.DescribeRequest(), timeout=10
        )
    assert err.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert "is not the gateway" in str(err.value.details())
    calls = logged_calls(log, "Describe")
    assert calls, "the refused call was not logged"
    assert calls[-1]["authorised"] is False
    assert calls[-1]["caller"] == identity_of(federation, identity)


def test_gateway_may_describe(federation: LocalFederation) -> None:
    channel, log = stub(federation, "gateway")
    with channel:
        answer = adapter_pb2_grpc.AdapterServiceStub(channel).Describe(
            adapter_pb2.DescribeRequest(), timeout=10
        )
    assert "incidents" in {d.name for d in answer.datasets}
    calls = logged_calls(log, "Describe")
    assert calls[-1]["caller"] == GATEWAY_ID
    assert calls[-1]["authorised"] is True


@pytest.mark.parametrize("identity", ["dishub-atcs", "gateway"])
def test_health_says_serving_and_nothing_about_the_data(
    federation: LocalFederation, identity: str
) -> None:
    channel, log = stub(federation, identity)
    with channel:
        answer = adapter_pb2_grpc.AdapterServiceStub(channel).Health(
            adapter_pb2.HealthRequest(), timeout=10
        )
    assert answer.serving
    assert dict(answer.dataset_rows) == {}  # no row counts of police tables
    calls = logged_calls(log, "Health")
    assert calls
    assert calls[-1]["caller"] == identity_of(federation, identity)


def test_execute_from_a_caller_is_refused_and_logged(federation: LocalFederation) -> None:
    channel, log = stub(federation, "dishub-atcs")
    with channel, pytest.raises(grpc.RpcError) as err:
        adapter_pb2_grpc.AdapterServiceStub(channel).Execute(
            adapter_pb2.ExecuteRequest(plan=b"x", key_id="k", signature=b"s"), timeout=10
        )
    assert err.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert logged_calls(log, "Execute")[-1]["authorised"] is False


def test_standard_health_and_reflection_calls_are_logged_with_the_caller(
    federation: LocalFederation,
) -> None:
    """The services beside AdapterService (grpc.health.v1, reflection) are logged too."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection_pb2

    channel, log = stub(federation, "kompolnas-oversight")
    with channel:
        health = health_pb2_grpc.HealthStub(channel)
        answer = health.Check(health_pb2.HealthCheckRequest(), timeout=10)  # type: ignore[attr-defined]
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
        reflect = channel.stream_stream(
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
        )
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        assert list(reflect(iter([request]), timeout=10))
    who = identity_of(federation, "kompolnas-oversight")
    check = logged_calls(log, "/grpc.health.v1.Health/Check")
    assert check
    assert check[-1]["caller"] == who
    info = logged_calls(log, "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo")
    assert info
    assert info[-1]["caller"] == who
