"""The SQL adapter's compilation of plans: bound parameters, push-down, obligations."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, insert

from adapters.schema import Base, create_schema
from adapters.server import SqlAdapter
from adapters.sql import PlanRefused, compile_plan
from gateway.model import Aggregation, Bucket, Filter, GroupBy, InvalidQuery, Measure, Op, QueryPlan

T0 = dt.datetime(2026, 10, 5, 0, 0)  # a Monday


def plan(**changes: object) -> QueryPlan:
    base: dict[str, object] = {
        "plan_id": "p",
        "request_id": "r",
        "adapter_id": "a",
        "dataset": "incidents",
        "fields": ("kecamatan", "occurred_at"),
        "filters": (),
        "aggregation": Aggregation((GroupBy("kecamatan"),)),
        # Exact counts: a record-level purpose's aggregate. An aggregate-only purpose's counts
        # are noisy (test_aggregate_only_counts_need_noise).
        "aggregate_only": False,
        "max_rows": 100,
        "min_cell_count": 1,
        "purpose": "criminal_investigation",
        "expires_at": dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
        "policy_revision": "rev",
    }
    base.update(changes)
    return QueryPlan(**base)  # type: ignore[arg-type]


def _incidents() -> list[dict[str, object]]:
    rows = []
    areas = [
        ("Tebet", "Jakarta Selatan", 12),
        ("Menteng", "Jakarta Pusat", 5),
        ("Cilandak", "Jakarta Selatan", 2),
    ]
    n = 0
    for kecamatan, kota, count in areas:
        for i in range(count):
            n += 1
            when = T0 + dt.timedelta(days=i % 7, hours=(7 + i) % 24)
            rows.append(
                {
                    "incident_id": n,
                    "occurred_at": when,
                    "reported_at": when + dt.timedelta(hours=1),
                    "lat": -6.2,
                    "lon": 106.8,
                    "kelurahan": "X",
                    "kecamatan": kecamatan,
                    "kota": kota,
                    "category": "theft" if i % 2 else "robbery",
                    "modus_operandi": "pickpocketing",
                    "status": "reported",
                    "source": "citizen_report",
                    "case_id": None,
                }
            )
    return rows


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    url = (
        f"sqlite:///{tmp_path / 'police.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    eng = create_engine(url)
    create_schema(eng)
    with eng.begin() as conn:
        conn.execute(insert(Base.metadata.tables["incidents"]), _incidents())
    yield eng
    eng.dispose()


def run(engine: Engine, p: QueryPlan) -> list[dict[str, object]]:
    from gateway.model import rows_from_result

    result, _ = SqlAdapter("a", engine).run(p)
    return rows_from_result(result)  # type: ignore[return-value]


def test_group_by_is_pushed_down(engine: Engine) -> None:
    rows = run(engine, plan())
    assert rows == [
        {"kecamatan": "Cilandak", "count": 2},
        {"kecamatan": "Menteng", "count": 5},
        {"kecamatan": "Tebet", "count": 12},
    ]
    adapter = SqlAdapter("a", engine)
    stmt = compile_plan(
        plan(), adapter.tables["incidents"], adapter.datasets["incidents"], engine.dialect.name
    )
    assert "GROUP BY" in str(stmt.select)


def test_small_cells_are_suppressed(engine: Engine) -> None:
    result, count = SqlAdapter("a", engine).run(plan(min_cell_count=5))
    assert [r.values[0].string_value for r in result.rows] == ["Menteng", "Tebet"]
    assert result.suppressed_groups == 1
    assert count == 2


def test_row_filters_are_bound_parameters(engine: Engine) -> None:
    evil = "Tebet' OR '1'='1"
    p = plan(filters=(Filter("kecamatan", Op.EQ, (evil,)),))
    adapter = SqlAdapter("a", engine)
    stmt = compile_plan(
        p, adapter.tables["incidents"], adapter.datasets["incidents"], engine.dialect.name
    )
    assert evil not in str(stmt.select)
    assert run(engine, p) == []


def test_filters_and_jurisdiction_compose(engine: Engine) -> None:
    p = plan(
        filters=(
            Filter("category", Op.EQ, ("theft",)),
            Filter("kota", Op.IN, ("Jakarta Selatan",)),
        )
    )
    assert {r["kecamatan"]: r["count"] for r in run(engine, p)} == {"Tebet": 6, "Cilandak": 1}


@pytest.mark.parametrize(
    ("bucket", "key", "count"),
    [
        # Stored times are UTC; buckets are WIB (UTC+7): 07:00 UTC is 14:00 local.
        (Bucket.HOUR_OF_DAY, 14, 3),
        (Bucket.HOUR_OF_DAY, 0, 1),  # 17:00 UTC on a Thursday is Friday 00:00 WIB
        (Bucket.DAY_OF_WEEK, 1, 4),
        (Bucket.DAY, "2026-10-05", 4),
        (Bucket.WEEK, "2026-10-05", 19),
        (Bucket.MONTH, "2026-10", 19),
    ],
)
def test_time_buckets_are_local_and_agree_across_databases(
    engine: Engine, bucket: Bucket, key: object, count: int
) -> None:
    rows = run(engine, plan(aggregation=Aggregation((GroupBy("occurred_at", bucket),))))
    counts = {r[f"occurred_at_{bucket}"]: r["count"] for r in rows}
    assert counts[key] == count
    assert sum(counts.values()) == 19  # type: ignore[arg-type]


def test_record_level_returns_granted_fields_only_and_limits(engine: Engine) -> None:
    p = plan(
        aggregation=None, aggregate_only=False, fields=("incident_id", "kecamatan"), max_rows=4
    )
    rows = run(engine, p)
    assert len(rows) == 4
    assert all(set(r) == {"incident_id", "kecamatan"} for r in rows)


def test_record_level_refused_when_aggregate_only(engine: Engine) -> None:
    with pytest.raises(InvalidQuery, match="aggregate-only"):
        plan(aggregation=None, aggregate_only=True)
    adapter = SqlAdapter("a", engine)
    p = plan(aggregation=None, aggregate_only=False)
    object.__setattr__(p, "aggregate_only", True)  # a plan that bypassed its own validation
    with pytest.raises(PlanRefused, match="aggregate-only"):
        adapter.run(p)


def test_exists_answers_hit_or_no_hit_only(engine: Engine) -> None:
    agg = Aggregation((), Measure.EXISTS)
    hit = run(engine, plan(aggregation=agg, filters=(Filter("kecamatan", Op.EQ, ("Tebet",)),)))
    miss = run(engine, plan(aggregation=agg, filters=(Filter("kecamatan", Op.EQ, ("Nowhere",)),)))
    assert hit == [{"exists": True}]
    assert miss == [{"exists": False}]


def test_unknown_field_is_refused(engine: Engine) -> None:
    with pytest.raises(PlanRefused, match="no field 'nik'"):
        SqlAdapter("a", engine).run(plan(fields=("nik",), aggregation=None, aggregate_only=False))


def test_unknown_dataset_is_refused(engine: Engine) -> None:
    with pytest.raises(PlanRefused, match="does not serve dataset 'seed_truth'"):
        SqlAdapter("a", engine).run(plan(dataset="seed_truth"))


def test_aggregate_only_counts_need_noise(engine: Engine) -> None:
    """Regression (issue 11): exact counts with k applied to true values can be differenced,
    so the adapter refuses an aggregate-only count plan that carries no epsilon."""
    with pytest.raises(PlanRefused, match="must carry its privacy mechanism"):
        SqlAdapter("a", engine).run(plan(aggregate_only=True, purpose="traffic_planning"))
