"""Byte-identical replay (issue 13): recorded requests give the recorded bytes.

A fixed set of requests (allowed and denied queries, analytics operations, malformed and
undecodable bytes, an unsigned, a stale and a replayed request, Capabilities and
ProveReceipt) runs through the in-memory federation (`tests.support.simulator`: the real
servicers, pipeline, policy engine, adapters and audit store, in process) with fixed keys,
a fixed clock, fixed nonces and fixed request IDs. `golden.json` holds, per request, its
status, its audit leaf, each signed plan with its signature, each attestation with its
signature, and the digests of the response and of each opened answer; then the log's
size, root and signed checkpoint. The test compares every one of them byte for byte.

What is random by design is made repeatable, not left out (`tests.support.determinism`):
the HPKE ephemeral key of each sealed result and sealed audit detail is derived from the
sealed content (a real RFC 9180 seal, opened by the real suite), and the differential-
privacy noise is drawn from a seeded generator in place of OpenDP's CSPRNG. So the leaf of
an allowed request, which records the digest of each sealed answer, is compared too.

Refactors that change no behaviour leave `golden.json` alone. A change that means to alter
the bytes (a policy, a leaf field, an encoding) re-records it, and the diff shows what moved:
    GERBANG_REPLAY_RECORD=1 .venv/bin/python -m pytest tests/vectors/test_replay.py -q
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final

import pytest
import time_machine

from adapters import noise as noise_step
from gateway.analytics import operations as ops
from gateway.client import GerbangClient
from gateway.protocol.model import Aggregation, Bucket, Filter, GroupBy, Measure, Op, Query
from gateway.protocol.signed_request import user_commitment
from gerbang.v1 import analytics_pb2, query_pb2
from tests.conftest import month_window
from tests.support.determinism import repeatable, seed_bytes
from tests.support.police import copies, seed_police
from tests.support.simulator import InMemoryFederation, Reply

GOLDEN: Final = Path(__file__).parent / "replay" / "golden.json"
RECORD: Final = os.environ.get("GERBANG_REPLAY_RECORD") == "1"
# The policies are an input (their revision is in every plan and leaf): to compare code
# across a change that also edits them, replay with the recorded run's policies.
POLICIES: Final = os.environ.get("GERBANG_REPLAY_POLICIES")
NOW: Final = dt.datetime(2026, 12, 3, 10, 0, tzinfo=dt.UTC)
PURPOSES: Final = json.loads(
    (Path(__file__).resolve().parents[2] / "policies/registry/purposes/data.json").read_text()
)
CASE: Final = "LP/B/1234/XI/2026/SPKT/POLDA METRO JAYA"
INVESTIGATOR: Final = user_commitment(
    b"\x42" * 32, "https://idp.polda-metro-jaya.test", "penyidik-0042"
)
END: Final = dt.datetime(2026, 11, 1, tzinfo=ops.WIB)
QUERY: Final = "/gerbang.v1.QueryService/Query"
ANALYTICS: Final = "/gerbang.v1.AnalyticsService/"


def basis(purpose: str) -> str:
    return str(PURPOSES[purpose]["legal_basis"])


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def hexdigest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- the recorded requests -----------------------------------------------------------------


def traffic() -> Query:
    return Query(
        "incidents",
        ("kecamatan", "occurred_at"),
        month_window(2025, 11, 12),
        Aggregation((GroupBy("kecamatan"), GroupBy("occurred_at", Bucket.DAY_OF_WEEK))),
        "traffic_planning",
        basis("traffic_planning"),
    )


def investigation(case: str = CASE) -> Query:
    return Query(
        "incidents",
        ("incident_id", "occurred_at", "kecamatan", "category"),
        (Filter("category", Op.EQ, ("motor_vehicle_theft",)),),
        None,
        "criminal_investigation",
        basis("criminal_investigation"),
        case_reference=case,
        limit=20,
    )


def stolen_vehicle() -> Query:
    return Query(
        "vehicles",
        (),
        (Filter("plate", Op.EQ, ("B 0000 ZZZ",)),),
        Aggregation((), Measure.EXISTS),
        "stolen_vehicle_check",
        basis("stolen_vehicle_check"),
    )


def personal() -> Query:
    return Query(
        "persons", ("nik", "name"), (), None, "spatial_planning", basis("spatial_planning")
    )


def scope(purpose: str, start: dt.datetime | None = None) -> ops.Scope:
    return ops.Scope(purpose, basis(purpose), start=start, end=END)


class Requests:
    """Signed request bytes, each with its own fixed nonce, as the client library signs."""

    def __init__(self, fed: InMemoryFederation) -> None:
        self.fed = fed
        self.count = 0
        self.signed: dict[bytes, tuple[str, bytes, bytes]] = {}  # bytes -> slug, canonical, sig

    def nonce(self) -> bytes:
        self.count += 1
        return seed_bytes(f"nonce:{self.count}", 16)

    def client(self, slug: str) -> GerbangClient:
        return self.fed.client(slug)

    def query(
        self,
        slug: str,
        q: Query,
        *,
        user: bytes | None = None,
        at: dt.datetime = NOW,
    ) -> bytes:
        request, canonical, signature = self.client(slug).signed_request(
            q, at, self.nonce(), user=user
        )
        data = request.SerializeToString()
        self.signed[data] = (slug, canonical, signature)
        return data

    def analytics(self, slug: str, q: Query, s: ops.Scope, build: Callable[[Any], Any]) -> bytes:
        auth, canonical = self.client(slug).sign(q, NOW, self.nonce())
        proto = s.to_proto()
        proto.auth.CopyFrom(auth)
        data: bytes = build(proto).SerializeToString()
        self.signed[data] = (slug, canonical, auth.signature)
        return data


Step = tuple[str, str, str, bytes]  # name, method, caller slug, request bytes


def steps(r: Requests) -> Iterator[Step]:
    traffic_bytes = r.query("dishub-atcs", traffic())
    yield "traffic aggregate, noisy, allowed", QUERY, "dishub-atcs", traffic_bytes
    yield (
        "traffic aggregate again: the held release",
        QUERY,
        "dishub-atcs",
        r.query("dishub-atcs", traffic()),
    )
    yield "personal fields, denied", QUERY, "citata-spatial", r.query("citata-spatial", personal())
    yield (
        "investigation records with a case",
        QUERY,
        "reskrim",
        r.query("reskrim", investigation(), user=INVESTIGATOR),
    )
    yield (
        "investigation without a case, denied",
        QUERY,
        "reskrim",
        r.query("reskrim", investigation(case="")),
    )
    vehicle = r.query("dishub-parking", stolen_vehicle())
    yield "stolen vehicle check", QUERY, "dishub-parking", vehicle
    yield "the same request again: a replayed nonce", QUERY, "dishub-parking", vehicle
    yield "unsigned", QUERY, "dishub-atcs", traffic().to_proto().SerializeToString()
    yield (
        "stale: signed an hour ago",
        QUERY,
        "dishub-atcs",
        r.query("dishub-atcs", traffic(), at=NOW - dt.timedelta(hours=1)),
    )
    unknown = query_pb2.QueryRequest(dataset="weather", fields=["x"], purpose="traffic_planning")
    yield "unknown dataset", QUERY, "dishub-atcs", unknown.SerializeToString()
    # Field 1 (dataset), a string, holding invalid UTF-8: the bytes do not decode.
    yield "undecodable bytes", QUERY, "dishub-atcs", b"\x0a\x02\xff\xfe"
    yield "capabilities", "/gerbang.v1.QueryService/Capabilities", "dishub-atcs", b""
    spatial = scope("spatial_planning", END - dt.timedelta(days=365))
    yield (
        "heatmap",
        ANALYTICS + "Heatmap",
        "citata-spatial",
        r.analytics(
            "citata-spatial",
            ops.heatmap_query(spatial, 8),
            spatial,
            lambda s: analytics_pb2.HeatmapRequest(scope=s, resolution=8),
        ),
    )
    yield (
        "heatmap finer than allowed, denied",
        ANALYTICS + "Heatmap",
        "citata-spatial",
        (
            r.analytics(
                "citata-spatial",
                ops.heatmap_query(spatial, 9),
                spatial,
                lambda s: analytics_pb2.HeatmapRequest(scope=s, resolution=9),
            )
        ),
    )
    patrol = scope("patrol_planning", END - dt.timedelta(days=180))
    yield (
        "time patterns",
        ANALYTICS + "Patterns",
        "samapta",
        r.analytics(
            "samapta",
            ops.patterns_query(patrol, "hour_weekday"),
            patrol,
            lambda s: analytics_pb2.PatternsRequest(
                scope=s, kind=analytics_pb2.PATTERN_KIND_HOUR_WEEKDAY
            ),
        ),
    )
    indicators = scope("security_indicators")
    yield (
        "security index",
        ANALYTICS + "SecurityIndex",
        "dprd-komisi-a",
        r.analytics(
            "dprd-komisi-a",
            ops.index_query(indicators),
            indicators,
            lambda s: analytics_pb2.SecurityIndexRequest(scope=s),
        ),
    )
    # Risk scores count the risk model's three windows as spans (ADR 0032).
    risk = scope("patrol_planning")
    yield (
        "risk scores per kecamatan, in spans",
        ANALYTICS + "RiskScores",
        "samapta",
        r.analytics(
            "samapta",
            ops.risk_query(risk, "kecamatan"),
            risk,
            lambda s: analytics_pb2.RiskScoresRequest(
                scope=s, unit=analytics_pb2.RISK_UNIT_KECAMATAN
            ),
        ),
    )


# --- the run -----------------------------------------------------------------------------


def answer_of(method: str, payload: bytes) -> query_pb2.QueryResponse:
    if method == QUERY:
        return query_pb2.QueryResponse.FromString(payload)
    name = method.removeprefix(ANALYTICS)
    response = getattr(analytics_pb2, f"{name}Response").FromString(payload)
    answer: query_pb2.QueryResponse = response.answer
    return answer


def recorded(r: Requests, method: str, data: bytes, reply: Reply) -> dict[str, Any]:
    """What one reply must be, byte for byte: the signed plans, the attestations, the
    digests of the response and of each answer as the caller opens it."""
    out: dict[str, Any] = {"status": reply.code.name}
    if reply.code.name != "OK":
        out["details"] = reply.details
        return out
    out["response_sha256"] = hexdigest(reply.payload)
    if method.endswith("/Capabilities"):
        return out
    answer = answer_of(method, reply.payload)
    slug, canonical, signature = r.signed[data]
    opened = r.client(slug).open_response(answer, canonical, signature)
    out["rows"] = len(opened.rows)
    out["results"] = [
        {
            "adapter": part.adapter_id,
            "plan": b64(part.plan.data),
            "plan_key_id": part.plan.key_id,
            "plan_signature": b64(part.plan.signature),
            "attestation": part.attestation.data.decode(),
            "attestation_signature": b64(part.attestation.signature),
            "payload_sha256": hexdigest(part.payload),
        }
        for part in answer.results
    ]
    # The caller opened and merged every part (each check raises): the rows it got.
    out["opened_rows_sha256"] = hexdigest(repr(opened.rows).encode())
    return out


async def replay(fed: InMemoryFederation) -> dict[str, Any]:
    r = Requests(fed)
    out: dict[str, Any] = {"requests": []}
    first_allowed: int | None = None
    for name, method, slug, data in steps(r):
        before = fed.size()
        reply = await fed.call(method, data, slug)
        assert fed.size() == before + 1, f"{name}: not exactly one audit entry"
        (leaf,) = fed.leaves(before)
        entry = {"name": name, "method": method, **recorded(r, method, data, reply)}
        entry["leaf"] = leaf.decode()
        out["requests"].append(entry)
        if first_allowed is None and reply.code.name == "OK":
            first_allowed = before
    assert first_allowed is not None
    checkpoint = fed.checkpointer.checkpoint_once()
    assert checkpoint is not None
    out["log"] = {
        "size": checkpoint.size,
        "root": checkpoint.root_hash.hex(),
        "checkpoint": checkpoint.note.decode(),
    }
    # A receipt's proof, and a receipt asked of someone else's entry: no audit entries.
    proofs = []
    for slug in ("dishub-atcs", "citata-spatial"):
        request = query_pb2.ProveReceiptRequest(leaf_index=first_allowed)
        reply = await fed.call(
            "/gerbang.v1.QueryService/ProveReceipt", request.SerializeToString(), slug
        )
        proofs.append(
            {
                "caller": slug,
                "status": reply.code.name,
                "details": reply.details,
                "response": b64(reply.payload),
            }
        )
    assert fed.size() == checkpoint.size
    out["prove_receipt"] = proofs
    return out


@pytest.fixture
def request_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    """Request IDs (uuid4) from a counter: the same IDs, in the same order, every run."""
    counter = iter(range(1_000_000))
    monkeypatch.setattr(
        uuid, "uuid4", lambda: uuid.UUID(bytes=seed_bytes(f"uuid:{next(counter)}", 16))
    )


def first_difference(got: Any, want: Any, path: str = "") -> str | None:
    """Where `got` differs from `want`, as a path and both values."""
    if isinstance(want, dict) and isinstance(got, dict):
        for key in [*want, *(k for k in got if k not in want)]:
            found = first_difference(got.get(key), want.get(key), f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(want, list) and isinstance(got, list):
        for i, (g, w) in enumerate(zip(got, want, strict=False)):
            label = w.get("name", i) if isinstance(w, dict) else i
            found = first_difference(g, w, f"{path}[{label}]")
            if found:
                return found
        if len(got) != len(want):
            return f"{path}: {len(got)} items, recorded {len(want)}"
        return None
    if got != want:
        return f"{path}:\n  now:      {got!r}\n  recorded: {want!r}"
    return None


@pytest.mark.usefixtures("request_ids")
async def test_recorded_requests_replay_byte_for_byte(tmp_path: Path) -> None:
    template = seed_police(tmp_path / "police.db")
    fed = InMemoryFederation(tmp_path, copies(template, tmp_path, ("t1", "t2")))
    if POLICIES:
        fed.policies = Path(POLICIES)
    with time_machine.travel(NOW, tick=False), repeatable(noise_step.privatise):
        await fed.start()
        try:
            got = await replay(fed)
        finally:
            await fed.stop()
    text = json.dumps(got, indent=1, ensure_ascii=False) + "\n"
    if RECORD:
        GOLDEN.write_text(text, encoding="utf-8")
    # In the order recorded: requests first, then the log they made.
    want = json.loads(GOLDEN.read_text(encoding="utf-8"), object_pairs_hook=dict)
    difference = first_difference(got, want)
    assert difference is None, f"the replay differs from {GOLDEN.name} at {difference}"
    # Byte for byte, not only equal as JSON values.
    for g, w in zip(got["requests"], want["requests"], strict=True):
        assert g["leaf"].encode() == w["leaf"].encode()
    assert text == GOLDEN.read_text(encoding="utf-8")
