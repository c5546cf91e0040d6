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
from sqlalchemy import Engine, create_engine, func, insert, literal, select

from adapters.schema import H3_STORED_RESOLUTIONS, Base, create_schema, h3_column_name
from adapters.server import SqlAdapter, make_engine
from adapters.sql import PlanRefused, compile_plan, describe, register_h3, stored_h3_columns
from gateway.protocol.cells import cell_of
from gateway.protocol.model import Aggregation, Bucket, GroupBy, QueryPlan, rows_from_result
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
