"""Stored H3 cells: grouping by the stored column gives exactly what `h3_cell` gives.

The reference schema keeps each incident's cell at resolutions 7 to 9 (`h3_r7`..`h3_r9`) so a
heatmap is a GROUP BY over an index instead of one Python call per row. These tests hold the
stored path to the function it replaces, on the seeded city and on arbitrary points.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, Engine, create_engine, func, insert, literal, select
from sqlalchemy.sql import visitors

from adapters.schema import H3_STORED_RESOLUTIONS, Base, create_schema, h3_column_name
from adapters.server import SqlAdapter, make_engine
from adapters.sql import PlanRefused, compile_plan, describe, register_h3, stored_h3_columns
from gateway.protocol.cells import cell_of
from gateway.protocol.model import Aggregation, Bucket, Filter, GroupBy, Op, QueryPlan
from gateway.protocol.values import rows_from_result
from tools.city import seed_city

INCIDENTS = Base.metadata.tables["incidents"]


def plan(resolution: int) -> QueryPlan:
    return QueryPlan(
        plan_id="p/a",
        request_id="p",
        adapter_id="a",
        dataset="incidents",
        fields=(),
        filters=(),
        aggregation=Aggregation((GroupBy("location", Bucket.H3, resolution),)),
        # Exact counts (a record-level purpose's aggregate), so the cells can be compared.
        aggregate_only=False,
        max_rows=20000,
        min_cell_count=1,
        purpose="criminal_investigation",
        expires_at=dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
        policy_revision="0" * 64,
    )


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path_factory.mktemp('h3') / 'city.db'}"
    seed_city(url, incidents=4000, seed=7, kota=("Jakarta Pusat", "Jakarta Selatan"), persons=50)
    engine = make_engine(url)  # the adapter's own engine: read-only, h3_cell registered
    yield engine
    engine.dispose()


def by_function(engine: Engine, resolution: int) -> list[tuple[Any, ...]]:
    cell = func.h3_cell(INCIDENTS.c.lat, INCIDENTS.c.lon, literal(resolution))
    stmt = select(cell, func.count()).group_by(cell).order_by(cell)
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(stmt)]


def test_schema_stores_every_resolution_it_declares() -> None:
    stored = stored_h3_columns(INCIDENTS)
    assert sorted(stored) == list(H3_STORED_RESOLUTIONS)
    assert all(stored[r].name == h3_column_name(r) for r in H3_STORED_RESOLUTIONS)
    leading = {next(iter(i.columns)).name for i in INCIDENTS.indexes}
    assert {h3_column_name(r) for r in H3_STORED_RESOLUTIONS} <= leading


@pytest.mark.parametrize("resolution", H3_STORED_RESOLUTIONS)
def test_grouping_by_the_stored_column_equals_grouping_by_the_function(
    city: Engine, resolution: int
) -> None:
    adapter = SqlAdapter("a", city)
    stmt = compile_plan(plan(resolution), INCIDENTS, adapter.datasets["incidents"], "sqlite")
    sql = str(stmt.select)
    assert h3_column_name(resolution) in sql
    assert "h3_cell" not in sql
    with city.connect() as conn:
        explained = conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN " + str(stmt.select.compile(city))
        ).all()
        assert f"COVERING INDEX ix_incidents_{h3_column_name(resolution)}" in str(explained)
        stored = [tuple(r) for r in conn.execute(stmt.select)]
    assert stored == by_function(city, resolution)
    assert sum(n for _, n in stored) == 4000


def test_every_seeded_row_stores_the_cell_of_its_own_point(city: Engine) -> None:
    columns = [INCIDENTS.c[h3_column_name(r)] for r in H3_STORED_RESOLUTIONS]
    with city.connect() as conn:
        rows = conn.execute(select(INCIDENTS.c.lat, INCIDENTS.c.lon, *columns)).all()
    for lat, lon, *cells in rows:
        assert cells == [cell_of(lat, lon, r) for r in H3_STORED_RESOLUTIONS]


def test_a_resolution_not_stored_falls_back_to_the_function_on_sqlite(city: Engine) -> None:
    adapter = SqlAdapter("a", city)
    stmt = compile_plan(plan(6), INCIDENTS, adapter.datasets["incidents"], "sqlite")
    assert "h3_cell" in str(stmt.select)
    result, _ = adapter.run(plan(6))
    rows = [(r["location_h3"], r["count"]) for r in rows_from_result(result)]
    assert rows == by_function(city, 6)


def test_postgresql_serves_stored_resolutions_and_refuses_the_others_naming_h3_pg() -> None:
    datasets = describe([INCIDENTS])
    compiled = compile_plan(plan(8), INCIDENTS, datasets[0], "postgresql")
    assert "h3_cell" not in str(compiled.select)
    with pytest.raises(PlanRefused, match=r"resolutions 7, 8, 9.*h3 extension \(h3-pg\)"):
        compile_plan(plan(10), INCIDENTS, datasets[0], "postgresql")


def test_stored_cells_are_not_fields_of_the_dataset() -> None:
    (dataset,) = describe([INCIDENTS])
    assert {"lat", "lon", "kecamatan"} <= set(dataset.fields)
    assert not any(name.startswith("h3_") for name in dataset.fields)


@pytest.fixture(scope="module")
def empty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    # Module-scoped for hypothesis; the test empties the table before each example.
    engine = create_engine(f"sqlite:///{tmp_path_factory.mktemp('h3') / 'empty.db'}")
    create_schema(engine)
    yield engine
    engine.dispose()


def _incident(n: int, lat: float, lon: float) -> dict[str, object]:
    when = dt.datetime(2026, 10, 5, 3, 0)
    return {
        "incident_id": n,
        "occurred_at": when,
        "reported_at": when,
        "lat": lat,
        "lon": lon,
        "kelurahan": "X",
        "kecamatan": "Tebet",
        "kota": "Jakarta Selatan",
        "category": "theft",
        "modus_operandi": "pickpocketing",
        "status": "reported",
        "source": "citizen_report",
        "case_id": None,
    }


# Around Jakarta and beyond: the stored cell must not depend on where the point is.
points = st.lists(
    st.tuples(
        st.floats(-80.0, 80.0, allow_nan=False, allow_infinity=False),
        st.floats(-179.9, 179.9, allow_nan=False, allow_infinity=False),
    ),
    min_size=1,
    max_size=20,
)


@settings(max_examples=25, deadline=None)
@given(points)
def test_rows_written_without_cells_get_them_computed_from_lat_lon(
    empty: Engine, pts: list[tuple[float, float]]
) -> None:
    with empty.begin() as conn:
        conn.execute(INCIDENTS.delete())
        conn.execute(insert(INCIDENTS), [_incident(i, a, b) for i, (a, b) in enumerate(pts, 1)])
    columns = [INCIDENTS.c[h3_column_name(r)] for r in H3_STORED_RESOLUTIONS]
    with empty.connect() as conn:
        register_h3(conn.connection.dbapi_connection)
        rows = conn.execute(
            select(
                *columns,
                *(func.h3_cell(INCIDENTS.c.lat, INCIDENTS.c.lon, r) for r in H3_STORED_RESOLUTIONS),
            ).order_by(INCIDENTS.c.incident_id)
        ).all()
    n = len(H3_STORED_RESOLUTIONS)
    assert [tuple(r[:n]) for r in rows] == [tuple(r[n:]) for r in rows]
    assert [tuple(r[:n]) for r in rows] == [
        tuple(cell_of(a, b, r) for r in H3_STORED_RESOLUTIONS) for a, b in pts
    ]


def _windowed(*group_by: GroupBy) -> QueryPlan:
    """A plan over a year of reported incidents, as analytics asks for them."""
    end = dt.datetime(2026, 10, 26, 17, tzinfo=dt.UTC)
    return QueryPlan(
        plan_id="w/a",
        request_id="w",
        adapter_id="a",
        dataset="incidents",
        fields=(),
        filters=(
            Filter("occurred_at", Op.GE, (end - dt.timedelta(weeks=52),)),
            Filter("occurred_at", Op.LT, (end,)),
            Filter("source", Op.IN, ("citizen_report", "emergency_call")),
        ),
        aggregation=Aggregation(group_by),
        aggregate_only=False,
        max_rows=100000,
        min_cell_count=1,
        purpose="criminal_investigation",
        expires_at=dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
        policy_revision="0" * 64,
    )


@pytest.mark.parametrize(
    ("group_by", "index"),
    [
        # patrol plan: cell x kecamatan x week
        (
            (
                GroupBy("location", Bucket.H3, 8),
                GroupBy("kecamatan"),
                GroupBy("occurred_at", Bucket.WEEK),
            ),
            "ix_incidents_h3_r8",
        ),
        # security index: kecamatan x status x month
        (
            (GroupBy("kecamatan"), GroupBy("status"), GroupBy("occurred_at", Bucket.MONTH)),
            "ix_incidents_kecamatan",
        ),
    ],
)
def test_the_heavy_aggregates_have_an_index_in_the_order_of_their_groups(
    group_by: tuple[GroupBy, ...], index: str
) -> None:
    # An index that holds every column the statement reads (covering: the table is not read)
    # and leads with its grouping columns (rows arrive in group order, so SQLite's sort for
    # GROUP BY is cheap): at 1,000,000 incidents the patrol plan's count 6.4 s to 1.1 s
    # (BENCHMARKS.md, consoles). Which index the planner takes depends on the data's
    # statistics; bench/consoles.py measures it on the seeded city.
    stmt = compile_plan(_windowed(*group_by), INCIDENTS, describe([INCIDENTS])[0], "sqlite")
    read = {
        e.name
        for e in visitors.iterate(stmt.select)
        if isinstance(e, Column) and e.table is INCIDENTS
    }
    columns = [c.name for c in next(i for i in INCIDENTS.indexes if i.name == index).columns]
    grouped = [
        h3_column_name(g.h3_resolution) if g.bucket is Bucket.H3 else g.field
        for g in group_by
        if g.bucket in (Bucket.NONE, Bucket.H3)
    ]
    assert columns[: len(grouped)] == grouped
    assert read <= set(columns)
