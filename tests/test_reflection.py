"""gRPC reflection serves v1 and v1alpha and resolves method symbols (issue 12).

Regression: the gateway and adapters served only `grpc.reflection.v1alpha`, and a
method symbol (`gerbang.v1.QueryService.Query`) resolved to nothing, so
`grpcurl describe` of a method and `ghz` without a protoset failed. Checked with a
Python reflection client asking both versions, and with grpcurl itself (`make tools`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import descriptor_pb2
from grpc_reflection.v1alpha import reflection_pb2

from gateway.protocol.pki import init_pki
from gateway.protocol.tls import TlsFiles
from tests.conftest import require
from tools.city import seed_city
from tools.federation import AdapterSpec, LocalFederation

VERSIONS = ("grpc.reflection.v1alpha.ServerReflection", "grpc.reflection.v1.ServerReflection")


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    work = tmp_path_factory.mktemp("reflection")
    init_pki(work / "pki", adapters=("r1",))
    url = f"sqlite:///{work / 'r1.db'}"
    seed_city(url, incidents=50, seed=3, kota=("Jakarta Pusat",))
    with LocalFederation(work, [AdapterSpec("r1", url)]) as fed:
        yield fed


def ask(
    federation: LocalFederation,
    address: str,
    service: str,
    request: reflection_pb2.ServerReflectionRequest,
) -> reflection_pb2.ServerReflectionResponse:
    """One reflection request under `service`; v1's messages are v1alpha's on the wire."""
    creds = TlsFiles.load(federation.pki, "dishub-atcs").channel_credentials()
    with grpc.secure_channel(address, creds) as channel:
        call = channel.stream_stream(
            f"/{service}/ServerReflectionInfo",
            request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
        )
        (answer,) = list(call(iter([request]), timeout=10))
    assert isinstance(answer, reflection_pb2.ServerReflectionResponse)
    return answer


def servers(federation: LocalFederation) -> dict[str, tuple[str, str]]:
    """Each server's address and a method symbol it serves."""
    return {
        "gateway": (federation.address, "gerbang.v1.QueryService.Query"),
        "adapter": (federation.adapter_addresses["r1"], "gerbang.v1.AdapterService.Execute"),
    }


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("server", ["gateway", "adapter"])
def test_reflection_lists_services_and_resolves_a_method(
    federation: LocalFederation, server: str, version: str
) -> None:
    address, symbol = servers(federation)[server]
    listed = ask(
        federation, address, version, reflection_pb2.ServerReflectionRequest(list_services="")
    )
    names = {s.name for s in listed.list_services_response.service}
    assert set(VERSIONS) <= names
    assert symbol.rsplit(".", 1)[0] in names

    found = ask(
        federation,
        address,
        version,
        reflection_pb2.ServerReflectionRequest(file_containing_symbol=symbol),
    )
    assert not found.HasField("error_response"), found.error_response.error_message
    files = [
        descriptor_pb2.FileDescriptorProto.FromString(b)
        for b in found.file_descriptor_response.file_descriptor_proto
    ]
    service_name, method = symbol.rsplit(".", 1)
    services = {
        f"{f.package}.{s.name}": {m.name for m in s.method} for f in files for s in f.service
    }
    assert method in services[service_name]


def test_unknown_method_is_not_found(federation: LocalFederation) -> None:
    answer = ask(
        federation,
        federation.address,
        VERSIONS[1],
        reflection_pb2.ServerReflectionRequest(
            file_containing_symbol="gerbang.v1.QueryService.Nope"
        ),
    )
    assert answer.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]


def grpcurl() -> str:
    found = shutil.which("grpcurl") or str(
        Path(os.environ.get("GOPATH", Path.home() / "go")) / "bin" / "grpcurl"
    )
    require(Path(found).exists(), "no grpcurl (run `make tools`)")
    return found


@pytest.mark.parametrize("server", ["gateway", "adapter"])
def test_grpcurl_describes_a_method(federation: LocalFederation, server: str) -> None:
    address, symbol = servers(federation)[server]
    pki = federation.pki
    out = subprocess.run(
        [
            grpcurl(),
            "-cacert",
            str(pki / "ca.pem"),
            "-cert",
            str(pki / "dishub-atcs.pem"),
            "-key",
            str(pki / "dishub-atcs.key"),
            "-max-time",
            "20",
            address,
            "describe",
            symbol,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert f"rpc {symbol.rsplit('.', 1)[1]} (" in out.stdout
