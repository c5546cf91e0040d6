"""A clock skewed (issue 12, fault suite): clear statuses, one audit entry each.

- A caller whose clock is skewed beyond the freshness window (either way) is refused with
  UNAUTHENTICATED naming the skew, in exactly one audit entry.
- The gateway's own clock skewed from the adapters' (a plan lives 30 s from when the gateway
  signs it): ahead, the adapter refuses a plan "signed in the future"; behind, an expired
  one; either way the caller gets UNAVAILABLE naming the clock skew, in one audit entry,
  never a policy denial. Real processes; the gateway runs with its wall clock shifted
  (tests/support/skewed_clock.py).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest

from adapters.plans import _check_lifetime
from adapters.sql import PlanRefused
from gateway.audit.store import AuditStore
from gateway.client import GerbangClient, QueryRefused
from gateway.oversight.verify import verify_log
from gateway.protocol.model import Aggregation, Bucket, GroupBy, Query
from gateway.protocol.pki import init_pki
from gateway.protocol.planning import PLAN_LIFETIME
from gateway.protocol.signed_request import FRESHNESS
from tests.conftest import month_window
from tests.support.audit_log import entry, log_size
from tools.city import seed_city
from tools.federation import AdapterSpec, LocalFederation

PURPOSES = json.loads(Path("policies/registry/purposes/data.json").read_text())
SKEW = "GERBANG_TEST_CLOCK_SKEW"


def traffic_query() -> Query:
    return Query(
        "incidents",
        ("kecamatan", "occurred_at"),
        month_window(2025, 11, 2),
        Aggregation((GroupBy("kecamatan"), GroupBy("occurred_at", Bucket.HOUR_OF_DAY))),
        "traffic_planning",
        str(PURPOSES["traffic_planning"]["legal_basis"]),
    )


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    work = tmp_path_factory.mktemp("skew")
    init_pki(work / "pki", adapters=("s1",))
    url = f"sqlite:///{work / 's1.db'}"
    seed_city(url, incidents=200, seed=11, kota=("Jakarta Pusat",))
    launcher = [sys.executable, "-m", "tests.support.skewed_clock"]
    os.environ[SKEW] = "0"
    try:
        with LocalFederation(work, [AdapterSpec("s1", url)], gateway_launcher=launcher) as fed:
            yield fed
    finally:
        os.environ.pop(SKEW, None)


@pytest.fixture
async def client(federation: LocalFederation) -> AsyncIterator[GerbangClient]:
    async with GerbangClient.connect(federation.address, federation.pki, "dishub-atcs") as c:
        yield c


def restart_gateway(fed: LocalFederation, skew: float) -> None:
    fed.kill_gateway()
    os.environ[SKEW] = str(skew)
    fed.start_gateway()


# --- the caller's clock ------------------------------------------------------------------


@pytest.mark.parametrize("seconds", [300, -300])
async def test_caller_clock_skewed_beyond_freshness_is_refused_and_audited_once(
    federation: LocalFederation, client: GerbangClient, seconds: int
) -> None:
    assert abs(seconds) > FRESHNESS.total_seconds()
    skewed = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)
    request, _, _ = client.signed_request(traffic_query(), now=skewed)
    before = log_size(federation)
    with pytest.raises(QueryRefused) as refused:
        await client.query_raw(request)
    assert refused.value.code is grpc.StatusCode.UNAUTHENTICATED
    assert "request is not fresh: issued 300 s from the gateway's clock" in refused.value.message
    assert log_size(federation) == before + 1
    e = entry(federation, before)
    assert e["status"] == "UNAUTHENTICATED"
    assert e["decision"] == "deny"


async def test_caller_clock_within_freshness_is_served(
    federation: LocalFederation, client: GerbangClient
) -> None:
    skewed = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=60)
    request, _, _ = client.signed_request(traffic_query(), now=skewed)
    response = await client.query_raw(request)
    assert response.receipt.leaf_index >= 0


# --- the gateway's clock against the adapters' -------------------------------------------


@pytest.mark.parametrize(
    ("skew", "cause"),
    [(90, "signed 90 s in the future"), (-90, "if the gateway's clock is behind")],
    ids=["gateway-ahead", "gateway-behind"],
)
async def test_gateway_clock_skewed_from_adapters_is_a_clear_error(
    federation: LocalFederation, skew: int, cause: str
) -> None:
    restart_gateway(federation, skew)
    try:
        async with GerbangClient.connect(
            federation.address, federation.pki, "dishub-atcs"
        ) as client:
            # Signed by the gateway's (skewed) clock, so freshness is not what fails.
            now = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=skew)
            request, _, _ = client.signed_request(traffic_query(), now=now)
            before = log_size(federation)
            with pytest.raises(QueryRefused) as refused:
                await client.query_raw(request)
    finally:
        restart_gateway(federation, 0)
    assert refused.value.code is grpc.StatusCode.UNAVAILABLE
    assert "adapter refused the plan" in refused.value.message
    assert cause in refused.value.message
    assert "synchronise them (NTP)" in refused.value.message
    assert log_size(federation) == before + 1
    e = entry(federation, before)
    assert e["status"] == "UNAVAILABLE"
    assert e["decision"] == "error"


def test_log_verifies_after_the_skews(federation: LocalFederation) -> None:
    store = AuditStore(federation.audit_url)
    try:
        assert verify_log(store.scan(), store.head()).size >= 5
    finally:
        store.close()


# --- the plan lifetime check itself ------------------------------------------------------


@pytest.mark.parametrize(
    ("issued_offset", "refused"),
    [(0, None), (4, None), (-29, None), (6, "in the future"), (-30, "expired"), (-31, "expired")],
)
def test_plan_lifetime_by_the_adapters_clock(issued_offset: int, refused: str | None) -> None:
    from dataclasses import dataclass

    now = dt.datetime(2026, 12, 3, 12, tzinfo=dt.UTC)

    @dataclass
    class Plan:
        expires_at: dt.datetime

    plan = Plan(now + dt.timedelta(seconds=issued_offset) + PLAN_LIFETIME)
    if refused is None:
        _check_lifetime(plan, now)  # type: ignore[arg-type]
    else:
        with pytest.raises(PlanRefused, match=refused):
            _check_lifetime(plan, now)  # type: ignore[arg-type]
