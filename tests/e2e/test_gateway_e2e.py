"""End to end through real processes: caller → gateway → two adapters, over mTLS.

The federation (two regional police databases, two adapters, the gateway with the
embedded policy engine) runs once for this module; each test asks as a different
caller with that caller's own certificate.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest

from gateway.audit.store import AuditStore
from gateway.client import GerbangClient, QueryRefused
from gateway.oversight.verify import verify_log
from gateway.protocol.geography import kecamatan_of
from gateway.protocol.model import Aggregation, Bucket, Filter, GroupBy, Measure, Op, Query
from gateway.protocol.pki import CertificateAuthority, init_pki, write_issued
from gateway.protocol.signed_request import user_commitment
from gateway.protocol.tls import TlsFiles
from gerbang.v1 import audit_pb2, audit_pb2_grpc, common_pb2, query_pb2, query_pb2_grpc
from tests.conftest import month_window
from tests.support.audit_log import entry, log_size
from tools.city import seed_city
from tools.federation import AdapterSpec, LocalFederation

CASE = "LP/B/1234/XI/2026/SPKT/POLDA METRO JAYA"
# The investigator behind the record-level requests: a keyed commitment by the organisation.
INVESTIGATOR = user_commitment(b"\x42" * 32, "https://idp.polda-metro-jaya.test", "penyidik-0042")
PURPOSES = json.loads(Path("policies/registry/purposes/data.json").read_text())
REGIONS = {
    "t1": ("Jakarta Pusat", "Jakarta Barat", "Jakarta Utara"),
    "t2": ("Jakarta Selatan", "Jakarta Timur"),
}


def basis(purpose: str) -> str:
    return str(PURPOSES[purpose]["legal_basis"])


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    work = tmp_path_factory.mktemp("federation")
    init_pki(work / "pki", adapters=tuple(REGIONS))
    specs = []
    for i, (name, kota) in enumerate(REGIONS.items()):
        url = f"sqlite:///{work / f'{name}.db'}"
        seed_city(url, incidents=4000, seed=7 + i, kota=kota)
        specs.append(AdapterSpec(name, url))
    with LocalFederation(work, specs) as fed:
        yield fed


@pytest.fixture
async def client(
    federation: LocalFederation, request: pytest.FixtureRequest
) -> AsyncIterator[GerbangClient]:
    identity = getattr(request, "param", "dishub-atcs")
    async with GerbangClient.connect(federation.address, federation.pki, identity) as c:
        yield c


def audit(federation: LocalFederation) -> AuditStore:
    return AuditStore(federation.audit_url)


def traffic_query(**changes: object) -> Query:
    base: dict[str, object] = {
        "dataset": "incidents",
        "fields": ("kecamatan", "occurred_at"),
        # The whole seeded year: months of kecamatan-hours, most above k after the noise.
        "filters": month_window(2025, 11, 12),
        "aggregation": Aggregation(
            (GroupBy("kecamatan"), GroupBy("occurred_at", Bucket.HOUR_OF_DAY))
        ),
        "purpose": "traffic_planning",
        "legal_basis": basis("traffic_planning"),
    }
    base.update(changes)
    return Query(**base)  # type: ignore[arg-type]


async def test_allowed_aggregate_is_federated_and_audited(
    client: GerbangClient, federation: LocalFederation
) -> None:
    result = await client.query(traffic_query())
    assert set(result.adapters) == {
        "spiffe://gerbang.jakarta.go.id/polda-metro-jaya/adapter-t1",
        "spiffe://gerbang.jakarta.go.id/polda-metro-jaya/adapter-t2",
    }
    assert result.columns == ("kecamatan", "occurred_at_hour_of_day", "count")
    seen = {r["kecamatan"] for r in result.rows}
    for kota in REGIONS.values():  # cells from each regional database
        assert seen & {k.name for name in kota for k in kecamatan_of(name)}
    assert all(
        isinstance(r["count"], int) and r["count"] >= 10 for r in result.rows
    )  # k = 10 applied
    e = entry(federation, result.receipt.leaf_index)
    assert e["decision"] == "allow"
    assert e["status"] == "OK"
    assert e["caller"] == "spiffe://gerbang.jakarta.go.id/dishub/atcs"
    results = e["results"]
    assert isinstance(results, list)
    assert len(results) == 2
    assert e["row_count"] == sum(r["rows"] for r in results) >= len(result.rows)
    assert e["policy_revision"] == result.policy_revision
    assert len(result.policy_revision) == 64


@pytest.mark.parametrize("client", ["citata-spatial"], indirect=True)
async def test_personal_fields_denied_with_reasons_in_error_and_audit(
    client: GerbangClient, federation: LocalFederation
) -> None:
    before = log_size(federation)
    with pytest.raises(QueryRefused) as refused:
        await client.query(
            Query(
                "persons", ("nik", "name"), (), None, "spatial_planning", basis("spatial_planning")
            )
        )
    assert refused.value.code is grpc.StatusCode.PERMISSION_DENIED
    assert refused.value.audit_index == before
    e = entry(federation, before)
    assert e["decision"] == "deny"
    assert e["status"] == "PERMISSION_DENIED"
    # The same reasons, in the same words, reach the caller and the audit entry.
    assert tuple(e["reasons"]) == refused.value.reasons
    assert any("'nik'" in r for r in refused.value.reasons)


@pytest.mark.parametrize("client", ["reskrim"], indirect=True)
async def test_investigation_with_case_reference_gets_records(client: GerbangClient) -> None:
    result = await client.query(
        Query(
            "incidents",
            ("incident_id", "occurred_at", "kecamatan", "category"),
            (Filter("category", Op.EQ, ("motor_vehicle_theft",)),),
            None,
            "criminal_investigation",
            basis("criminal_investigation"),
            case_reference=CASE,
            limit=20,
        ),
        user=INVESTIGATOR,
    )
    assert 0 < len(result.rows) <= 40  # each adapter applies the limit
    assert all(
        set(r) == {"incident_id", "occurred_at", "kecamatan", "category"} for r in result.rows
    )
    assert all(r["category"] == "motor_vehicle_theft" for r in result.rows)
    assert all(isinstance(r["occurred_at"], dt.datetime) for r in result.rows)


@pytest.mark.parametrize("client", ["reskrim"], indirect=True)
async def test_investigation_without_case_reference_is_denied(client: GerbangClient) -> None:
    with pytest.raises(QueryRefused) as refused:
        await client.query(
            Query(
                "incidents",
                ("incident_id",),
                (),
                None,
                "criminal_investigation",
                basis("criminal_investigation"),
            )
        )
    assert refused.value.code is grpc.StatusCode.PERMISSION_DENIED


async def test_record_level_under_aggregate_only_purpose_is_denied(client: GerbangClient) -> None:
    with pytest.raises(QueryRefused) as refused:
        await client.query(traffic_query(aggregation=None))
    assert refused.value.code is grpc.StatusCode.PERMISSION_DENIED


async def test_filter_on_field_not_granted_is_denied(client: GerbangClient) -> None:
    with pytest.raises(QueryRefused) as refused:
        await client.query(
            traffic_query(filters=(Filter("modus_operandi", Op.EQ, ("pickpocketing",)),))
        )
    assert refused.value.code is grpc.StatusCode.PERMISSION_DENIED
    assert "modus_operandi" in refused.value.message


@pytest.mark.parametrize("client", ["reskrim"], indirect=True)
async def test_grouping_by_identifier_is_denied(client: GerbangClient) -> None:
    with pytest.raises(QueryRefused) as refused:
        await client.query(
            Query(
                "persons",
                ("nik",),
                (),
                Aggregation((GroupBy("nik"),)),
                "criminal_investigation",
                basis("criminal_investigation"),
                case_reference=CASE,
            )
        )
    assert refused.value.code is grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.parametrize("client", ["pemkot-jaksel-command-centre"], indirect=True)
async def test_rows_follow_the_callers_jurisdiction(client: GerbangClient) -> None:
    result = await client.query(
        Query(
            "incidents",
            ("kota",),
            (*month_window(2026, 8, 3),),
            Aggregation((GroupBy("kota"),)),
            "public_order_early_warning",
            basis("public_order_early_warning"),
        )
    )
    assert {r["kota"] for r in result.rows} == {"Jakarta Selatan"}


@pytest.mark.parametrize("client", ["dishub-parking"], indirect=True)
async def test_stolen_vehicle_check_is_hit_or_no_hit(client: GerbangClient) -> None:
    result = await client.query(
        Query(
            "vehicles",
            (),
            (Filter("plate", Op.EQ, ("B 0000 ZZZ",)),),
            Aggregation((), Measure.EXISTS),
            "stolen_vehicle_check",
            basis("stolen_vehicle_check"),
        )
    )
    assert result.rows == [{"exists": False}]


# --- bad input: each gets a clear status, is audited, and leaves the log verifiable ---


@pytest.mark.parametrize(
    ("request_proto", "code", "words"),
    [
        (
            query_pb2.QueryRequest(dataset="weather", fields=["x"], purpose="traffic_planning"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "request.dataset names no dataset the adapters serve",
        ),
        (
            query_pb2.QueryRequest(
                dataset="incidents", fields=["shoe_size"], purpose="traffic_planning"
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "a field that dataset 'incidents' does not have",
        ),
        (
            query_pb2.QueryRequest(
                dataset="incidents",
                fields=["kecamatan"],
                purpose="traffic_planning",
                filters=[
                    common_pb2.Filter(
                        field="occurred_at",
                        op=common_pb2.OPERATOR_GE,
                        values=[common_pb2.Value(string_value="yesterday")],
                    )
                ],
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "expects a time value",
        ),
        (
            query_pb2.QueryRequest(
                dataset="incidents",
                fields=["kecamatan"],
                purpose="traffic_planning",
                filters=[
                    common_pb2.Filter(
                        field="kecamatan",
                        op=common_pb2.Operator.ValueType(99),  # not in the closed set
                        values=[common_pb2.Value(string_value="Tebet")],
                    )
                ],
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "unknown operator",
        ),
        (
            query_pb2.QueryRequest(
                dataset="incidents",
                fields=["kecamatan"],
                purpose="traffic_planning",
                filters=[common_pb2.Filter(field="kecamatan", op=common_pb2.OPERATOR_EQ)],
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "takes exactly one value",
        ),
        (
            query_pb2.QueryRequest(dataset="incidents", fields=["kecamatan"]),
            grpc.StatusCode.INVALID_ARGUMENT,
            "purpose is missing",
        ),
        (
            query_pb2.QueryRequest(
                dataset="incidents",
                fields=["kecamatan"],
                purpose="traffic_planning",
                filters=[
                    common_pb2.Filter(
                        field="kecamatan",
                        op=common_pb2.OPERATOR_IN,
                        values=[common_pb2.Value(string_value="x" * 200)] * 200,
                    )
                ]
                * 3,
            ),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "exceeds the limit",
        ),
    ],
    ids=[
        "unknown-dataset",
        "unknown-field",
        "wrong-type",
        "unknown-operator",
        "missing-value",
        "missing-purpose",
        "oversized",
    ],
)
async def test_bad_input_is_refused_and_audited(
    client: GerbangClient,
    federation: LocalFederation,
    request_proto: query_pb2.QueryRequest,
    code: grpc.StatusCode,
    words: str,
) -> None:
    before = log_size(federation)
    with pytest.raises(QueryRefused) as refused:
        await client.query_raw(request_proto)
    assert refused.value.code is code
    assert words in refused.value.message
    assert log_size(federation) == before + 1
    e = entry(federation, before)
    assert e["decision"] == "deny"
    assert e["status"] == code.name
    assert any(words in str(r) for r in e["reasons"])


def _raw_call(federation: LocalFederation, creds: grpc.ChannelCredentials) -> grpc.RpcError:
    with grpc.secure_channel(federation.address, creds) as channel:
        stub = query_pb2_grpc.QueryServiceStub(channel)
        with pytest.raises(grpc.RpcError) as err:
            stub.Query(traffic_query().to_proto(), timeout=5)
    return err.value


def test_certificate_from_another_ca_is_refused(
    federation: LocalFederation, tmp_path: Path
) -> None:
    before = log_size(federation)
    rogue = CertificateAuthority.create("rogue CA")
    write_issued(
        tmp_path,
        "intruder",
        rogue.issue("spiffe://gerbang.jakarta.go.id/dishub/atcs", server=False, client=True),
    )
    (tmp_path / "ca.pem").write_bytes((federation.pki / "ca.pem").read_bytes())
    err = _raw_call(federation, TlsFiles.load(tmp_path, "intruder").channel_credentials())
    assert err.code() is grpc.StatusCode.UNAVAILABLE  # the TLS handshake fails: no handler runs
    assert log_size(federation) == before


def test_no_client_certificate_is_refused(federation: LocalFederation) -> None:
    before = log_size(federation)
    creds = grpc.ssl_channel_credentials(root_certificates=(federation.pki / "ca.pem").read_bytes())
    err = _raw_call(federation, creds)
    assert err.code() is grpc.StatusCode.UNAVAILABLE
    assert log_size(federation) == before


def test_audit_service_is_for_oversight_only(federation: LocalFederation) -> None:
    def call(identity: str) -> audit_pb2.GetLatestCheckpointResponse:
        creds = TlsFiles.load(federation.pki, identity).channel_credentials()
        with grpc.secure_channel(federation.address, creds) as channel:
            stub = audit_pb2_grpc.AuditServiceStub(channel)
            answer: audit_pb2.GetLatestCheckpointResponse = stub.GetLatestCheckpoint(
                audit_pb2.GetLatestCheckpointRequest(), timeout=5
            )
            return answer

    with pytest.raises(grpc.RpcError) as err:
        call("dishub-atcs")
    assert err.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert call("kompolnas-oversight").size == log_size(federation)


def test_log_verifies_after_everything(federation: LocalFederation) -> None:
    store = audit(federation)
    try:
        verified = verify_log(store.scan(), store.head())
    finally:
        store.close()
    assert verified.size > 0


def test_logs_carry_no_filter_values(federation: LocalFederation) -> None:
    """The gateway's logs name callers and shapes, never values asked for."""
    text = (federation.workdir / "logs" / "gateway.log").read_text()
    assert "request_id" in text
    assert "Tebet" not in text
    assert "motor_vehicle_theft" not in text


