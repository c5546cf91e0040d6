"""The agent's faults against real processes: a tampered part from an adapter, a gateway down.

Between the gateway and adapter "t1" sits a relay in the test process that holds that
adapter's server certificate (as an attacker on the adapter's host would) and, when told,
flips one byte of the sealed result it passes on. The agent must answer 502 naming the
adapter and release nothing. A gateway that is down, or never was, is 503 with Retry-After.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import grpc
import httpx
import pytest

from gateway.audit.store import AuditStore
from gateway.cli.keys import development_identities
from gateway.protocol.canonical import canonical_json
from gateway.protocol.evidence import sha256, sign_blob
from gateway.protocol.identities import adapter_id
from gateway.protocol.keys import Signer, init_keys
from gateway.protocol.pki import init_pki
from gateway.protocol.tls import TlsFiles
from gerbang.v1 import adapter_pb2, adapter_pb2_grpc
from tools.agent_federation import LocalAgent
from tools.city import seed_city
from tools.federation import AdapterSpec, LocalFederation, free_port

PURPOSES = json.loads(Path("policies/registry/purposes/data.json").read_text())
REGIONS = {"t1": ("Jakarta Pusat",), "t2": ("Jakarta Selatan",)}
TRAFFIC = {
    "dataset": "incidents",
    "fields": ["kecamatan"],
    "filters": [
        {"field": "occurred_at", "op": "ge", "values": [{"time": "2026-08-01T00:00:00Z"}]},
        {"field": "occurred_at", "op": "lt", "values": [{"time": "2026-11-01T00:00:00Z"}]},
    ],
    "aggregation": {"group_by": [{"field": "kecamatan"}]},
    "purpose": "traffic_planning",
    "legal_basis": PURPOSES["traffic_planning"]["legal_basis"],
}


@dataclass
class TamperingRelay(adapter_pb2_grpc.AdapterServiceServicer):
    """`flip`: one bit of the ciphertext (the gateway's digest check catches it).
    `reseal`: other bytes, attested anew with the adapter's own key, as a compromised adapter
    would (the gateway cannot open results, so only the agent can catch it)."""

    upstream: adapter_pb2_grpc.AdapterServiceStub
    signer: Signer
    tamper: Literal["", "flip", "reseal"] = ""

    def Execute(
        self, request: adapter_pb2.ExecuteRequest, context: grpc.ServicerContext
    ) -> adapter_pb2.ExecuteResponse:
        response: adapter_pb2.ExecuteResponse = self.upstream.Execute(request, timeout=30)
        if self.tamper == "flip":
            payload = bytearray(response.payload)
            payload[-1] ^= 0x01
            response.payload = bytes(payload)
        elif self.tamper == "reseal":
            response.payload = os.urandom(len(response.payload))
            doc = json.loads(response.attestation)
            doc["ciphertext_sha256"] = sha256(response.payload).hex()
            signed = sign_blob(canonical_json(doc), self.signer)
            response.attestation = signed.data
            response.key_id, response.signature = signed.key_id, signed.signature
            response.payload_sha256 = sha256(response.payload)
        return response

    def Describe(
        self, request: adapter_pb2.DescribeRequest, context: grpc.ServicerContext
    ) -> adapter_pb2.DescribeResponse:
        answer: adapter_pb2.DescribeResponse = self.upstream.Describe(request, timeout=10)
        return answer

    def Health(
        self, request: adapter_pb2.HealthRequest, context: grpc.ServicerContext
    ) -> adapter_pb2.HealthResponse:
        answer: adapter_pb2.HealthResponse = self.upstream.Health(request, timeout=10)
        return answer


@pytest.fixture(scope="module")
def setup(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LocalFederation, TamperingRelay, LocalAgent]]:
    work = tmp_path_factory.mktemp("agent-faults")
    init_pki(work / "pki", adapters=tuple(REGIONS))
    specs = []
    for i, (name, kota) in enumerate(REGIONS.items()):
        url = f"sqlite:///{work / f'{name}.db'}"
        seed_city(url, incidents=2000, seed=41 + i, kota=kota, persons=100)
        specs.append(AdapterSpec(name, url))
    fed = LocalFederation(work, specs)
    init_keys(fed.keys_dir, development_identities(tuple(REGIONS)))
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    try:
        fed.start_adapters()
        upstream = grpc.secure_channel(
            fed.adapter_addresses["t1"], TlsFiles.load(fed.pki, "gateway").channel_credentials()
        )
        signer = Signer.current(fed.keys_dir, "adapter-t1", adapter_id("t1"))
        relay = TamperingRelay(adapter_pb2_grpc.AdapterServiceStub(upstream), signer)
        adapter_pb2_grpc.add_AdapterServiceServicer_to_server(relay, server)
        relay_address = f"127.0.0.1:{free_port()}"
        server.add_secure_port(
            relay_address, TlsFiles.load(fed.pki, "adapter-t1").server_credentials()
        )
        server.start()
        fed.adapter_addresses["t1"] = relay_address
        fed.start_gateway()
        with LocalAgent(fed, "dishub-atcs") as agent:
            yield fed, relay, agent
        upstream.close()
    finally:
        server.stop(None)
        fed.stop()


def audit_entry(federation: LocalFederation, index: int) -> dict[str, Any]:
    store = AuditStore(federation.audit_url)
    try:
        return store.entries(index, index + 1)[0].fields()
    finally:
        store.close()


def ask(agent: LocalAgent) -> httpx.Response:
    headers = {"Authorization": f"Bearer {agent.token}", "Gerbang-End-User": agent.id_token()}
    return httpx.post(agent.url + "/v1/query", json=TRAFFIC, headers=headers, timeout=60)


@pytest.mark.parametrize("tamper", ["flip", "reseal"])
def test_a_tampered_part_is_502_naming_the_adapter_and_nothing_is_released(
    setup: tuple[LocalFederation, TamperingRelay, LocalAgent], tamper: Literal["flip", "reseal"]
) -> None:
    fed, relay, agent = setup
    honest = ask(agent)
    assert honest.status_code == 200, honest.text
    assert {"Menteng", "Tebet"} <= {row["kecamatan"] for row in honest.json()["result"]}

    relay.tamper = tamper
    try:
        r = ask(agent)
    finally:
        relay.tamper = ""
    assert r.status_code == 502, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["adapter"] == adapter_id("t1")
    assert adapter_id("t1") in problem["detail"]
    assert "result" not in problem
    assert "Menteng" not in r.text
    assert "Tebet" not in r.text  # the honest adapter's part is withheld too
    if tamper == "flip":  # refused at the gateway: its audit entry says so
        entry = audit_entry(fed, problem["audit_receipt"]["leaf_index"])
        assert entry["decision"] == "error"
        assert any(adapter_id("t1") in reason for reason in entry["reasons"])
    line = json.loads(agent.journal.read_text().splitlines()[-1])
    assert line["status"] == 502
    assert ask(agent).status_code == 200  # the next honest answer goes through


def test_gateway_down_is_503_with_retry_after(
    setup: tuple[LocalFederation, TamperingRelay, LocalAgent],
) -> None:
    fed, _, agent = setup
    # An agent whose gateway was never there.
    with LocalAgent(fed, "samapta", gateway=f"127.0.0.1:{free_port()}") as lonely:
        body = {"purpose": "patrol_planning", "legal_basis": "x", "end": "2026-11-01T00:00:00Z"}
        headers = {"Authorization": f"Bearer {lonely.token}", "Gerbang-End-User": lonely.id_token()}
        r = httpx.post(lonely.url + "/v1/security-index", json=body, headers=headers, timeout=60)
        assert r.status_code == 503, r.text
        assert int(r.headers["retry-after"]) > 0
        assert r.json()["type"].endswith("/gateway-unavailable")
    # The running gateway goes down under a running agent, then comes back.
    fed.kill_gateway()
    r = ask(agent)
    assert r.status_code == 503, r.text
    assert int(r.headers["retry-after"]) > 0
    fed.start_gateway()
    # Back again: the agent's channel reconnects after its backoff; a client honouring the
    # 503's Retry-After gets its answer (polled here, bounded).
    deadline = time.monotonic() + 30
    while (status := ask(agent).status_code) == 503 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert status == 200
