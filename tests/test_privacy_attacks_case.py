"""Attacks on case-bound record access and on the audit log's clear text (issue 11, items 4
and 5; ADR 0013), against real processes.

The federation is the one of test_gateway_e2e.py: two adapters over two regional SQLite police
databases (disjoint kota), the gateway with the default policy engine, mTLS throughout. The
investigator (`reskrim`) holds a legitimately issued certificate and one registered vehicle-theft
case. The databases are read directly only to know the truth the answers are checked against.

1. Case binding: whatever window, filter or dataset the investigator moves to, the rows that
   come back are the case's (its incidents, the persons linked to them, the vehicles they own,
   its case file); a plan that lost its binding is refused by the adapter and by the client.
2. No caller value in clear: a battery of bad requests, each carrying a distinctive marker where
   the caller types (purpose, legal basis, case reference, dataset, field, filter values, key ID).
   No marker appears in the refusal the caller gets, in the audit leaf, or in the gateway's log;
   each refusal is exactly one audit entry.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from gateway.analytics import operations as ops
from gateway.audit.store import AuditStore
from gateway.client.analytics import AnalyticsClient
from gateway.client.core import GerbangClient, QueryRefused, QueryResult, check_case_binding
from gateway.errors import UntrustedInputError
from gateway.policy.bundle import load_bundle
from gateway.protocol.audit_entry import commit_value
from gateway.protocol.audit_names import COMMITTED, RegisteredNames, committed_unless
from gateway.protocol.evidence import sign_blob, user_commitment
from gateway.protocol.identities import GATEWAY_ID, adapter_id
from gateway.protocol.keys import Signer
from gateway.protocol.model import Aggregation, CaseBinding, Filter, GroupBy, Op, Query, QueryPlan
from gateway.protocol.pki import init_pki
from gateway.protocol.planning import PLAN_LIFETIME
from gateway.protocol.tls import TlsFiles
from gerbang.v1 import adapter_pb2, adapter_pb2_grpc, query_pb2
from tests.conftest import month_window
from tools.city import seed_city
from tools.federation import AdapterSpec, LocalFederation

CASE = "LP/B/1234/XI/2026/SPKT/POLDA METRO JAYA"
# The investigator behind the requests (record-level purposes name their end user).
INVESTIGATOR = user_commitment(b"\x42" * 32, "https://idp.polda-metro-jaya.test", "penyidik-0042")
PURPOSES = json.loads(Path("policies/registry/purposes/data.json").read_text())
BASIS = str(PURPOSES["criminal_investigation"]["legal_basis"])
REGIONS = {
    "c1": ("Jakarta Pusat", "Jakarta Barat", "Jakarta Utara"),
    "c2": ("Jakarta Selatan", "Jakarta Timur"),  # Tebet, where the case's thefts happened
}


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    work = tmp_path_factory.mktemp("case_attacks")
    init_pki(work / "pki", adapters=tuple(REGIONS))
    specs = []
    for i, (name, kota) in enumerate(REGIONS.items()):
        url = f"sqlite:///{work / f'{name}.db'}"
        seed_city(url, incidents=6000, seed=31 + i, kota=kota)
        specs.append(AdapterSpec(name, url))
    with LocalFederation(work, specs) as fed:
        yield fed


def truth(federation: LocalFederation, sql: str, *args: object) -> set[tuple[Any, ...]]:
    """What both police databases hold, read directly (never through Gerbang)."""
    out: set[tuple[Any, ...]] = set()
    for name in REGIONS:
        with sqlite3.connect(federation.workdir / f"{name}.db") as conn:
            out |= {(name, *row) for row in conn.execute(sql, args)}
    return out


# The case's rows, as the police databases hold them (read directly, for the truth).
CASE_INCIDENTS = (
    "SELECT i.incident_id FROM incidents i JOIN cases c ON c.case_id = i.case_id "
    "WHERE c.case_number = ?"
)
CASE_PERSONS = (
    "SELECT DISTINCT ip.person_id FROM incident_persons ip"
    " JOIN incidents i ON i.incident_id = ip.incident_id"
    " JOIN cases c ON c.case_id = i.case_id WHERE c.case_number = ?"
)
CASE_NIKS = (
    "SELECT DISTINCT p.nik FROM persons p JOIN incident_persons ip ON ip.person_id = p.person_id"
    " JOIN incidents i ON i.incident_id = ip.incident_id"
    " JOIN cases c ON c.case_id = i.case_id WHERE c.case_number = ?"
)
CASE_PLATES = (
    "SELECT DISTINCT v.plate FROM vehicles v"
    " JOIN incident_persons ip ON ip.person_id = v.owner_person_id"
    " JOIN incidents i ON i.incident_id = ip.incident_id"
    " JOIN cases c ON c.case_id = i.case_id WHERE c.case_number = ?"
)
OUTSIDE_NIKS = (
    "SELECT nik FROM persons WHERE person_id NOT IN (SELECT ip.person_id FROM incident_persons ip"
    " JOIN incidents i ON i.incident_id = ip.incident_id"
    " JOIN cases c ON c.case_id = i.case_id WHERE c.case_number = ?)"
)


def entry(federation: LocalFederation, index: int) -> tuple[bytes, dict[str, Any]]:
    store = AuditStore(federation.audit_url)
    try:
        e = store.entries(index, index + 1)[0]
        return e.leaf, e.fields()
    finally:
        store.close()


def log_size(federation: LocalFederation) -> int:
    store = AuditStore(federation.audit_url)
    try:
        return store.head().size
    finally:
        store.close()


def under_case(dataset: str, fields: tuple[str, ...], *filters: Filter, **kw: object) -> Query:
    base: dict[str, object] = {
        "dataset": dataset,
        "fields": fields,
        "filters": filters,
        "aggregation": None,
        "purpose": "criminal_investigation",
        "legal_basis": BASIS,
        "case_reference": CASE,
        "limit": 1000,
    }
    return Query(**(base | kw))  # type: ignore[arg-type]


async def ask(client: GerbangClient, query: Query) -> QueryResult:
    """The query, signed naming the investigator as its end user."""
    return await client.query(query, user=INVESTIGATOR)


def investigator(federation: LocalFederation) -> GerbangClient:
    return GerbangClient.connect(federation.address, federation.pki, "reskrim")


def at(year: int) -> dt.datetime:
    return dt.datetime(year, 1, 1, tzinfo=dt.UTC)


# --- 1. the case binding ------------------------------------------------------------------


async def test_the_case_has_rows_to_find(federation: LocalFederation) -> None:
    # The attacks below would prove nothing against an empty case.
    assert 2 <= len(truth(federation, CASE_INCIDENTS, CASE)) <= 5
    assert truth(federation, CASE_PERSONS, CASE)


async def test_incidents_are_the_cases_only_whatever_the_window(
    federation: LocalFederation,
) -> None:
    case = {(i,) for _, i in truth(federation, CASE_INCIDENTS, CASE)}
    everything = truth(federation, "SELECT incident_id FROM incidents")
    assert len(everything) > 100 * len(case)
    async with investigator(federation) as c:
        result = await ask(c, under_case("incidents", ("incident_id", "kecamatan", "category")))
        assert {(r["incident_id"],) for r in result.rows} == case
        assert {(r["kecamatan"], r["category"]) for r in result.rows} == {
            ("Tebet", "motor_vehicle_theft")
        }
        # Moving a window across the whole year, a month at a time, finds nothing more.
        seen: set[object] = set()
        for month in range(12):
            start = dt.datetime(2025, 11, 1, tzinfo=dt.UTC) + dt.timedelta(days=31 * month)
            window = (
                Filter("occurred_at", Op.GE, (start,)),
                Filter("occurred_at", Op.LT, (start + dt.timedelta(days=31),)),
            )
            part = await ask(c, under_case("incidents", ("incident_id",), *window))
            seen |= {r["incident_id"] for r in part.rows}
        assert {(i,) for i in seen} <= case


async def test_persons_are_the_cases_only_whatever_the_birth_date_window(
    federation: LocalFederation,
) -> None:
    # The reported attack: tens of thousands of persons read by moving birth-date windows.
    case_nik = {n for _, n in truth(federation, CASE_NIKS, CASE)}
    all_persons = truth(federation, "SELECT nik FROM persons")
    assert len(all_persons) > 100 * len(case_nik)
    seen: set[object] = set()
    async with investigator(federation) as c:
        for decade in range(1930, 2030, 10):
            window = (
                Filter("birth_date", Op.GE, (at(decade),)),
                Filter("birth_date", Op.LT, (at(decade + 10),)),
            )
            result = await ask(c, under_case("persons", ("nik", "name", "birth_date"), *window))
            seen |= {r["nik"] for r in result.rows}
    assert seen == case_nik


async def test_filters_pointing_outside_the_case_find_nothing(
    federation: LocalFederation,
) -> None:
    case_ids = {i for _, i in truth(federation, CASE_INCIDENTS, CASE)}
    # One incident outside the case, pinned down to its second.
    _, _, outsider_at = next(
        row
        for row in sorted(truth(federation, "SELECT incident_id, occurred_at FROM incidents"))
        if row[1] not in case_ids
    )
    second = dt.datetime.fromisoformat(outsider_at).replace(tzinfo=dt.UTC)
    pinned = (
        Filter("occurred_at", Op.GE, (second,)),
        Filter("occurred_at", Op.LT, (second + dt.timedelta(seconds=1),)),
    )
    outsider_nik: str = next(
        n
        for _, n in sorted(
            truth(
                federation,
                OUTSIDE_NIKS,
                CASE,
            )
        )
    )
    async with investigator(federation) as c:
        for query in (
            under_case("incidents", ("incident_id",), *pinned),
            under_case("incidents", ("incident_id",), Filter("kecamatan", Op.EQ, ("Menteng",))),
            under_case("incidents", ("incident_id",), Filter("category", Op.EQ, ("narcotics",))),
            under_case("persons", ("nik",), Filter("nik", Op.EQ, (outsider_nik,))),
            under_case("vehicles", ("plate",), Filter("stolen", Op.EQ, (False,))),
        ):
            result = await ask(c, query)
            # Nothing outside: the non-stolen vehicles asked for are the case persons' only.
            if query.dataset == "vehicles":
                owners = {r["plate"] for r in result.rows}
                assert owners <= {
                    p
                    for _, p in truth(
                        federation,
                        CASE_PLATES,
                        CASE,
                    )
                }
            else:
                assert result.rows == [], query


async def test_other_datasets_reach_only_the_case(federation: LocalFederation) -> None:
    plates = {
        p
        for _, p in truth(
            federation,
            CASE_PLATES,
            CASE,
        )
    }
    assert plates  # the seeder gives the case's victims their stolen vehicles
    async with investigator(federation) as c:
        vehicles = await ask(c, under_case("vehicles", ("plate", "stolen")))
        assert {r["plate"] for r in vehicles.rows} == plates
        links = await ask(c, under_case("incident_persons", ("incident_id", "role")))
        case_ids = {i for _, i in truth(federation, CASE_INCIDENTS, CASE)}
        assert links.rows
        assert {r["incident_id"] for r in links.rows} <= case_ids
        files = await ask(c, under_case("cases", ("case_number", "status")))
        assert [r["case_number"] for r in files.rows] == [CASE]
        counts = await ask(
            c,
            under_case(
                "incidents", ("kecamatan",), aggregation=Aggregation((GroupBy("kecamatan"),))
            ),
        )
        assert counts.rows == [{"kecamatan": "Tebet", "count": len(case_ids)}]
        # Every plan the adapters ran was signed with the binding to this case.
        for result in (vehicles, links, files, counts):
            assert all(p.case_binding == CaseBinding(CASE, (CASE,)) for p in result.plans)


async def test_client_refuses_an_answer_whose_plans_lost_the_binding(
    federation: LocalFederation,
) -> None:
    query = under_case("incidents", ("incident_id",))
    async with investigator(federation) as c:
        result = await ask(c, query)
    check_case_binding(query, result.plans)  # as signed: bound
    unbound = [dataclasses.replace(p, case_binding=None) for p in result.plans]
    with pytest.raises(UntrustedInputError, match="not bound to the case"):
        check_case_binding(query, unbound)
    other = [
        dataclasses.replace(p, case_binding=CaseBinding("LP/B/1/I/2026", ("LP/B/1/I/2026",)))
        for p in result.plans
    ]
    with pytest.raises(UntrustedInputError, match="not bound to the case"):
        check_case_binding(query, other)


async def test_adapter_refuses_a_gateway_signed_record_plan_without_binding(
    federation: LocalFederation,
) -> None:
    # Even a plan the gateway signed is refused without the binding: the adapter fails closed.
    signer = Signer.current(federation.keys_dir, "gateway", GATEWAY_ID)
    tls = TlsFiles.load(federation.pki, "gateway")
    async with investigator(federation) as c:
        hpke = c.keys.current_hpke
    name = "c2"
    channel = grpc.aio.secure_channel(federation.adapter_addresses[name], tls.channel_credentials())
    try:
        stub = adapter_pb2_grpc.AdapterServiceStub(channel)

        def plan(binding: CaseBinding | None) -> QueryPlan:
            request_id = uuid.uuid4().hex
            return QueryPlan(
                plan_id=f"{request_id}/{adapter_id(name)}",
                request_id=request_id,
                adapter_id=adapter_id(name),
                dataset="persons",
                fields=("nik",),
                filters=(),
                aggregation=None,
                aggregate_only=False,
                max_rows=1000,
                min_cell_count=1,
                purpose="criminal_investigation",
                expires_at=dt.datetime.now(dt.UTC) + PLAN_LIFETIME,
                policy_revision="0" * 64,
                caller="spiffe://gerbang.jakarta.go.id/polda-metro-jaya/reskrim",
                caller_hpke_public_key=hpke,
                case_binding=binding,
            )

        def execute(p: QueryPlan) -> adapter_pb2.ExecuteRequest:
            blob = sign_blob(p.to_proto().SerializeToString(), signer)
            return adapter_pb2.ExecuteRequest(
                plan=blob.data, key_id=blob.key_id, signature=blob.signature
            )

        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.Execute(execute(plan(None)), timeout=10)
        assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
        assert "case binding" in (refused.value.details() or "")
        bound = await stub.Execute(execute(plan(CaseBinding(CASE, (CASE,)))), timeout=10)
        persons = truth(federation, CASE_PERSONS, CASE)
        assert bound.row_count == len({p for region, p in persons if region == name})
    finally:
        await channel.close()


@pytest.mark.parametrize(
    "reference",
    [
        "LP/B/0456/III/2025/SPKT/POLDA METRO JAYA",  # expired
        "LP/B/2001/XII/2026/SPKT/POLDA METRO JAYA",  # ... or not yet: see its valid_from
        "LP/B/4321/XI/2026/SPKT/POLDA METRO JAYA",  # not registered
    ],
)
async def test_other_case_references_are_denied_and_audited_once(
    federation: LocalFederation, reference: str
) -> None:
    now = dt.datetime.now(dt.UTC)
    if reference.startswith("LP/B/2001") and now >= dt.datetime(2026, 12, 1, tzinfo=dt.UTC):
        # Registered and current from December 2026: a different case, allowed, bound to it.
        async with investigator(federation) as c:
            result = await ask(c, under_case("persons", ("nik",), case_reference=reference))
        other = {
            n
            for _, n in truth(
                federation,
                CASE_NIKS,
                reference,
            )
        }
        assert {r["nik"] for r in result.rows} == other
        return
    before = log_size(federation)
    async with investigator(federation) as c:
        with pytest.raises(QueryRefused) as refused:
            await ask(c, under_case("persons", ("nik",), case_reference=reference))
    assert refused.value.code is grpc.StatusCode.PERMISSION_DENIED
    assert refused.value.audit_index == before
    assert log_size(federation) == before + 1
    _, e = entry(federation, before)
    assert e["decision"] == "deny"
    assert e["row_count"] == 0


# --- 2. no caller value in clear ------------------------------------------------------------


def marked(**changes: object) -> Query:
    """A traffic-planning count over the seeded year (on its grid), changed as given; the
    filters given are added to the window."""
    extra = changes.pop("filters", ())
    assert isinstance(extra, tuple)
    base: dict[str, object] = {
        "dataset": "incidents",
        "fields": ("kecamatan",),
        "filters": (*month_window(2025, 11, 12), *extra),
        "aggregation": Aggregation((GroupBy("kecamatan"),)),
        "purpose": "traffic_planning",
        "legal_basis": str(PURPOSES["traffic_planning"]["legal_basis"]),
    }
    return Query(**(base | changes))  # type: ignore[arg-type]


# Each bad request carries its marker where the caller types; markers are distinctive, and
# some look like personal data (a NIK, a name), as a careless or hostile caller might send.
BATTERY: dict[str, tuple[str, str, Query]] = {
    "unknown purpose": ("dishub-atcs", "zzpurpose3174019", marked(purpose="zzpurpose3174019")),
    "legal basis text": (
        "dishub-atcs",
        "ZZBASIS Budi Santoso 3174010101800001",
        marked(legal_basis="ZZBASIS Budi Santoso 3174010101800001"),
    ),
    "kecamatan outside": (
        "dishub-atcs",
        "ZZKECAMATAN Siti",
        marked(filters=(Filter("kecamatan", Op.EQ, ("ZZKECAMATAN Siti",)),)),
    ),
    "kota outside": (
        "dishub-atcs",
        "ZZKOTA3174",
        marked(filters=(Filter("kota", Op.IN, ("Jakarta Selatan", "ZZKOTA3174")),)),
    ),
    "unknown dataset": ("dishub-atcs", "zzdataset7781", marked(dataset="zzdataset7781")),
    "unknown field": ("dishub-atcs", "zzfield8812", marked(fields=("kecamatan", "zzfield8812"))),
    "unknown group-by": (
        "dishub-atcs",
        "zzgroup9923",
        marked(aggregation=Aggregation((GroupBy("zzgroup9923"),)), fields=()),
    ),
    "unknown filter field": (
        "dishub-atcs",
        "zzfilterfield4410",
        marked(filters=(Filter("zzfilterfield4410", Op.EQ, ("x",)),)),
    ),
    "unregistered case": (
        "reskrim",
        "ZZCASE/4455/XI/2026",
        under_case("persons", ("nik",), case_reference="LP/B/ZZCASE/4455/XI/2026"),
    ),
    "case under another purpose": (
        "dishub-atcs",
        "ZZCASE2/1/I/2026",
        marked(case_reference="LP/ZZCASE2/1/I/2026", limit=10**7),
    ),
    "ungranted field with marker value": (
        "dishub-atcs",
        "ZZMODUS6677",
        marked(filters=(Filter("modus_operandi", Op.EQ, ("ZZMODUS6677",)),)),
    ),
}


# The rule each one breaks, as its reason names it.
RULES: dict[str, str] = {
    "unknown purpose": "request.purpose names no registered purpose",
    "legal basis text": "request.legal_basis does not match the registered basis",
    "kecamatan outside": "a filter on 'kecamatan' names a kecamatan outside the jurisdiction",
    "kota outside": "a filter on 'kota' names a kota outside the jurisdiction",
    "unknown dataset": "request.dataset names no dataset the adapters serve",
    "unknown field": "the request names a field that dataset 'incidents' does not have",
    "unknown group-by": "the request names a field that dataset 'incidents' does not have",
    "unknown filter field": "the request names a field that dataset 'incidents' does not have",
    "unregistered case": "request.case_reference names no registered case",
    "case under another purpose": "limit exceeds the maximum",
    "ungranted field with marker value": "does not grant field 'modus_operandi'",
}


@pytest.mark.parametrize("name", sorted(BATTERY))
async def test_no_typed_value_in_a_reason_or_a_leaf(federation: LocalFederation, name: str) -> None:
    identity, marker, query = BATTERY[name]
    rule = RULES[name]
    before = log_size(federation)
    async with GerbangClient.connect(federation.address, federation.pki, identity) as c:
        with pytest.raises(QueryRefused) as refused:
            await ask(c, query)
    needle = marker.lower()
    assert needle not in refused.value.message.lower(), refused.value.message
    assert rule in refused.value.message  # the refusal names the rule that refused it
    assert refused.value.audit_index == before
    assert log_size(federation) == before + 1  # exactly one entry per refusal
    leaf, e = entry(federation, before)
    assert needle not in leaf.decode().lower(), leaf.decode()
    assert e["decision"] in ("deny", "error")
    assert e["row_count"] == 0
    assert e["reasons"]
    assert "; ".join(e["reasons"]) in refused.value.message  # the caller read the same
    gateway_log = (federation.workdir / "logs" / "gateway.log").read_text(errors="replace")
    assert needle not in gateway_log.lower()


@pytest.mark.parametrize(
    ("purpose", "basis", "marker"),
    [
        ("spatial_planning", "ZZ analytics basis 3174010101800002", "zz analytics basis"),
        ("zzanalyticspurpose", "x", "zzanalyticspurpose"),
    ],
)
async def test_analytics_requests_keep_typed_values_out_of_the_log(
    federation: LocalFederation, purpose: str, basis: str, marker: str
) -> None:
    end = dt.datetime(2026, 11, 1, tzinfo=ops.WIB)
    before = log_size(federation)
    async with GerbangClient.connect(federation.address, federation.pki, "citata-spatial") as c:
        with pytest.raises(QueryRefused) as refused:
            await AnalyticsClient(c).heatmap(
                ops.Scope(purpose, basis, start=end - dt.timedelta(days=365), end=end), 8
            )
    assert marker not in refused.value.message.lower()
    assert refused.value.audit_index == before
    assert log_size(federation) == before + 1
    leaf, e = entry(federation, before)
    assert marker not in leaf.decode().lower()
    assert e["row_count"] == 0


async def test_a_request_that_does_not_parse_keeps_its_names_out_of_the_log(
    federation: LocalFederation,
) -> None:
    # Straight onto the wire, past the client library's own checks: names that are not even
    # valid names, in the purpose and the dataset.
    raw = query_pb2.QueryRequest(
        dataset="zz raw-dataset 3174!", fields=["kecamatan"], purpose="zz raw-purpose Budi!"
    )
    before = log_size(federation)
    async with investigator(federation) as c:
        with pytest.raises(QueryRefused) as refused:
            await c.query_raw(raw)
    assert refused.value.code is grpc.StatusCode.INVALID_ARGUMENT
    leaf, e = entry(federation, before)
    for marker in ("raw-dataset", "raw-purpose"):
        assert marker not in refused.value.message
        assert marker not in leaf.decode()
    assert e["purpose"].startswith(COMMITTED)
    assert e["dataset"].startswith(COMMITTED)
    assert log_size(federation) == before + 1


async def test_unknown_key_id_is_not_echoed(federation: LocalFederation) -> None:
    marker = "zzkeyid5566"
    before = log_size(federation)
    async with investigator(federation) as c:
        request, _, _ = c.signed_request(
            under_case("incidents", ("incident_id",)), user=INVESTIGATOR
        )
        request.auth.key_id = marker
        with pytest.raises(QueryRefused) as refused:
            await c.query_raw(request)
    assert refused.value.code is grpc.StatusCode.UNAUTHENTICATED
    assert marker not in refused.value.message
    leaf, _ = entry(federation, before)
    assert marker not in leaf.decode()
    assert log_size(federation) == before + 1


async def test_typed_texts_are_committed_and_registered_ones_stay_clear(
    federation: LocalFederation,
) -> None:
    key = (federation.workdir / "keys" / "audit-commitment.key").read_bytes()
    before = log_size(federation)
    async with GerbangClient.connect(federation.address, federation.pki, "dishub-atcs") as c:
        with pytest.raises(QueryRefused):
            await ask(c, marked(purpose="zzpurpose1", legal_basis="ZZ basis text"))
        allowed = await ask(c, marked())
    _, denied = entry(federation, before)
    # The log can later prove what was typed, with the commitment key, without showing it.
    assert denied["purpose"] == COMMITTED + commit_value(key, "purpose", "zzpurpose1")
    assert denied["legal_basis"] == COMMITTED + commit_value(key, "legal_basis", "ZZ basis text")
    assert denied["case_reference"] == ""
    _, ok = entry(federation, allowed.receipt.leaf_index)
    assert ok["purpose"] == "traffic_planning"
    assert ok["legal_basis"] == PURPOSES["traffic_planning"]["legal_basis"]
    async with investigator(federation) as c:
        bound = await ask(c, under_case("cases", ("case_number",)))
    _, case_leaf = entry(federation, bound.receipt.leaf_index)
    assert case_leaf["case_reference"] == CASE  # a registered case reference stays in clear


def test_registered_names_come_from_the_registry() -> None:
    names = RegisteredNames.from_data(load_bundle(Path("policies")).data)
    assert "traffic_planning" in names.purposes
    assert CASE in names.cases
    assert BASIS in names.legal_bases
    assert "persons" in names.datasets
    key = b"k" * 32
    assert (
        committed_unless(key, "purpose", "traffic_planning", names.purposes) == "traffic_planning"
    )
    assert committed_unless(key, "purpose", "", names.purposes) == ""
    hidden = committed_unless(key, "case_reference", "LP/B/1/I/2026", names.cases)
    assert hidden.startswith(COMMITTED)
    assert "LP/B" not in hidden
    # Empty registry: nothing is shown.
    assert (
        committed_unless(key, "purpose", "traffic_planning", RegisteredNames().purposes)
        != "traffic_planning"
    )
