"""End-to-end sealing and signatures (issue 6), over real processes.

Every refusal here releases nothing: the gateway refuses before any plan is
made, the adapter refuses before it runs anything, or the caller's library
refuses before it opens anything.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest

from gateway.audit.store import AuditStore
from gateway.client import GerbangClient, QueryRefused
from gateway.errors import GerbangError, UntrustedInputError
from gateway.protocol.canonical import canonical_json
from gateway.protocol.evidence import (
    attestation,
    seal_result,
    sha256,
    sign_blob,
    user_commitment,
    verify_bundle,
)
from gateway.protocol.identities import GATEWAY_ID, adapter_id
from gateway.protocol.keys import KeyRegistry, Signer
from gateway.protocol.model import Aggregation, Filter, GroupBy, Op, Query, QueryPlan
from gateway.protocol.pki import init_pki
from gateway.protocol.release import hold_key, release_id
from gateway.protocol.tls import TlsFiles
from gerbang.v1 import adapter_pb2, adapter_pb2_grpc, query_pb2
from tests.conftest import month_window
from tools.city import seed_city
from tools.federation import AdapterSpec, LocalFederation

PURPOSES = json.loads(Path("policies/registry/purposes/data.json").read_text())
CASE = "LP/B/1234/XI/2026/SPKT/POLDA METRO JAYA"
# The investigator behind the record-level requests: a keyed commitment by the organisation.
INVESTIGATOR = user_commitment(b"\x42" * 32, "https://idp.polda-metro-jaya.test", "penyidik-0042")
REGIONS = {"s1": ("Jakarta Pusat",), "s2": ("Jakarta Selatan",)}


def basis(purpose: str) -> str:
    return str(PURPOSES[purpose]["legal_basis"])


TRAFFIC = Query(
    "incidents",
    ("kecamatan",),
    month_window(2026, 10),
    Aggregation((GroupBy("kecamatan"),)),
    "traffic_planning",
    basis("traffic_planning"),
)


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    work = tmp_path_factory.mktemp("sealed")
    init_pki(work / "pki", adapters=tuple(REGIONS))
    specs = []
    for i, (name, kota) in enumerate(REGIONS.items()):
        url = f"sqlite:///{work / f'{name}.db'}"
        seed_city(url, incidents=3000, seed=11 + i, kota=kota)
        specs.append(AdapterSpec(name, url))
    with LocalFederation(work, specs) as fed:
        yield fed


@pytest.fixture
async def atcs(federation: LocalFederation) -> AsyncIterator[GerbangClient]:
    async with GerbangClient.connect(federation.address, federation.pki, "dishub-atcs") as c:
        yield c


@pytest.fixture
async def reskrim(federation: LocalFederation) -> AsyncIterator[GerbangClient]:
    async with GerbangClient.connect(federation.address, federation.pki, "reskrim") as c:
        yield c


def last_entry(federation: LocalFederation) -> dict[str, object]:
    store = AuditStore(federation.audit_url)
    try:
        size = store.head().size
        return store.entries(size - 1, size)[0].fields()
    finally:
        store.close()


async def test_results_cross_the_gateway_sealed_and_open_for_the_caller(
    atcs: GerbangClient, federation: LocalFederation
) -> None:
    request, canonical, signature = atcs.signed_request(TRAFFIC)
    response = await atcs.query_raw(request)
    for part in response.results:
        # A clear ResultSet would carry its column name and kecamatan names.
        assert b"kecamatan" not in part.payload
        assert b"Menteng" not in part.payload
        assert b"Kebayoran" not in part.payload
    result = atcs.open_response(response, canonical, signature)
    assert result.rows
    assert {"Menteng", "Kebayoran Baru"} & {r["kecamatan"] for r in result.rows}
    assert all(r["count"] >= 10 for r in result.rows)  # type: ignore[operator]
    entry = last_entry(federation)
    assert entry["request_hash"] == sha256(canonical).hex()
    digests = sorted(r["sha256"] for r in entry["results"])  # type: ignore[attr-defined]
    assert digests == sorted(sha256(p.payload).hex() for p in response.results)


async def test_unsigned_request_is_refused_and_audited(
    atcs: GerbangClient, federation: LocalFederation
) -> None:
    with pytest.raises(QueryRefused) as refused:
        await atcs.query_raw(TRAFFIC.to_proto())
    assert refused.value.code is grpc.StatusCode.UNAUTHENTICATED
    assert "not signed" in refused.value.message
    assert last_entry(federation)["status"] == "UNAUTHENTICATED"


async def test_request_signed_with_another_callers_key_is_refused(
    federation: LocalFederation,
) -> None:
    # The transport agency's mTLS identity, the planning agency's signing key.
    async with GerbangClient.connect(federation.address, federation.pki, "dishub-atcs") as c:
        other = Signer.current(
            federation.keys_dir, "citata-spatial", "spiffe://gerbang.jakarta.go.id/citata/spatial"
        )
        object.__setattr__(c.keys, "signer", other)
        with pytest.raises(QueryRefused) as refused:
            await c.query(TRAFFIC)
    assert refused.value.code is grpc.StatusCode.UNAUTHENTICATED
    assert "belongs to spiffe://gerbang.jakarta.go.id/citata/spatial" in refused.value.message
    assert last_entry(federation)["decision"] == "deny"


async def test_replayed_request_is_refused_even_after_a_restart(
    atcs: GerbangClient, federation: LocalFederation
) -> None:
    request, _, _ = atcs.signed_request(TRAFFIC)
    await atcs.query_raw(request)
    with pytest.raises(QueryRefused) as refused:
        await atcs.query_raw(request)
    assert refused.value.code is grpc.StatusCode.UNAUTHENTICATED
    assert "replayed" in refused.value.message
    federation.kill_gateway()
    federation.start_gateway()
    with pytest.raises(QueryRefused) as again:
        await atcs.query_raw(request)
    assert "replayed" in again.value.message


async def test_stale_request_is_refused(atcs: GerbangClient) -> None:
    request, _, _ = atcs.signed_request(
        TRAFFIC, now=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    )
    with pytest.raises(QueryRefused) as refused:
        await atcs.query_raw(request)
    assert "not fresh" in refused.value.message


async def test_tampered_ciphertext_is_refused_before_opening(atcs: GerbangClient) -> None:
    request, canonical, signature = atcs.signed_request(TRAFFIC)
    response = await atcs.query_raw(request)
    payload = bytearray(response.results[0].payload)
    payload[40] ^= 1
    response.results[0].payload = bytes(payload)
    with pytest.raises(UntrustedInputError, match="does not match its attestation"):
        atcs.open_response(response, canonical, signature)


async def test_results_swapped_between_callers_are_refused(
    atcs: GerbangClient, federation: LocalFederation
) -> None:
    request, _, _ = atcs.signed_request(TRAFFIC)
    response = await atcs.query_raw(request)
    async with GerbangClient.connect(federation.address, federation.pki, "reskrim") as other:
        own, canonical, signature = other.signed_request(TRAFFIC)
        with pytest.raises(UntrustedInputError, match="answers another request"):
            other.open_response(response, canonical, signature)
        assert own.auth.nonce != request.auth.nonce


async def test_result_sealed_to_the_wrong_key_does_not_open(
    atcs: GerbangClient, federation: LocalFederation
) -> None:
    """Even with a valid adapter attestation, a result sealed to another key is refused."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    request, canonical, signature = atcs.signed_request(TRAFFIC)
    response = await atcs.query_raw(request)
    part = response.results[0]
    plan_hash = sha256(part.plan.data)
    wrong = seal_result(b"\x0a\x05count", X25519PrivateKey.generate().public_key(), plan_hash)
    adapter = QueryPlan.from_proto(adapter_pb2.QueryPlan.FromString(part.plan.data)).adapter_id
    slug = "adapter-" + adapter.rsplit("adapter-", 1)[1]
    signer = Signer.current(federation.keys_dir, slug, adapter)
    attested = sign_blob(attestation(adapter, plan_hash, wrong, 1, dt.datetime.now(dt.UTC)), signer)
    part.payload = wrong
    part.attestation.CopyFrom(
        query_pb2.SignedBlob(
            data=attested.data, key_id=attested.key_id, signature=attested.signature
        )
    )
    with pytest.raises(UntrustedInputError, match="does not open"):
        atcs.open_response(response, canonical, signature)


