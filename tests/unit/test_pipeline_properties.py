"""Properties of the request pipeline, over the in-memory federation (no processes).

The federation (`tests.support.simulator`) is the real gateway servicers, pipeline, Wasm
policy engine, audit store and SQL adapters in one process; Hypothesis sends it request
bytes and signed requests and checks what DESIGN.md promises of every one:

- any request bytes from an authenticated caller give exactly one audit entry, whose
  status is the status the caller got; without an identity, none (nobody to attribute);
- a refused request releases nothing: no payload, and an entry with no results or rows;
- an allowed answer reaches the gateway only sealed: no adapter's plaintext appears in
  what the gateway returns or logs, and the caller opens it to exactly that plaintext;
- a replayed nonce is refused, and that refusal is itself audited, once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar

import grpc
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from adapters.server import SqlAdapter
from gateway.protocol.identities import EXAMPLE_CALLERS
from gateway.protocol.model import (
    Aggregation,
    Bucket,
    Filter,
    GroupBy,
    Measure,
    Op,
    Query,
    QueryPlan,
)
from gateway.protocol.signed_request import user_commitment
from gerbang.v1 import query_pb2
from tests.conftest import month_window
from tests.support.police import copies
from tests.support.simulator import InMemoryFederation, Reply

T = TypeVar("T")
PURPOSES: Final = json.loads(
    (Path(__file__).resolve().parents[2] / "policies/registry/purposes/data.json").read_text()
)
QUERY: Final = "/gerbang.v1.QueryService/Query"
# Every audited method of the gateway. ProveReceipt reads an entry and is not one itself.
AUDITED: Final = (
    QUERY,
    "/gerbang.v1.QueryService/Capabilities",
    "/gerbang.v1.AnalyticsService/Heatmap",
    "/gerbang.v1.AnalyticsService/Patterns",
    "/gerbang.v1.AnalyticsService/RiskScores",
    "/gerbang.v1.AnalyticsService/PatrolPlan",
    "/gerbang.v1.AnalyticsService/SecurityIndex",
)
CALLERS: Final = tuple(sorted(EXAMPLE_CALLERS))
CASE: Final = "LP/B/1234/XI/2026/SPKT/POLDA METRO JAYA"
INVESTIGATOR: Final = user_commitment(b"\x42" * 32, "https://idp.polda.test", "penyidik-0042")
CATEGORIES: Final = ("motor_vehicle_theft", "theft", "assault", "fraud", "burglary")
# Hypothesis budgets: each example is one or two requests of a few milliseconds.
FAST: Final = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@dataclass
class Simulation:
    """The federation on its own event loop, and the plaintexts its adapters produced."""

    fed: InMemoryFederation
    runner: asyncio.Runner
    plaintexts: list[bytes]

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(coro)

    def call(self, method: str, payload: bytes, slug: str | None) -> tuple[Reply, list[bytes]]:
        """One call; its reply and the leaves it added to the log."""
        before = self.fed.size()
        self.plaintexts.clear()
        reply = self.run(self.fed.call(method, payload, slug))
        return reply, self.fed.leaves(before)


def spy(adapter: SqlAdapter, seen: list[bytes]) -> None:
    """Keep each plaintext the adapter answers with; the adapter's own code still runs."""
    answer: Callable[[QueryPlan, dt.datetime], tuple[bytes, int]] = adapter.answer

    def recorded(plan: QueryPlan, now: dt.datetime) -> tuple[bytes, int]:
        clear, rows = answer(plan, now)
        seen.append(clear)
        return clear, rows

    adapter.answer = recorded  # type: ignore[method-assign]


@pytest.fixture(scope="module")
def sim(police_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulation]:
    work = tmp_path_factory.mktemp("simulation")
    fed = InMemoryFederation(work, copies(police_store, work, ("t1", "t2")))
    runner = asyncio.Runner()
    runner.run(fed.start())
    plaintexts: list[bytes] = []
    for adapter in fed.adapters.values():
        spy(adapter, plaintexts)
    try:
        yield Simulation(fed, runner, plaintexts)
    finally:
        runner.run(fed.stop())
        runner.close()


def leaf_of(leaves: list[bytes]) -> dict[str, Any]:
    assert len(leaves) == 1, f"{len(leaves)} audit entries for one request"
    doc: dict[str, Any] = json.loads(leaves[0])
    return doc


def assert_released_nothing(reply: Reply, leaf: dict[str, Any]) -> None:
    assert reply.payload == b""
    assert leaf["status"] == reply.code.name
    assert leaf["decision"] != "allow"
    assert leaf["results"] == []
    assert leaf["row_count"] == 0


# --- strategies ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Ask:
    """A caller's request: who asks, what, and for which end user (if any)."""

    slug: str
    query: Query
    user: bytes | None = None


def basis(purpose: str) -> str:
    return str(PURPOSES[purpose]["legal_basis"])


@st.composite
def any_query(draw: st.DrawFn, sim: Simulation) -> Ask:
    """Any caller, any served dataset and fields, an optional grouping, any purpose."""
    datasets = sim.fed.pipeline.catalog.datasets
    name = draw(st.sampled_from(sorted(datasets)))
    names = sorted(datasets[name].fields)
    fields = tuple(draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True)))
    grouped = draw(st.booleans())
    purpose = draw(st.sampled_from(sorted(PURPOSES)))
    query = Query(
        name,
        fields,
        (),
        Aggregation(tuple(GroupBy(f) for f in fields)) if grouped else None,
        purpose,
        basis(purpose),
        limit=draw(st.integers(0, 50)),
    )
    return Ask(draw(st.sampled_from(CALLERS)), query)


