"""Out-of-range values on the wire are typed refusals, audited (issue 12).

Regression: timestamps outside 0001-9999 or with negative nanos, a stream interval of
2^62 s and a leaf index of 2^64-1 raised inside the handlers: the caller got UNKNOWN
with a Python exception's text and nothing was audited. Each is now INVALID_ARGUMENT
with a message naming the field, and one audit entry where the caller was
authenticated. Real processes: the gateway, two adapters, over mTLS.

The decoders themselves are property-tested in tests/test_decoders_property.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from gateway.audit.store import AuditStore
from gateway.protocol.pki import init_pki
from gateway.protocol.tls import TlsFiles
from gerbang.v1 import (
    adapter_pb2,
    analytics_pb2,
    analytics_pb2_grpc,
    audit_pb2,
    audit_pb2_grpc,
    common_pb2,
    query_pb2,
    query_pb2_grpc,
)
from tools.city import seed_city
from tools.federation import AdapterSpec, LocalFederation

BASIS = "UU 27/2022 Pasal 20 ayat (2) huruf e; UU 22/2009"
YEAR_10000 = Timestamp(seconds=253_402_300_800)
YEAR_0 = Timestamp(seconds=-62_135_596_801)
NEGATIVE_NANOS = Timestamp(seconds=1_700_000_000, nanos=-1)
GOOD = Timestamp(seconds=1_700_000_000)
FIRST = Timestamp(seconds=-62_135_596_800)
LAST = Timestamp(seconds=253_402_300_799, nanos=999_999_999)


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    work = tmp_path_factory.mktemp("federation")
    init_pki(work / "pki", adapters=("t1",))
    url = f"sqlite:///{work / 't1.db'}"
    seed_city(url, incidents=200, seed=7, kota=("Jakarta Pusat",))
    with LocalFederation(work, [AdapterSpec("t1", url)]) as fed:
        yield fed


def channel(federation: LocalFederation, identity: str) -> grpc.Channel:
    creds = TlsFiles.load(federation.pki, identity).channel_credentials()
    return grpc.secure_channel(federation.address, creds)


def log(federation: LocalFederation) -> tuple[int, dict[str, object] | None]:
    store = AuditStore(federation.audit_url)
    try:
        size = store.head().size
        last = store.entries(size - 1, size)[0].fields() if size else None
        return size, last
    finally:
        store.close()


def time_filter(ts: Timestamp) -> query_pb2.QueryRequest:
    return query_pb2.QueryRequest(
        dataset="incidents",
        fields=["kecamatan"],
        filters=[
            common_pb2.Filter(
                field="occurred_at",
                op=common_pb2.OPERATOR_GE,
                values=[common_pb2.Value(time_value=ts)],
            )
        ],
        purpose="traffic_planning",
        legal_basis=BASIS,
    )


def int_filter(value: int) -> query_pb2.QueryRequest:
    """An integer beyond what canonical JSON (JCS) holds: it could be neither signed nor
    committed in the audit entry, so it is refused as the request is decoded."""
    request = time_filter(GOOD)
    request.filters.append(
        common_pb2.Filter(
            field="incident_id",
            op=common_pb2.OPERATOR_EQ,
            values=[common_pb2.Value(int_value=value)],
        )
    )
    return request


def signed_at(ts: Timestamp) -> query_pb2.QueryRequest:
    request = time_filter(GOOD)
    request.auth.CopyFrom(
        query_pb2.RequestAuth(nonce=b"n" * 16, issued_at=ts, key_id="k", signature=b"s" * 64)
    )
    return request


def scope(start: Timestamp) -> analytics_pb2.AnalyticsScope:
    return analytics_pb2.AnalyticsScope(purpose="traffic_planning", legal_basis=BASIS, start=start)


Call = Callable[[grpc.Channel], object]

CASES: dict[str, tuple[Call, str]] = {
    "filter-year-10000": (
        lambda ch: query_pb2_grpc.QueryServiceStub(ch).Query(time_filter(YEAR_10000), timeout=10),
        "a time filter value is not a valid timestamp",
    ),
    "filter-negative-nanos": (
        lambda ch: query_pb2_grpc.QueryServiceStub(ch).Query(
            time_filter(NEGATIVE_NANOS), timeout=10
        ),
        "a time filter value is not a valid timestamp",
    ),
    # Valid Timestamps, but planning steps by months and time zones from a window's ends:
    # at the ends of datetime's range a signed request crashed the planner.
    "filter-0001-01-01": (
        lambda ch: query_pb2_grpc.QueryServiceStub(ch).Query(time_filter(FIRST), timeout=10),
        "must lie in the years 1900 to 2999",
    ),
    "filter-9999-12-31": (
        lambda ch: query_pb2_grpc.QueryServiceStub(ch).Query(time_filter(LAST), timeout=10),
        "must lie in the years 1900 to 2999",
    ),
    "filter-int-2^53": (
        lambda ch: query_pb2_grpc.QueryServiceStub(ch).Query(int_filter(2**53), timeout=10),
        "must lie within +/-(2^53 - 1)",
    ),
    "issued-at-year-0": (
        lambda ch: query_pb2_grpc.QueryServiceStub(ch).Query(signed_at(YEAR_0), timeout=10),
        "issued_at is not a valid timestamp",
    ),
    "scope-year-10000": (
        lambda ch: analytics_pb2_grpc.AnalyticsServiceStub(ch).Heatmap(
            analytics_pb2.HeatmapRequest(scope=scope(YEAR_10000), resolution=7), timeout=10
        ),
        "scope start is not a valid timestamp",
    ),
    "stream-scope-negative-nanos": (
        lambda ch: list(
            analytics_pb2_grpc.AnalyticsServiceStub(ch).WatchWarnings(
                analytics_pb2.WatchWarningsRequest(scope=scope(NEGATIVE_NANOS)), timeout=10
            )
        ),
        "scope start is not a valid timestamp",
    ),
    "stream-interval-2^62s": (
        lambda ch: list(
            analytics_pb2_grpc.AnalyticsServiceStub(ch).WatchWarnings(
                analytics_pb2.WatchWarningsRequest(
                    scope=scope(GOOD), interval=Duration(seconds=2**62)
                ),
                timeout=10,
            )
        ),
        "interval is not a valid duration",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_out_of_range_value_is_invalid_argument_and_audited(
    federation: LocalFederation, case: str
) -> None:
    call, words = CASES[case]
    before, _ = log(federation)
    with channel(federation, "dishub-atcs") as ch, pytest.raises(grpc.RpcError) as err:
        call(ch)
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
    assert words in str(err.value.details())
    size, last = log(federation)
    assert size == before + 1
    assert last is not None
    assert last["status"] == "INVALID_ARGUMENT"
    assert last["decision"] == "deny"


@pytest.mark.parametrize(
    "request_",
    [
        audit_pb2.GetInclusionProofRequest(index=2**64 - 1, tree_size=1),
        audit_pb2.GetInclusionProofRequest(index=0, tree_size=2**64 - 1),
        audit_pb2.GetConsistencyProofRequest(from_size=1, to_size=2**64 - 1),
        audit_pb2.GetEntriesRequest(start=2**64 - 2, end=2**64 - 1),
        audit_pb2.AddCosignatureRequest(size=2**64 - 1, signature_line="x"),
        audit_pb2.GetSealedDetailsRequest(index=2**64 - 1),
    ],
    ids=["leaf-index", "tree-size", "to-size", "entries", "cosignature-size", "details-index"],
)
def test_audit_service_refuses_indexes_beyond_any_log(
    federation: LocalFederation, request_: Message
) -> None:
    method = {
        audit_pb2.GetInclusionProofRequest: "GetInclusionProof",
        audit_pb2.GetConsistencyProofRequest: "GetConsistencyProof",
        audit_pb2.GetEntriesRequest: "GetEntries",
        audit_pb2.AddCosignatureRequest: "AddCosignature",
        audit_pb2.GetSealedDetailsRequest: "GetSealedDetails",
    }[type(request_)]
    with channel(federation, "kompolnas-oversight") as ch, pytest.raises(grpc.RpcError) as err:
        getattr(audit_pb2_grpc.AuditServiceStub(ch), method)(request_, timeout=10)
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
    assert "beyond any log's size" in str(err.value.details())


def test_gateway_still_answers(federation: LocalFederation, tmp_path: Path) -> None:
    """After every malformed request above the gateway serves and the log verifies."""
    from gateway.oversight.verify import verify_log

    store = AuditStore(federation.audit_url)
    try:
        assert verify_log(store.scan(), store.head()).size == store.head().size
    finally:
        store.close()


def same(data: bytes) -> bytes:
    """Bytes sent and received as they are."""
    return data


def invalid_utf8(message: Message) -> bytes:
    """`message` serialised, with its marker string replaced by bytes that are not UTF-8."""
    return message.SerializeToString().replace(b"MARK", b"\xff\xfe\xff\xfe")


@pytest.mark.parametrize(
    ("method", "raw"),
    [
        (
            "/gerbang.v1.QueryService/Query",
            invalid_utf8(query_pb2.QueryRequest(dataset="incidents", purpose="MARK")),
        ),
        (
            "/gerbang.v1.AnalyticsService/WatchWarnings",
            invalid_utf8(
                analytics_pb2.WatchWarningsRequest(
                    scope=analytics_pb2.AnalyticsScope(purpose="MARK")
                )
            ),
        ),
        ("/gerbang.v1.QueryService/Query", b"\x0a\xff"),  # a truncated field
    ],
    ids=["query-utf8", "stream-utf8", "truncated"],
)
def test_request_that_does_not_parse_is_invalid_argument(
    federation: LocalFederation, method: str, raw: bytes
) -> None:
    """Regression: grpcio answered UNKNOWN with the text of a Python DecodeError."""

    def call(ch: grpc.Channel) -> object:
        if "Watch" in method:
            return list(ch.unary_stream(method, same, same)(raw, timeout=10))
        return ch.unary_unary(method, same, same)(raw, timeout=10)

    with channel(federation, "dishub-atcs") as ch, pytest.raises(grpc.RpcError) as err:
        call(ch)
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
    assert "not a valid protobuf message" in str(err.value.details())
    assert "DecodeError" not in str(err.value.details())


def test_adapter_refuses_a_plan_that_does_not_parse(federation: LocalFederation) -> None:
    raw = invalid_utf8(adapter_pb2.ExecuteRequest(key_id="MARK"))
    creds = TlsFiles.load(federation.pki, "gateway").channel_credentials()
    with (
        grpc.secure_channel(federation.adapter_addresses["t1"], creds) as ch,
        pytest.raises(grpc.RpcError) as err,
    ):
        ch.unary_unary("/gerbang.v1.AdapterService/Execute", same, same)(raw, timeout=10)
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