# --- plans sent straight to an adapter, as a compromised network or gateway would ---


def _adapter_call(
    federation: LocalFederation, name: str, request: adapter_pb2.ExecuteRequest
) -> grpc.RpcError | adapter_pb2.ExecuteResponse:
    creds = TlsFiles.load(federation.pki, "gateway").channel_credentials()
    with grpc.secure_channel(federation.adapter_addresses[name], creds) as channel:
        stub = adapter_pb2_grpc.AdapterServiceStub(channel)
        try:
            answer: adapter_pb2.ExecuteResponse = stub.Execute(request, timeout=10)
        except grpc.RpcError as e:
            return e
        return answer


def _plan(
    federation: LocalFederation, *, to: str = "s1", expires_in: float = 30, plan_id: str = ""
) -> QueryPlan:
    from gateway.protocol.keys import RegistryFile

    hpke = (
        RegistryFile(federation.keys_dir / "registry.json")
        .get()
        .current("spiffe://gerbang.jakarta.go.id/dishub/atcs", "hpke", dt.datetime.now(dt.UTC))
    )
    until = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(hours=1)
    plan = QueryPlan(
        plan_id=plan_id or f"test/{dt.datetime.now().timestamp()}",
        request_id="test",
        adapter_id=adapter_id(to),
        dataset="incidents",
        fields=("kecamatan",),
        filters=(Filter("kota", Op.IN, ("Jakarta Pusat",)),),
        aggregation=Aggregation((GroupBy("kecamatan"),)),
        aggregate_only=True,
        max_rows=100,
        min_cell_count=10,
        purpose="traffic_planning",
        expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=expires_in),
        policy_revision="0" * 64,
        request_hash=b"\0" * 32,
        caller="spiffe://gerbang.jakarta.go.id/dishub/atcs",
        caller_hpke_public_key=hpke.public,
        # Aggregate-only counts are noisy releases, charged by the gateway (ADR 0009).
        epsilon=1.0,
        release_fresh=True,
        release_until=until,
    )
    # The release id the gateway would sign: the hash of the plan's content and hold.
    return dataclasses.replace(plan, release_id=release_id(plan, hold_key(until)))


