"""A differentially private H3 heatmap end to end, and the privacy-budget ledger.

Real processes, as in test_gateway_e2e.py: two adapters over two regional SQLite
databases, the gateway with the embedded policy engine. `spatial_planning` allows H3
cells of resolution 8 at most, epsilon 1.0 per release and k = 10; a caller may spend 2.0 on
each month of data (docs/adr/0009), and an identical question in the same month is the held
release, charged nothing.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from sqlalchemy import select

from adapters.server import SqlAdapter, make_engine
from adapters.sql import PlanRefused, compile_plan
from gateway.audit.releases import accounts_table
from gateway.audit.store import AuditStore
from gateway.client import GerbangClient, QueryRefused
from gateway.protocol import cells as _h3
from gateway.protocol.model import Aggregation, Bucket, Filter, GroupBy, Op, Query, QueryPlan
from gateway.protocol.pki import init_pki
from tests.support.audit_log import entry
from tools.city import seed_city
from tools.federation import AdapterSpec, LocalFederation

PURPOSES = json.loads(Path("policies/registry/purposes/data.json").read_text())
SPATIAL = PURPOSES["spatial_planning"]
CALLER = "spiffe://gerbang.jakarta.go.id/citata/spatial"
REGIONS = {
    "h1": ("Jakarta Pusat", "Jakarta Barat", "Jakarta Utara"),
    "h2": ("Jakarta Selatan", "Jakarta Timur"),
}


WIB = dt.timezone(dt.timedelta(hours=7))
# The seeded year, on the month grid (WIB): spatial_planning allows at most 366 days.
YEAR = (
    Filter("occurred_at", Op.GE, (dt.datetime(2025, 11, 1, tzinfo=WIB),)),
    Filter("occurred_at", Op.LT, (dt.datetime(2026, 11, 1, tzinfo=WIB),)),
)
MONTHS = "2025-11..2026-10"


def heatmap(resolution: int = 8, *extra: Filter) -> Query:
    return Query(
        "incidents",
        (),
        (*YEAR, *extra),
        Aggregation((GroupBy("location", Bucket.H3, resolution),)),
        "spatial_planning",
        str(SPATIAL["legal_basis"]),
    )


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


def spent(federation: LocalFederation, caller: str = CALLER) -> dict[str, float]:
    """The caller's privacy accounts, by data period."""
    store = AuditStore(federation.audit_url)
    a = accounts_table.c
    try:
        with store.engine.connect() as conn:
            rows = conn.execute(select(a.period, a.spent).where(a.caller == caller))
            return {r.period: float(r.spent) for r in rows}
    finally:
        store.close()


async def ask(federation: LocalFederation, query: Query) -> object:
    async with GerbangClient.connect(federation.address, federation.pki, "citata-spatial") as c:
        return await c.query(query)


async def test_heatmap_is_charged_to_the_months_it_reads_then_held_then_denied(
    federation: LocalFederation,
) -> None:
    k = int(SPATIAL["min_cell_count"])
    epsilon = float(SPATIAL["epsilon"])
    per_caller = float(SPATIAL["privacy_budget"]["per_caller"])
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
        assert result.privacy is not None
        assert result.privacy.mechanism == "discrete_laplace"
        assert (result.privacy.epsilon, result.privacy.min_cell_count) == (epsilon, k)
        assert (result.privacy.epsilon_charged, result.privacy.held) == (epsilon, False)
        assert result.privacy.periods == MONTHS
        assert result.privacy.remaining == pytest.approx(per_caller - epsilon)
        assert all(p.epsilon == epsilon and p.release_id for p in result.plans)
        # Charged to each of the twelve months the window reads, whenever it was asked.
        accounts = spent(federation)
        assert len(accounts) == 12
        assert all(v == pytest.approx(epsilon) for v in accounts.values())

        # The identical question again: the held release, the same noise, nothing charged.
        again = await c.query(heatmap())
        assert again.rows == result.rows
        assert again.privacy is not None
        assert (again.privacy.held, again.privacy.epsilon_charged) == (True, 0.0)
        assert spent(federation) == accounts

        # Another question over the same months spends from the same accounts...
        other = Filter("category", Op.IN, ("motor_vehicle_theft", "theft"))
        await c.query(heatmap(8, other))
        assert all(v == pytest.approx(2 * epsilon) for v in spent(federation).values())
        # ...and a third finds them spent.
        with pytest.raises(QueryRefused) as refused:
            await c.query(heatmap(8, Filter("category", Op.IN, ("assault",))))
    assert refused.value.code is grpc.StatusCode.PERMISSION_DENIED
    (reason,) = refused.value.reasons
    assert "privacy budget spent" in reason
    assert f"spent epsilon {2 * epsilon:g} of {per_caller:g}" in reason
    assert refused.value.audit_index is not None
    e = entry(federation, refused.value.audit_index)
    assert e["decision"] == "deny"
    assert e["status"] == "PERMISSION_DENIED"
    assert e["caller"] == CALLER
    assert e["adapters"] == []
    assert e["row_count"] == 0
    assert tuple(e["reasons"]) == refused.value.reasons
    assert all(
        v == pytest.approx(2 * epsilon) for v in spent(federation).values()
    )  # charged nothing


async def test_budget_and_holds_survive_a_gateway_restart(federation: LocalFederation) -> None:
    async with GerbangClient.connect(federation.address, federation.pki, "citata-spatial") as c:
        before = await c.query(heatmap())  # held by the test above (or made now)
    federation.kill_gateway()
    federation.start_gateway()
    async with GerbangClient.connect(federation.address, federation.pki, "citata-spatial") as c:
        after = await c.query(heatmap())
        assert after.rows == before.rows
        assert after.privacy is not None
        assert after.privacy.held
        with pytest.raises(QueryRefused) as refused:
            await c.query(heatmap(8, Filter("category", Op.IN, ("fraud",))))
    assert refused.value.code is grpc.StatusCode.PERMISSION_DENIED
    assert "privacy budget spent" in refused.value.message


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
    """Noisy counts for an aggregate-only purpose; exact ones (no epsilon) only for a
    record-level purpose's aggregate, which the adapter would refuse otherwise."""
    return QueryPlan(
        plan_id="p/a",
        request_id="p",
        adapter_id="a",
        dataset="incidents",
        fields=(),
        filters=(),
        aggregation=Aggregation((GroupBy("location", Bucket.H3, resolution),)),
        aggregate_only=epsilon is not None,
        max_rows=20000,
        min_cell_count=10,
        purpose="spatial_planning" if epsilon is not None else "criminal_investigation",
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