@pytest.mark.parametrize("client", ["dishub-parking"], indirect=True)
async def test_filter_values_are_committed_and_sealed_never_clear(
    client: GerbangClient, federation: LocalFederation
) -> None:
    """The plate asked for is in no leaf and nowhere in the audit store in clear;
    the oversight body opens it from the sealed details; retention erases them and
    the log still verifies."""
    from gateway.protocol.sealed_details import open_details

    plate = "B 9876 QWE"
    result = await client.query(
        Query(
            "vehicles",
            (),
            (Filter("plate", Op.EQ, (plate,)),),
            Aggregation((), Measure.EXISTS),
            "stolen_vehicle_check",
            basis("stolen_vehicle_check"),
        )
    )
    index = result.receipt.leaf_index
    e = entry(federation, index)
    assert plate not in json.dumps(e)
    filters = e["request"]["filters"]
    assert filters[0]["field"] == "plate"
    assert len(filters[0]["values"][0]) == 64  # an HMAC commitment, hex
    raw = (federation.workdir / "audit.db").read_bytes()
    wal = federation.workdir / "audit.db-wal"
    raw += wal.read_bytes() if wal.exists() else b""
    assert plate.encode() not in raw

    store = audit(federation)
    try:
        blob = store.details(index)
        assert blob is not None
        opened = open_details(blob, e["details"], federation.details_key().private_key)
        assert opened["filters"][0]["values"] == [plate]
        far_future = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
        assert store.erase_expired_details(far_future) >= 1
        assert store.details(index) is None
        verified = verify_log(store.scan(), store.head())
        assert verified.size > index
    finally:
        store.close()
