"""A differentially private H3 heatmap end to end, and the privacy-budget ledger.

Real processes, as in test_gateway_e2e.py: two adapters over two regional SQLite
databases, the gateway with the embedded policy engine. `spatial_planning` allows H3
cells of resolution 8 at most, with epsilon 1.0 per caller per month and k = 10.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from adapters.seed import seed_city
from adapters.server import SqlAdapter, make_engine
from adapters.sql import PlanRefused, compile_plan
from gateway.analytics import _h3
from gateway.analytics.privacy import BudgetKey, budget_period
from gateway.audit.budget import AuditBudgetStore
from gateway.audit.store import AuditStore
from gateway.client import GerbangClient, QueryRefused
from gateway.local import AdapterSpec, LocalFederation
from gateway.model import Aggregation, Bucket, Filter, GroupBy, Op, Query, QueryPlan
from gateway.pki import init_pki

PURPOSES = json.loads(Path("policies/registry/purposes/data.json").read_text())
SPATIAL = PURPOSES["spatial_planning"]
CALLER = "spiffe://gerbang.jakarta.go.id/citata/spatial"
REGIONS = {
    "h1": ("Jakarta Pusat", "Jakarta Barat", "Jakarta Utara"),
    "h2": ("Jakarta Selatan", "Jakarta Timur"),
}


# The seeded year: spatial_planning allows windows of at most 366 days.
YEAR = (
    Filter("occurred_at", Op.GE, (dt.datetime(2025, 11, 1, tzinfo=dt.UTC),)),
    Filter("occurred_at", Op.LT, (dt.datetime(2026, 11, 1, tzinfo=dt.UTC),)),
)


def heatmap(resolution: int = 8) -> Query:
    return Query(
        "incidents",
        (),
        YEAR,
        Aggregation((GroupBy("location", Bucket.H3, resolution),)),
        "spatial_planning",
        str(SPATIAL["legal_basis"]),
    )


def period_now() -> str:
    return budget_period(dt.datetime.now(dt.UTC), SPATIAL["epsilon_period"])


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    work = tmp_path_factory.mktemp("heatmap")
    init_pki(work / "pki", adapters=tuple(REGIONS))
    specs = []
    for i, (name, kota) in enumerate(REGIONS.items()):
        url = f"sqlite:///{work / f'{name}.db'}"
        seed_city(url, incidents=6000, seed=11 + i, kota=kota)
        specs.append(AdapterSpec(name, url))
    with LocalFederation(work, specs) as fed:
        yield fed


def spent(federation: LocalFederation) -> float:
    store = AuditStore(federation.audit_url)
    try:
        return AuditBudgetStore(store).spent(BudgetKey(CALLER, "spatial_planning", period_now()))
    finally:
        store.close()


def entry(federation: LocalFederation, index: int) -> dict[str, object]:
    store = AuditStore(federation.audit_url)
    try:
        return store.entries(index, index + 1)[0].fields()
    finally:
        store.close()


async def ask(federation: LocalFederation, query: Query) -> object:
    async with GerbangClient.connect(federation.address, federation.pki, "citata-spatial") as c:
        return await c.query(query)


async def test_heatmap_spends_the_monthly_budget_then_is_denied(
    federation: LocalFederation,
) -> None:
    k = int(SPATIAL["min_cell_count"])
    limit = float(SPATIAL["epsilon"])
    async with GerbangClient.connect(federation.address, federation.pki, "citata-spatial") as c:
        result = await c.query(heatmap())
        assert result.columns == ("location_h3", "count")
        assert len(result.adapters) == 2
        cells = [str(r["location_h3"]) for r in result.rows]
        assert len(cells) > 50
        assert len(set(cells)) == len(cells)
        assert all(_h3.is_valid(cell) and _h3.resolution_of(cell) == 8 for cell in cells)
        # Noisy counts, each adapter's part at least k after the noise: merged sums are too.
        assert all(isinstance(r["count"], int) and r["count"] >= k for r in result.rows)
        assert result.suppressed_groups > 0  # the public domain holds empty cells
        assert result.privacy_budget_period == period_now()
        assert result.privacy_budget_remaining == pytest.approx(0.0)
        assert spent(federation) == pytest.approx(limit)

        with pytest.raises(QueryRefused) as refused:
            await c.query(heatmap())
    assert refused.value.code is grpc.StatusCode.PERMISSION_DENIED
    (reason,) = refused.value.reasons
    assert "privacy budget exhausted" in reason
    assert f"spent epsilon {limit:g} of {limit:g}" in reason
    assert "0 remaining" in reason
    assert refused.value.audit_index is not None
    e = entry(federation, refused.value.audit_index)
    assert e["decision"] == "deny"
    assert e["status"] == "PERMISSION_DENIED"
    assert e["caller"] == CALLER
    assert e["adapters"] == []
    assert e["row_count"] == 0
    assert tuple(e["reasons"]) == refused.value.reasons  # type: ignore[arg-type]
    assert spent(federation) == pytest.approx(limit)  # a refused spend charges nothing


async def test_budget_survives_a_gateway_restart(federation: LocalFederation) -> None:
    async with GerbangClient.connect(federation.address, federation.pki, "citata-spatial") as c:
        with contextlib.suppress(QueryRefused):
            await c.query(heatmap())  # spend whatever is left this month
    federation.kill_gateway()
    federation.start_gateway()
    async with GerbangClient.connect(federation.address, federation.pki, "citata-spatial") as c:
        with pytest.raises(QueryRefused) as refused:
            await c.query(heatmap())
    assert refused.value.code is grpc.StatusCode.PERMISSION_DENIED
    assert "privacy budget exhausted" in refused.value.message


async def test_finer_cells_than_resolution_8_are_denied_by_policy(
    federation: LocalFederation,
) -> None:
    async with GerbangClient.connect(federation.address, federation.pki, "citata-spatial") as c:
        with pytest.raises(QueryRefused) as refused:
            await c.query(heatmap(9))
    assert refused.value.code is grpc.StatusCode.PERMISSION_DENIED
    assert any(
        "h3 resolution of a group-by is finer than the maximum 8" in r
        for r in refused.value.reasons
    )


def plan(resolution: int = 8, epsilon: float | None = 1.0) -> QueryPlan:
    return QueryPlan(
        plan_id="p/a",
        request_id="p",
        adapter_id="a",
        dataset="incidents",
        fields=(),
        filters=(),
        aggregation=Aggregation((GroupBy("location", Bucket.H3, resolution),)),
        aggregate_only=True,
        max_rows=20000,
        min_cell_count=10,
        purpose="spatial_planning",
        expires_at=dt.datetime.now(dt.UTC),
        policy_revision="0" * 64,
        epsilon=epsilon,
    )


def test_postgresql_adapter_groups_stored_cells_and_refuses_others_naming_the_extension(
    pg_url: str,
) -> None:
    seed_city(pg_url, incidents=200, seed=3, kota=("Jakarta Pusat",), persons=50)
    engine = make_engine(pg_url)
    try:
        adapter = SqlAdapter("a", engine)
        exact, _ = adapter.run(plan(epsilon=None))  # resolution 8 is stored: no h3-pg needed
        assert exact.rows
        assert all(_h3.resolution_of(r.values[0].string_value) == 8 for r in exact.rows)
        table = adapter.tables["incidents"]
        with pytest.raises(PlanRefused, match="h3 extension"):
            compile_plan(plan(10), table, adapter.datasets["incidents"], "postgresql")
        with pytest.raises(PlanRefused, match="h3 extension"):
            adapter.run(plan(10))
    finally:
        engine.dispose()


def test_sqlite_adapter_groups_h3_in_sql_with_and_without_noise(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    seed_city(url, incidents=3000, seed=5, kota=("Jakarta Pusat",), persons=50)
    engine = make_engine(url)
    try:
        adapter = SqlAdapter("a", engine)
        exact, _ = adapter.run(plan(epsilon=None))
        noisy, _ = adapter.run(plan())
    finally:
        engine.dispose()
    assert list(exact.columns) == list(noisy.columns) == ["location_h3", "count"]
    assert exact.rows
    assert noisy.rows
    assert all(r.values[1].int_value >= 10 for r in (*exact.rows, *noisy.rows))
    # The noisy release is over the public domain, so it withholds far more cells.
    assert noisy.suppressed_groups > exact.suppressed_groups
