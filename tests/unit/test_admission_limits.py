"""Limits per caller (issue 12, item 4): the registry's `limits`, the token bucket, the plan's
cost, and the windowed audit entry of refusals, written to a real audit store.

The flood against real processes is tests/e2e/test_fault_flood.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
from pathlib import Path
from typing import Any

import google.rpc.error_details_pb2 as error_details_pb2
import google.rpc.status_pb2 as status_pb2
import grpc
import pytest

from gateway.audit.store import AuditStore
from gateway.audit.writer import AuditWriter
from gateway.errors import ConfigurationError
from gateway.policy.bundle import load_bundle
from gateway.policy.registry import check_registry
from gateway.protocol.identities import EXAMPLE_CALLERS
from gateway.protocol.model import Filter, Op, Query
from gateway.service.admission import AdmissionControl, server_options
from gateway.service.limits import DEFAULT_LIMITS, LimitsTable, Overloaded, TokenBucket, plan_cost
from gateway.service.status import to_status

ATCS = EXAMPLE_CALLERS["dishub-atcs"]
JSC = EXAMPLE_CALLERS["jsc-command-centre"]


def data_with(limits: object) -> dict[str, Any]:
    data: dict[str, Any] = copy.deepcopy(dict(load_bundle(Path("policies")).data))
    data["registry"]["callers"][JSC]["limits"] = limits
    return data


def test_registry_limits_override_the_defaults() -> None:
    table = LimitsTable.from_data(data_with({"open_streams": 2, "rate_per_second": 5}))
    assert table.of(JSC).open_streams == 2
    assert table.of(JSC).rate_per_second == 5.0
    assert table.of(JSC).burst == DEFAULT_LIMITS.burst
    assert table.of(ATCS) == DEFAULT_LIMITS
    assert table.of("spiffe://gerbang.jakarta.go.id/unknown/caller") == DEFAULT_LIMITS


@pytest.mark.parametrize(
    ("limits", "problem"),
    [
        ({"open_stream": 2}, "unknown limit 'open_stream'"),
        ({"burst": 0}, "limit 'burst' must be a whole number above 0"),
        ({"burst": 2.5}, "limit 'burst' must be a whole number"),
        ({"concurrent_requests": True}, "limit 'concurrent_requests' must be"),
        ({"max_plan_cost": 10**12}, "at most 10000000"),
        ({"rate_per_second": -1}, "limit 'rate_per_second' must be a number above 0"),
        ([1, 2], "limits must be an object"),
    ],
)
def test_registry_check_refuses_bad_limits(limits: object, problem: str) -> None:
    check_registry(data_with({"open_streams": 2}))  # a good one passes
    with pytest.raises(ConfigurationError, match=problem):
        check_registry(data_with(limits))


def test_token_bucket_lets_a_burst_through_then_the_rate() -> None:
    bucket = TokenBucket(rate=10, burst=5, now=100.0)
    assert [bucket.take(100.0) for _ in range(6)] == [True] * 5 + [False]
    assert not bucket.take(100.05)  # half a token
    assert bucket.take(100.15)  # one and a half
    assert not bucket.take(100.15)
    assert [bucket.take(200.0) for _ in range(6)] == [True] * 5 + [False]  # capped at burst
    late = TokenBucket(rate=10, burst=1, now=100.0)
    assert late.take(100.0)
    assert not late.take(99.0)  # a clock that steps back refills nothing


def test_plan_cost_is_filters_times_values_times_adapters() -> None:
    f = (Filter("kota", Op.IN, ("a", "b", "c")), Filter("category", Op.EQ, ("x",)))
    query = Query("incidents", ("kota",), f, None, "traffic_planning", "basis")
    assert plan_cost(query, 3) == 2 * 4 * 3
    bare = Query("incidents", ("kota",), (), None, "traffic_planning", "basis")
    assert plan_cost(bare, 0) == 1


def test_check_plan_raises_overloaded_not_a_denial() -> None:
    admission = AdmissionControl.from_data(data_with({"max_plan_cost": 10}))
    values = tuple(f"v{i}" for i in range(6))
    query = Query(
        "incidents", ("kota",), (Filter("kota", Op.IN, values),), None, "traffic_planning", "b"
    )
    admission.check_plan(JSC, query, 1)  # 1 x 6 x 1
    with pytest.raises(Overloaded, match="over this caller's limit of 10") as e:
        admission.check_plan(JSC, query, 2)
    assert e.value.limit == "max_plan_cost"
    admission.check_plan(ATCS, query, 2)  # the defaults


def test_enter_counts_requests_and_streams_apart() -> None:
    now = [0.0]
    admission = AdmissionControl.from_data(
        data_with({"concurrent_requests": 2, "open_streams": 1, "burst": 100}),
        clock=lambda: now[0],
    )
    admission.enter(JSC, stream=False)
    admission.enter(JSC, stream=False)
    admission.enter(JSC, stream=True)
    with pytest.raises(Overloaded) as e:
        admission.enter(JSC, stream=False)
    assert e.value.limit == "concurrent_requests"
    with pytest.raises(Overloaded) as e:
        admission.enter(JSC, stream=True)
    assert e.value.limit == "open_streams"
    admission.enter(ATCS, stream=True)  # another caller is not affected
    admission.leave(JSC, stream=False)
    admission.enter(JSC, stream=False)


async def test_refusals_are_one_audit_entry_per_caller_per_window(tmp_path: Path) -> None:
    store = AuditStore(f"sqlite:///{tmp_path / 'audit.db'}")
    store.create()
    writer = AuditWriter(store)
    writer.start()
    now = [0.0]
    admission = AdmissionControl.from_data(
        data_with({"rate_per_second": 1, "burst": 3}), clock=lambda: now[0], window=3600
    )
    admission.start(writer)
    refused: list[str] = []
    for _ in range(500):
        try:
            admission.enter(JSC, stream=False)
            admission.leave(JSC, stream=False)
        except Overloaded as e:
            refused.append(e.limit)
    assert refused == ["rate_per_second"] * 497
    assert store.head().size == 0  # nothing written per refusal
    await admission.stop()  # ends the window
    await writer.stop()
    entries = [e.fields() for e in store.entries(0, store.head().size)]
    store.close()
    assert len(entries) == 1
    (entry,) = entries
    assert entry["caller"] == JSC
    assert entry["kind"] == "admission"
    assert entry["decision"] == "refused"
    assert entry["status"] == "RESOURCE_EXHAUSTED"
    assert entry["reasons"][0].startswith("497 requests refused by admission control between ")
    assert entry["reasons"][1:] == ["rate_per_second: 497"]


async def test_refusals_are_paced_at_the_callers_rate_up_to_the_cap() -> None:
    """The k-th refusal waiting at once waits k / rate (at most the cap); past the overall cap
    of waiting refusals they are answered at once, and a cancelled wait frees its place."""
    admission = AdmissionControl.from_data(
        data_with({"rate_per_second": 50, "burst": 1}), hold_max=0.1, held_max=6
    )
    assert admission.hold_for(JSC) == pytest.approx(1 / 50)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    finished: list[float] = []

    async def refused() -> None:
        await admission.pace(JSC)
        finished.append(loop.time() - t0)

    waits = [asyncio.ensure_future(refused()) for _ in range(5)]
    await asyncio.sleep(0)
    # Five waiting: the sixth would wait 6 / 50 = 0.12 s, capped at 0.1.
    assert admission.hold_for(JSC) == pytest.approx(0.1)
    assert admission.hold_for(ATCS) == pytest.approx(1 / DEFAULT_LIMITS.rate_per_second)
    sixth = asyncio.ensure_future(refused())
    await asyncio.sleep(0)
    assert admission.hold_for(ATCS) == 0.0  # six waiting overall: answered at once
    sixth.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sixth
    assert admission.hold_for(ATCS) > 0.0  # the cancelled wait gave its place back
    await asyncio.gather(*waits)
    # 0.02, 0.04, ... 0.10 s after the start: in order, none answered at once.
    assert finished == sorted(finished)
    assert finished[0] >= 0.015
    assert finished[-1] >= 0.095
    assert admission.hold_for(JSC) == pytest.approx(1 / 50)  # nothing left waiting


def test_an_admission_refusal_carries_overloaded_and_when_to_retry() -> None:
    admission = AdmissionControl.from_data(data_with({"rate_per_second": 4, "burst": 1}))
    admission.enter(JSC, stream=False)
    with pytest.raises(Overloaded) as e:
        admission.enter(JSC, stream=False)
    wire = to_status(e.value)
    assert wire.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    packed = dict(wire.trailing_metadata)["grpc-status-details-bin"]
    assert isinstance(packed, bytes)
    details = status_pb2.Status.FromString(packed)
    info = error_details_pb2.ErrorInfo()
    retry = error_details_pb2.RetryInfo()
    assert details.details[0].Unpack(info)
    assert info.reason == "OVERLOADED"
    assert details.details[1].Unpack(retry)
    assert retry.retry_delay.ToNanoseconds() == 250_000_000


def test_server_options_name_grpc_core_arguments() -> None:
    options = dict(server_options(2.5, 100))
    assert options == {
        "grpc.server_handshake_timeout_ms": 2500,
        "grpc.max_allowed_incoming_connections": 100,
    }


def test_the_shipped_registry_limits_parse() -> None:
    data: dict[str, Any] = dict(load_bundle(Path("policies")).data)
    table = LimitsTable.from_data(data)
    for sid, spec in data["registry"]["callers"].items():
        given = spec.get("limits", {})
        for key, value in given.items():
            assert getattr(table.of(sid), key) == value, json.dumps(given)


def test_a_reloaded_registry_changes_the_limits_in_force() -> None:
    now = [0.0]
    admission = AdmissionControl.from_data(data_with({"open_streams": 1}), clock=lambda: now[0])
    admission.enter(JSC, stream=True)
    with pytest.raises(Overloaded):
        admission.enter(JSC, stream=True)
    admission.update(data_with({"open_streams": 2}))
    admission.enter(JSC, stream=True)  # the open one still counts; one more fits
    with pytest.raises(Overloaded):
        admission.enter(JSC, stream=True)
