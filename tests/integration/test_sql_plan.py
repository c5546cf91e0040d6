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
from gateway.protocol.limits import InvalidQuery
from gateway.protocol.model import (
    Aggregation,
    Bucket,
    CaseBinding,
    Filter,
    GroupBy,
    Measure,
    Op,
    QueryPlan,
)
from gateway.protocol.spans import span_labels

T0 = dt.datetime(2026, 10, 5, 0, 0)  # a Monday
CASE = "LP/B/7/X/2026/SPKT/POLDA METRO JAYA"
OTHER_CASE = "LP/B/8/X/2026/SPKT/POLDA METRO JAYA"
BOUND = CaseBinding(CASE, (CASE,))


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
                    # incidents 1-3 are filed under CASE, 4 under OTHER_CASE
                    "case_id": 1 if n <= 3 else 2 if n == 4 else None,
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
    t = Base.metadata.tables
    with eng.begin() as conn:
        conn.execute(
            insert(t["cases"]),
            [
                {"case_id": 1, "case_number": CASE, "opened_at": T0, "status": "open", "unit": "U"},
                {
                    "case_id": 2,
                    "case_number": OTHER_CASE,
                    "opened_at": T0,
                    "status": "open",
                    "unit": "U",
                },
            ],
        )
        conn.execute(insert(t["incidents"]), _incidents())
        conn.execute(
            insert(t["persons"]),
            [
                {
                    "person_id": i,
                    "nik": f"317401000000000{i}",
                    "name": f"P{i}",
                    "birth_date": dt.date(1990, 1, i),
                    "sex": "L",
                    "address": "A",
                    "kecamatan": "Tebet",
                    "kota": "Jakarta Selatan",
                }
                for i in range(1, 5)
            ],
        )
        # persons 1 and 2 are in CASE's incidents, 3 only in OTHER_CASE's, 4 in none
        conn.execute(
            insert(t["incident_persons"]),
            [
                {"incident_id": 1, "person_id": 1, "role": "victim"},
                {"incident_id": 2, "person_id": 2, "role": "suspect"},
                {"incident_id": 4, "person_id": 3, "role": "victim"},
            ],
        )
        conn.execute(
            insert(t["vehicles"]),
            [
                {
                    "vehicle_id": v,
                    "plate": f"B {v} XX",
                    "owner_person_id": owner,
                    "make": "Honda",
                    "model": "Beat",
                    "colour": "Hitam",
                    "stolen": False,
                    "stolen_reported_at": None,
                }
                for v, owner in ((1, 1), (2, 3), (3, 4))
            ],
        )
    yield eng
    eng.dispose()


def run(engine: Engine, p: QueryPlan) -> list[dict[str, object]]:
    from gateway.protocol.values import rows_from_result

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
        aggregation=None,
        aggregate_only=False,
        fields=("incident_id", "kecamatan"),
        max_rows=2,
        case_binding=BOUND,
    )
    rows = run(engine, p)
    assert len(rows) == 2
    assert all(set(r) == {"incident_id", "kecamatan"} for r in rows)


def test_record_level_refused_when_aggregate_only(engine: Engine) -> None:
    with pytest.raises(InvalidQuery, match="aggregate-only"):
        plan(aggregation=None, aggregate_only=True)
    adapter = SqlAdapter("a", engine)
    p = plan(aggregation=None, aggregate_only=False, case_binding=BOUND)
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


# --- case binding (ADR 0013) ----------------------------------------------------------------


def record(dataset: str, fields: tuple[str, ...], **changes: object) -> QueryPlan:
    base: dict[str, object] = {
        "dataset": dataset,
        "fields": fields,
        "aggregation": None,
        "aggregate_only": False,
        "purpose": "criminal_investigation",
        "case_binding": BOUND,
    }
    return plan(**(base | changes))


@pytest.mark.parametrize(
    ("dataset", "key", "expected"),
    [
        ("incidents", "incident_id", [1, 2, 3]),
        ("incident_persons", "incident_id", [1, 2]),
        ("persons", "person_id", [1, 2]),
        ("vehicles", "vehicle_id", [1]),
        ("cases", "case_number", [CASE]),
    ],
)
def test_case_binding_keeps_only_the_cases_rows(
    engine: Engine, dataset: str, key: str, expected: list[object]
) -> None:
    assert [r[key] for r in run(engine, record(dataset, (key,)))] == expected


def test_case_binding_holds_whatever_the_callers_filters_say(engine: Engine) -> None:
    # Filters can narrow within the case, never widen it: the other case's incident and
    # person stay out, whatever window or identifier is asked for.
    wide = Filter("occurred_at", Op.GE, (dt.datetime(2000, 1, 1, tzinfo=dt.UTC),))
    assert [
        r["incident_id"]
        for r in run(engine, record("incidents", ("incident_id",), filters=(wide,)))
    ] == [1, 2, 3]
    other = Filter("incident_id", Op.EQ, (4,))
    assert run(engine, record("incidents", ("incident_id",), filters=(other,))) == []
    nik = Filter("nik", Op.EQ, ("3174010000000003",))
    assert run(engine, record("persons", ("person_id",), filters=(nik,))) == []
    born = Filter("birth_date", Op.GE, (dt.datetime(1900, 1, 1, tzinfo=dt.UTC),))
    assert [
        r["person_id"] for r in run(engine, record("persons", ("person_id",), filters=(born,)))
    ] == [1, 2]