@st.composite
def usual_query(draw: st.DrawFn) -> Ask:
    """Requests the registry allows (unless a budget is spent): a stolen-vehicle check
    of any plate, an investigation's records of any category, a noisy traffic count."""
    kind = draw(st.sampled_from(("vehicle", "investigation", "traffic")))
    if kind == "vehicle":
        plate = draw(st.from_regex(r"B [0-9]{1,4} [A-Z]{1,3}", fullmatch=True))
        query = Query(
            "vehicles",
            (),
            (Filter("plate", Op.EQ, (plate,)),),
            Aggregation((), Measure.EXISTS),
            "stolen_vehicle_check",
            basis("stolen_vehicle_check"),
        )
        return Ask("dishub-parking", query)
    if kind == "investigation":
        query = Query(
            "incidents",
            ("incident_id", "occurred_at", "kecamatan", "category"),
            (Filter("category", Op.EQ, (draw(st.sampled_from(CATEGORIES)),)),),
            None,
            "criminal_investigation",
            basis("criminal_investigation"),
            case_reference=CASE,
            limit=draw(st.integers(1, 50)),
        )
        return Ask("reskrim", query, INVESTIGATOR)
    query = Query(
        "incidents",
        ("kecamatan", "occurred_at"),
        month_window(2025, 11, 12),
        Aggregation((GroupBy("kecamatan"), GroupBy("occurred_at", Bucket.DAY_OF_WEEK))),
        "traffic_planning",
        basis("traffic_planning"),
    )
    return Ask("dishub-atcs", query)


def asks(sim: Simulation) -> st.SearchStrategy[Ask]:
    return st.one_of(any_query(sim), usual_query())


def signed(sim: Simulation, ask: Ask) -> tuple[bytes, bytes, bytes]:
    """The request's bytes, the canonical bytes signed, and the signature."""
    request, canonical, signature = sim.fed.client(ask.slug).signed_request(
        ask.query, user=ask.user
    )
    return request.SerializeToString(), canonical, signature


# --- properties ---------------------------------------------------------------------------


@FAST
@given(
    method=st.sampled_from(AUDITED),
    payload=st.binary(max_size=300),
    slug=st.sampled_from(CALLERS),
)
def test_any_request_bytes_are_exactly_one_entry(
    sim: Simulation, method: str, payload: bytes, slug: str
) -> None:
    reply, leaves = sim.call(method, payload, slug)
    leaf = leaf_of(leaves)
    assert leaf["caller"] == EXAMPLE_CALLERS[slug]
    assert leaf["status"] == reply.code.name
    if reply.code is not grpc.StatusCode.OK:
        assert_released_nothing(reply, leaf)


@FAST
@given(method=st.sampled_from(AUDITED), payload=st.binary(max_size=100))
def test_without_an_identity_nothing_is_served_or_logged(
    sim: Simulation, method: str, payload: bytes
) -> None:
    reply, leaves = sim.call(method, payload, None)
    assert reply.code is grpc.StatusCode.UNAUTHENTICATED
    assert reply.payload == b""
    assert leaves == []


@settings(FAST, max_examples=40)
@given(data=st.data())
def test_signed_requests_are_one_entry_and_answers_stay_sealed(
    sim: Simulation, data: st.DataObject
) -> None:
    ask = data.draw(asks(sim))
    payload, canonical, signature = signed(sim, ask)
    reply, leaves = sim.call(QUERY, payload, ask.slug)
    event(reply.code.name)
    leaf = leaf_of(leaves)
    assert leaf["status"] == reply.code.name
    if reply.code is not grpc.StatusCode.OK:
        assert_released_nothing(reply, leaf)
        return
    assert leaf["decision"] == "allow"
    answer = query_pb2.QueryResponse.FromString(reply.payload)
    assert len(answer.results) == len(leaf["results"]) == len(sim.plaintexts)
    for clear in sim.plaintexts:
        if len(clear) >= 16:  # shorter byte strings can occur in ciphertext by chance
            assert clear not in reply.payload
            assert clear not in leaves[0]
    # Sealed to the caller, who checks each plan and attestation, then opens every part.
    result = sim.fed.client(ask.slug).open_response(answer, canonical, signature)
    assert sorted(result.adapters) == sorted(r.adapter_id for r in answer.results)
    assert leaf["row_count"] == sum(r.row_count for r in answer.results)


@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_a_replayed_nonce_is_refused_and_audited_once(sim: Simulation, data: st.DataObject) -> None:
    ask = data.draw(asks(sim))
    payload, _, _ = signed(sim, ask)
    first, first_leaves = sim.call(QUERY, payload, ask.slug)
    leaf_of(first_leaves)
    # A request refused before its signature is checked claims no nonce.
    assume(first.code is not grpc.StatusCode.INVALID_ARGUMENT)
    again, leaves = sim.call(QUERY, payload, ask.slug)
    leaf = leaf_of(leaves)
    assert again.code is grpc.StatusCode.UNAUTHENTICATED
    assert_released_nothing(again, leaf)
    assert "replayed request" in leaf["reasons"][0]