def _signed(
    federation: LocalFederation, plan: QueryPlan, slug: str = "gateway", owner: str = GATEWAY_ID
) -> adapter_pb2.ExecuteRequest:
    blob = sign_blob(
        plan.to_proto().SerializeToString(), Signer.current(federation.keys_dir, slug, owner)
    )
    return adapter_pb2.ExecuteRequest(plan=blob.data, key_id=blob.key_id, signature=blob.signature)


def _refusal(answer: object) -> str:
    assert isinstance(answer, grpc.RpcError), "the adapter ran a plan it must refuse"
    assert answer.code() is grpc.StatusCode.FAILED_PRECONDITION
    return str(answer.details())


def test_adapter_runs_a_signed_plan_once(federation: LocalFederation) -> None:
    request = _signed(federation, _plan(federation))
    first = _adapter_call(federation, "s1", request)
    assert isinstance(first, adapter_pb2.ExecuteResponse)
    assert "replayed" in _refusal(_adapter_call(federation, "s1", request))


def test_adapter_refuses_unsigned_expired_misaddressed_and_foreign_plans(
    federation: LocalFederation,
) -> None:
    plan = _plan(federation)
    unsigned = adapter_pb2.ExecuteRequest(plan=plan.to_proto().SerializeToString())
    assert "not signed" in _refusal(_adapter_call(federation, "s1", unsigned))
    expired = _signed(federation, _plan(federation, expires_in=-1))
    assert "expired" in _refusal(_adapter_call(federation, "s1", expired))
    elsewhere = _signed(federation, _plan(federation, to="s2"))
    assert "addressed to" in _refusal(_adapter_call(federation, "s1", elsewhere))
    # A plan signed by a caller's key, not the gateway's.
    forged = _signed(
        federation, _plan(federation), "dishub-atcs", "spiffe://gerbang.jakarta.go.id/dishub/atcs"
    )
    assert "belongs to" in _refusal(_adapter_call(federation, "s1", forged))
    tampered = _signed(federation, _plan(federation))
    tampered.plan = tampered.plan.replace(b"Jakarta Pusat", b"Jakarta Barat")
    assert "does not verify" in _refusal(_adapter_call(federation, "s1", tampered))


# --- evidence a court can check ---------------------------------------------------------


async def test_evidence_bundle_verifies_offline_and_rejects_any_changed_byte(
    reskrim: GerbangClient, federation: LocalFederation, tmp_path: Path
) -> None:
    result = await reskrim.query(
        Query(
            "incidents",
            ("incident_id", "kecamatan", "category"),
            (Filter("category", Op.EQ, ("robbery",)),),
            None,
            "criminal_investigation",
            basis("criminal_investigation"),
            case_reference=CASE,
            limit=5,
        ),
        user=INVESTIGATOR,
    )
    bundle = await reskrim.evidence(result)
    data = canonical_json(bundle)
    registry = KeyRegistry.load(federation.keys_dir / "registry.json")
    log_key = federation.log_key_path.with_suffix(".pub").read_text().strip()
    summary = verify_bundle(json.loads(data), registry, log_key)
    assert summary.case_reference == CASE
    assert summary.user_commitment == INVESTIGATOR.hex()
    assert summary.rows == len(result.rows)
    accepted = []
    for i in range(len(data)):
        changed = bytearray(data)
        changed[i] ^= 0x01
        try:
            verify_bundle(json.loads(changed), registry, log_key)
        except (GerbangError, ValueError, KeyError, TypeError, AttributeError):
            continue
        accepted.append(i)
    assert accepted == [], [data[max(i - 20, 0) : i + 20] for i in accepted[:3]]

    path = tmp_path / "bundle.json"
    path.write_bytes(data)
    from gateway.cli import main as gerbang

    assert (
        gerbang(
            [
                "evidence",
                "verify",
                str(path),
                "--registry",
                str(federation.keys_dir / "registry.json"),
                "--log-key",
                log_key,
            ]
        )
        == 0
    )
    path.write_bytes(data.replace(b'"leaf_index":', b'"leaf_indey":', 1))
    assert (
        gerbang(
            [
                "evidence",
                "verify",
                str(path),
                "--registry",
                str(federation.keys_dir / "registry.json"),
                "--log-key",
                log_key,
            ]
        )
        == 1
    )
