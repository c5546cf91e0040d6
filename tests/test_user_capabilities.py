"""A person behind every request, and "what may I ask?", against a real federation.

Real processes over mTLS (two adapters, the gateway with its Wasm policy engine): a
record-level request without its end user is denied naming the rule; with the user's
commitment it is allowed and the audit entry records the commitment (and only that);
Capabilities answers from the registry in force, follows a policy reload without a
restart, and is one audit entry per call.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest

from gateway.analytics import operations as ops
from gateway.audit.store import AuditStore
from gateway.client import GerbangClient, QueryRefused
from gateway.client.analytics import AnalyticsClient
from gateway.errors import PolicyDenied
from gateway.protocol.capabilities import describe
from gateway.protocol.evidence import user_commitment
from gateway.protocol.model import Aggregation, Filter, GroupBy, Op, Query
from gateway.protocol.pki import init_pki
from tests.conftest import month_window
from tools.city import seed_city
from tools.federation import AdapterSpec, LocalFederation

REGISTRY = Path("policies/registry")
PURPOSES = json.loads((REGISTRY / "purposes/data.json").read_text())
CALLERS = json.loads((REGISTRY / "callers/data.json").read_text())
CASE = "LP/B/1234/XI/2026/SPKT/POLDA METRO JAYA"
RESKRIM = "spiffe://gerbang.jakarta.go.id/polda-metro-jaya/reskrim"
ATCS = "spiffe://gerbang.jakarta.go.id/dishub/atcs"
ORG_KEY = b"\x42" * 32
INVESTIGATOR = user_commitment(ORG_KEY, "https://idp.polda-metro-jaya.test", "penyidik-0042")
RULE = (
    "purpose 'criminal_investigation' requires the end user behind the request "
    "(rule requires_user): sign the request with the user's commitment"
)

INVESTIGATION = Query(
    "incidents",
    ("incident_id", "kecamatan", "category"),
    # The case's own incidents: under a case only its rows come back (ADR 0013).
    (Filter("category", Op.EQ, ("motor_vehicle_theft",)),),
    None,
    "criminal_investigation",
    PURPOSES["criminal_investigation"]["legal_basis"],
    case_reference=CASE,
    limit=5,
)


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    work = tmp_path_factory.mktemp("federation")
    init_pki(work / "pki", adapters=("u1", "u2"))
    specs = []
    for i, (name, kota) in enumerate((("u1", "Jakarta Pusat"), ("u2", "Jakarta Selatan"))):
        url = f"sqlite:///{work / f'{name}.db'}"
        seed_city(url, incidents=1500, seed=11 + i, kota=(kota,))
        specs.append(AdapterSpec(name, url))
    shutil.copytree("policies", work / "policies")
    with LocalFederation(work, specs, policies=work / "policies") as fed:
        yield fed


@pytest.fixture
async def client(
    federation: LocalFederation, request: pytest.FixtureRequest
) -> AsyncIterator[GerbangClient]:
    identity = getattr(request, "param", "dishub-atcs")
    async with GerbangClient.connect(federation.address, federation.pki, identity) as c:
        yield c


def entries(federation: LocalFederation) -> list[dict[str, object]]:
    store = AuditStore(federation.audit_url)
    try:
        return [e.fields() for e in store.entries(0, store.head().size)]
    finally:
        store.close()


# --- a person behind every request ------------------------------------------------------


@pytest.mark.parametrize("client", ["reskrim"], indirect=True)
async def test_record_level_request_without_user_is_denied_naming_the_rule(
    client: GerbangClient, federation: LocalFederation
) -> None:
    with pytest.raises(QueryRefused) as refused:
        await client.query(INVESTIGATION)
    assert refused.value.code is grpc.StatusCode.PERMISSION_DENIED
    assert RULE in refused.value.reasons
    e = entries(federation)[refused.value.audit_index or 0]
    assert e["decision"] == "deny"
    assert RULE in e["reasons"]  # type: ignore[operator]
    assert "user_commitment" not in e


@pytest.mark.parametrize("client", ["reskrim"], indirect=True)
async def test_record_level_request_with_user_is_allowed_and_the_entry_commits_to_the_user(
    client: GerbangClient, federation: LocalFederation
) -> None:
    result = await client.query(INVESTIGATION, user=INVESTIGATOR)
    assert result.rows
    e = entries(federation)[result.receipt.leaf_index]
    assert e["decision"] == "allow"
    assert e["user_commitment"] == INVESTIGATOR.hex()
    # The organisation opens it with its key; the leaf holds no name or subject in clear.
    leaf = json.dumps(e)
    assert "penyidik-0042" not in leaf
    assert "idp.polda-metro-jaya" not in leaf
    assert user_commitment(ORG_KEY, "https://idp.polda-metro-jaya.test", "penyidik-0042") == (
        bytes.fromhex(str(e["user_commitment"]))
    )


@pytest.mark.parametrize("client", ["reskrim"], indirect=True)
async def test_a_user_commitment_of_the_wrong_length_is_refused(client: GerbangClient) -> None:
    request, _, _ = client.signed_request(INVESTIGATION, user=INVESTIGATOR)
    request.auth.user_commitment = INVESTIGATOR[:31]  # the signature no longer matches either
    with pytest.raises(QueryRefused) as refused:
        await client.query_raw(request)
    assert refused.value.code is grpc.StatusCode.UNAUTHENTICATED
    assert "user commitment must be 32 bytes" in refused.value.message


@pytest.mark.parametrize("client", ["reskrim"], indirect=True)
async def test_a_user_swapped_after_signing_is_refused(client: GerbangClient) -> None:
    request, _, _ = client.signed_request(INVESTIGATION, user=INVESTIGATOR)
    request.auth.user_commitment = bytes(32)
    with pytest.raises(QueryRefused) as refused:
        await client.query_raw(request)
    assert refused.value.code is grpc.StatusCode.UNAUTHENTICATED
    assert "signature does not verify" in refused.value.message


async def test_an_aggregate_request_needs_no_user_and_keeps_its_leaf_shape(
    client: GerbangClient, federation: LocalFederation
) -> None:
    traffic = PURPOSES["traffic_planning"]
    answer = await client.query(
        Query(
            "incidents",
            ("kecamatan",),
            month_window(2026, 10),
            Aggregation((GroupBy("kecamatan"),)),
            "traffic_planning",
            traffic["legal_basis"],
        )
    )
    assert "user_commitment" not in entries(federation)[answer.receipt.leaf_index]


# --- what may I ask? ---------------------------------------------------------------------


@pytest.mark.parametrize("client", ["reskrim"], indirect=True)
async def test_capabilities_list_the_callers_purposes_from_the_registry(
    client: GerbangClient, federation: LocalFederation
) -> None:
    before = len(entries(federation))
    caps = await client.capabilities()
    registered = CALLERS[RESKRIM]
    assert caps.caller == RESKRIM
    assert caps.organisation == registered["organisation"]
    assert sorted(p.name for p in caps.purposes) == sorted(registered["purposes"])
    inv = caps.purpose("criminal_investigation")
    spec = PURPOSES["criminal_investigation"]
    assert inv.legal_basis == spec["legal_basis"]
    assert inv.requires_user
    assert inv.case_reference_required
    assert not inv.aggregate_only
    assert inv.limits.max_rows == spec["max_rows"]
    incidents = next(d for d in inv.datasets if d.name == "incidents")
    assert set(incidents.fields) == set(spec["datasets"]["incidents"]["fields"])
    assert inv.privacy_budget is None
    # One audit entry, this call's.
    log = entries(federation)
    assert len(log) == before + 1
    assert log[caps.audit_index]["kind"] == "Capabilities"
    assert log[caps.audit_index]["caller"] == RESKRIM
    assert log[caps.audit_index]["policy_revision"] == caps.policy_revision


@pytest.mark.parametrize("client", ["citata-spatial"], indirect=True)
async def test_capabilities_show_the_privacy_budget_left(client: GerbangClient) -> None:
    caps = await client.capabilities()
    spatial = caps.purpose("spatial_planning")
    assert spatial.privacy_budget is not None
    assert spatial.privacy_budget.epsilon == PURPOSES["spatial_planning"]["epsilon"]
    assert spatial.privacy_budget.period == "month"
    budget = PURPOSES["spatial_planning"]["privacy_budget"]
    assert spatial.privacy_budget.per_caller == budget["per_caller"]
    assert spatial.privacy_budget.per_purpose == budget["per_purpose"]
    assert spatial.privacy_budget.hold == budget["hold"]
    assert 0 <= spatial.privacy_budget.remaining <= spatial.privacy_budget.per_caller
    assert spatial.generalisation.h3_max_resolution == 8
    incidents = next(d for d in spatial.datasets if d.name == "incidents")
    assert incidents.row_filters
    assert incidents.row_filters[0].field == "source"


async def test_capabilities_follow_a_policy_reload_without_restart(
    client: GerbangClient, federation: LocalFederation
) -> None:
    before = await client.capabilities()
    assert before.purpose("traffic_planning").limits.max_rows == 5000
    path = federation.policies / "registry" / "purposes" / "data.json"
    original = path.read_text()
    purposes = json.loads(original)
    purposes["traffic_planning"]["max_rows"] = 4321
    path.write_text(json.dumps(purposes, indent=2))
    try:
        for _ in range(100):  # the watcher looks every 2 s
            after = await client.capabilities()
            if after.policy_revision != before.policy_revision:
                break
            await asyncio.sleep(0.2)
        assert after.policy_revision != before.policy_revision
        assert after.purpose("traffic_planning").limits.max_rows == 4321
    finally:
        path.write_text(original)


@pytest.mark.parametrize("client", ["dprd-komisi-a"], indirect=True)
async def test_an_analytics_operation_carries_its_user_into_the_audit_entry(
    client: GerbangClient, federation: LocalFederation
) -> None:
    member = user_commitment(ORG_KEY, "https://sso.dprd.jakarta.go.id", "anggota-komisi-a-07")
    scope = ops.Scope(
        "security_indicators",
        PURPOSES["security_indicators"]["legal_basis"],
        end=dt.datetime(2026, 11, 1, tzinfo=ops.WIB),
    )
    index = await AnalyticsClient(client).security_index(scope, user=member)
    e = entries(federation)[index.result.receipt.leaf_index]
    assert e["caller"] == "spiffe://gerbang.jakarta.go.id/dprd/komisi-a"
    assert e["user_commitment"] == member.hex()


def test_an_unregistered_caller_may_ask_nothing() -> None:
    registry = {"callers": CALLERS, "purposes": PURPOSES}
    with pytest.raises(PolicyDenied, match="is not registered"):
        describe(registry, "spiffe://gerbang.jakarta.go.id/dishub/unknown", lambda *_: ("", 0.0))
    known = describe(registry, ATCS, lambda *_: ("", 0.0))
    assert [p.name for p in known.purposes] == sorted(CALLERS[ATCS]["purposes"])