def test_case_binding_applies_to_aggregates_too(engine: Engine) -> None:
    p = record("incidents", (), aggregation=Aggregation((GroupBy("kecamatan"),)))
    assert run(engine, p) == [{"kecamatan": "Tebet", "count": 3}]


def test_case_numbers_are_bound_parameters(engine: Engine) -> None:
    adapter = SqlAdapter("a", engine)
    stmt = compile_plan(
        record("persons", ("person_id",)),
        adapter.tables["persons"],
        adapter.datasets["persons"],
        engine.dialect.name,
    )
    assert CASE not in str(stmt.select)


def test_record_level_plan_without_case_binding_is_refused(engine: Engine) -> None:
    for dataset, field in (("incidents", "incident_id"), ("persons", "nik"), ("vehicles", "plate")):
        with pytest.raises(PlanRefused, match="case binding"):
            run(engine, record(dataset, (field,), case_binding=None))
    # Public geography needs none.
    assert run(engine, record("areas", ("kecamatan",), case_binding=None)) == []


def test_unknown_case_number_returns_nothing(engine: Engine) -> None:
    unknown = CaseBinding(CASE, ("LP/B/9/X/2026/SPKT/POLDA METRO JAYA",))
    assert run(engine, record("persons", ("person_id",), case_binding=unknown)) == []


def test_case_binding_survives_the_signed_plan_bytes() -> None:
    p = record("persons", ("person_id",))
    assert QueryPlan.from_proto(p.to_proto()) == p
    assert QueryPlan.from_proto(plan().to_proto()).case_binding is None


def test_a_held_release_answers_only_the_plan_it_was_made_for(
    engine: Engine, tmp_path: Path
) -> None:
    """The adapter recomputes the release id from the plan it is given: the same question
    gets the held bytes, and a plan whose content differs under that id is refused, so no
    fault upstream can hand one question's held answer to another."""
    import dataclasses

    from adapters.held import HeldReleases
    from gateway.protocol.release import hold_key, release_id

    now = dt.datetime(2029, 1, 1, tzinfo=dt.UTC)
    until = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    held = HeldReleases(tmp_path / "held.db")
    adapter = SqlAdapter("a", engine, held=held)
    asked = plan(
        aggregate_only=True,
        purpose="traffic_planning",
        epsilon=1.0,
        release_fresh=True,
        release_until=until,
    )
    asked = dataclasses.replace(asked, release_id=release_id(asked, hold_key(until)))
    first, _ = adapter.answer(asked, now)
    again, _ = adapter.answer(dataclasses.replace(asked, plan_id="q", request_id="q"), now)
    assert again == first
    other = dataclasses.replace(asked, filters=(Filter("kecamatan", Op.IN, ("Tebet",)),))
    with pytest.raises(PlanRefused, match="does not match"):
        adapter.answer(other, now)
    with pytest.raises(PlanRefused, match="must name its release"):
        adapter.answer(dataclasses.replace(asked, release_id=b""), now)
    held.close()


def _week_start_utc(y: int, m: int, d: int) -> dt.datetime:
    """Monday 00:00 WIB of a local date, in UTC."""
    return dt.datetime(y, m, d, tzinfo=dt.timezone(dt.timedelta(hours=7))).astimezone(dt.UTC)


@pytest.mark.parametrize(
    "mondays",
    [
        [(2026, 9, 28), (2026, 10, 5), (2026, 10, 12), (2026, 10, 19)],
        [(2026, 9, 28), (2026, 10, 12), (2026, 10, 19)],
        [(2026, 10, 5), (2026, 10, 19)],
    ],
)
@pytest.mark.parametrize("spans_last", [True, False])
def test_spans_count_the_weeks_they_hold_on_both_databases(
    engine: Engine, mondays: list[tuple[int, int, int]], spans_last: bool
) -> None:
    """ADR 0032: a count per span is the sum of the counts per week in it, on SQLite and on
    PostgreSQL, whether the spans are counted side by side (the last dimension) or grouped
    by a CASE (whose GROUP BY PostgreSQL must see once, parameters and all)."""
    boundaries = tuple(_week_start_utc(*m) for m in mondays)
    window = (
        Filter("occurred_at", Op.GE, (boundaries[0],)),
        Filter("occurred_at", Op.LT, (boundaries[-1],)),
    )
    spans = GroupBy("occurred_at", Bucket.SPANS, boundaries=boundaries)
    weekly = run(
        engine,
        plan(
            filters=window,
            aggregation=Aggregation((GroupBy("kecamatan"), GroupBy("occurred_at", Bucket.WEEK))),
        ),
    )
    spanned = run(
        engine,
        plan(
            filters=window,
            aggregation=Aggregation(
                (GroupBy("kecamatan"), spans) if spans_last else (spans, GroupBy("kecamatan"))
            ),
        ),
    )
    expected: dict[tuple[object, str], int] = {}
    for r in weekly:
        week = dt.date.fromisoformat(str(r["occurred_at_week"]))
        i = max(j for j, m in enumerate(mondays[:-1]) if dt.date(*m) <= week)
        label = span_labels(boundaries)[i]
        key = (r["kecamatan"], label)
        expected[key] = expected.get(key, 0) + int(r["count"])  # type: ignore[call-overload]
    assert {(r["kecamatan"], r["occurred_at_spans"]): r["count"] for r in spanned} == expected
    assert sum(expected.values()) > 0
    # Ordered by the dimensions, as GROUP BY ... ORDER BY gives them.
    keys = [tuple(r[c] for c in r if c != "count") for r in spanned]
    assert keys == sorted(keys)
