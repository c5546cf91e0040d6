"""Calendar buckets counted one SELECT each (adapters/sql.py: calendar_counts) give exactly the
rows, labels and order of grouping by the bucket's local-date expression, on SQLite and on
PostgreSQL, incidents at a bucket's first instant in WIB and a second before it included."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, insert

import adapters.sql
from adapters.schema import Base, create_schema
from adapters.server import SqlAdapter
from adapters.sql import calendar_buckets, compile_plan, describe
from gateway.protocol.model import (
    Aggregation,
    Bucket,
    CaseBinding,
    Filter,
    GroupBy,
    Op,
    QueryPlan,
)
from gateway.protocol.values import rows_from_result

WIB = dt.timezone(dt.timedelta(hours=7))
SECOND = dt.timedelta(seconds=1)
# Instants that fall either side of a local boundary: a month's, a Monday's and a day's first
# instant in WIB, a second and a millisecond before each. (SQLite's date functions read a time
# to the millisecond: grouped by the local date, 23:59:59.999999 falls on the next day there,
# not on PostgreSQL nor in the per-bucket SELECTs, which compare the stored time itself.)
EDGES = (
    dt.datetime(2026, 10, 1, tzinfo=WIB),
    dt.datetime(2026, 9, 1, tzinfo=WIB),
    dt.datetime(2026, 9, 28, tzinfo=WIB),
    dt.datetime(2026, 9, 10, tzinfo=WIB),
    dt.datetime(2026, 6, 1, tzinfo=WIB),
)
KECAMATAN = ("Tebet", "Menteng", "Cilandak")
CASE = "LP/B/7/X/2026/SPKT/POLDA METRO JAYA"
STATUSES = ("reported", "under_investigation", "closed")


def _instants() -> list[dt.datetime]:
    spread = [
        dt.datetime(2026, 5, 20, 3, 17, tzinfo=WIB) + i * dt.timedelta(hours=7, minutes=13)
        for i in range(560)
    ]
    edges = [e - d for e in EDGES for d in (dt.timedelta(0), SECOND, dt.timedelta(milliseconds=1))]
    return spread + edges


def _row(n: int, when: dt.datetime) -> dict[str, object]:
    utc = when.astimezone(dt.UTC).replace(tzinfo=None)
    return {
        "incident_id": n,
        "occurred_at": utc,
        "reported_at": utc + dt.timedelta(hours=1),
        "lat": -6.2,
        "lon": 106.8,
        "kelurahan": "X",
        "kecamatan": KECAMATAN[n % 3],
        "kota": "Jakarta Selatan",
        "category": "theft" if n % 2 else "robbery",
        "modus_operandi": "pickpocketing",
        "status": STATUSES[(n // 3) % 3],
        "source": "citizen_report",
        # every fifth incident is filed under CASE
        "case_id": 1 if n % 5 == 0 else None,
    }


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
        conn.execute(
            insert(Base.metadata.tables["cases"]),
            [
                {
                    "case_id": 1,
                    "case_number": CASE,
                    "opened_at": dt.datetime(2026, 1, 1),
                    "status": "open",
                    "unit": "U",
                }
            ],
        )
        conn.execute(
            insert(Base.metadata.tables["incidents"]),
            [_row(n, when) for n, when in enumerate(_instants(), start=1)],
        )
    yield eng
    eng.dispose()


def _plan(
    filters: tuple[Filter, ...], *group_by: GroupBy, binding: CaseBinding | None = None
) -> QueryPlan:
    return QueryPlan(
        plan_id="p",
        request_id="r",
        adapter_id="a",
        dataset="incidents",
        fields=(),
        filters=filters,
        aggregation=Aggregation(group_by),
        aggregate_only=False,
        max_rows=100_000,
        min_cell_count=1,
        purpose="criminal_investigation",
        expires_at=dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
        policy_revision="rev",
        case_binding=binding,
    )


def _window(
    lo: dt.datetime, hi: dt.datetime, ops: tuple[Op, Op] = (Op.GE, Op.LT)
) -> tuple[Filter, ...]:
    return (Filter("occurred_at", ops[0], (lo,)), Filter("occurred_at", ops[1], (hi,)))


def _month(g: Bucket = Bucket.MONTH) -> GroupBy:
    return GroupBy("occurred_at", g)


CASES = {
    # The security index's shape: whole local months, kecamatan and status first.
    "months": _plan(
        _window(dt.datetime(2026, 6, 1, tzinfo=WIB), dt.datetime(2026, 11, 1, tzinfo=WIB)),
        GroupBy("kecamatan"),
        GroupBy("status"),
        _month(),
    ),
    # A window that starts mid-month and ends at a month's first instant: no October bucket.
    "months_partial": _plan(
        _window(dt.datetime(2026, 6, 15, 10, tzinfo=WIB), dt.datetime(2026, 10, 1, tzinfo=WIB)),
        GroupBy("kecamatan"),
        _month(),
    ),
    # gt / le bounds, at a boundary instant each.
    "months_gt_le": _plan(
        _window(
            dt.datetime(2026, 9, 1, tzinfo=WIB),
            dt.datetime(2026, 10, 1, tzinfo=WIB),
            (Op.GT, Op.LE),
        ),
        GroupBy("status"),
        _month(),
    ),
    "months_only": _plan(
        _window(dt.datetime(2026, 4, 1, tzinfo=WIB), dt.datetime(2026, 11, 1, tzinfo=WIB)),
        _month(),
    ),
    "weeks": _plan(
        (
            *_window(dt.datetime(2026, 8, 5, 23, tzinfo=WIB), dt.datetime(2026, 10, 6, tzinfo=WIB)),
            Filter("kecamatan", Op.IN, ("Tebet", "Cilandak")),
        ),
        GroupBy("kecamatan"),
        _month(Bucket.WEEK),
    ),
    # Early warning's shape: local days, kecamatan first.
    "days": _plan(
        _window(dt.datetime(2026, 8, 20, tzinfo=WIB), dt.datetime(2026, 10, 2, tzinfo=WIB)),
        GroupBy("kecamatan"),
        _month(Bucket.DAY),
    ),
    # A case-bound aggregate: every SELECT keeps the case's rows only.
    "case_bound": _plan(
        _window(dt.datetime(2026, 6, 1, tzinfo=WIB), dt.datetime(2026, 11, 1, tzinfo=WIB)),
        GroupBy("kecamatan"),
        _month(),
        binding=CaseBinding(CASE, (CASE,)),
    ),
    "one_day": _plan(
        _window(dt.datetime(2026, 9, 10, tzinfo=WIB), dt.datetime(2026, 9, 11, tzinfo=WIB)),
        GroupBy("category"),
        _month(Bucket.DAY),
    ),
}


def _rows(engine: Engine, plan: QueryPlan) -> list[dict[str, object]]:
    result, _ = SqlAdapter("a", engine).run(plan)
    return rows_from_result(result)  # type: ignore[return-value]


def _sql(plan: QueryPlan, dialect: str) -> str:
    table = Base.metadata.tables["incidents"]
    return str(compile_plan(plan, table, describe([table])[0], dialect).select)


@pytest.mark.parametrize("name", sorted(CASES))
def test_calendar_selects_give_the_rows_of_grouping_by_the_local_date(
    engine: Engine, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = CASES[name]
    assert "AS buckets" in _sql(plan, engine.dialect.name)
    calendar = _rows(engine, plan)
    monkeypatch.setattr(adapters.sql, "MAX_CALENDAR_SELECTS", 0)
    assert "AS buckets" not in _sql(plan, engine.dialect.name)
    grouped = _rows(engine, plan)
    assert calendar == grouped  # values, labels and order
    assert sum(int(r["count"]) for r in calendar) > 0  # type: ignore[call-overload]


def test_boundary_instants_fall_in_the_bucket_that_starts_there(engine: Engine) -> None:
    """An incident at 00:00:00 WIB on 1 October is October's; one a second before, September's."""
    lo, hi = dt.datetime(2026, 9, 30, tzinfo=WIB), dt.datetime(2026, 10, 2, tzinfo=WIB)
    window = _window(lo, hi)
    days = {
        str(r["occurred_at_day"]): int(str(r["count"]))
        for r in _rows(engine, _plan(window, _month(Bucket.DAY)))
    }
    months = {
        str(r["occurred_at_month"]): int(str(r["count"]))
        for r in _rows(engine, _plan(window, _month()))
    }
    spread = [when.astimezone(WIB).date().isoformat() for when in _instants() if lo <= when < hi]
    assert days == {d: spread.count(d) for d in sorted(set(spread))}
    assert months == {
        m: sum(1 for d in spread if d.startswith(m)) for m in sorted({d[:7] for d in spread})
    }
    assert days["2026-10-01"] >= 1
    assert days["2026-09-30"] >= 2


def test_calendar_buckets_start_at_local_midnight_and_are_capped() -> None:
    g = _month()
    window = _window(dt.datetime(2026, 6, 15, 10, tzinfo=WIB), dt.datetime(2026, 10, 1, tzinfo=WIB))
    buckets = calendar_buckets(g, window)
    assert buckets == [
        ("2026-06", dt.datetime(2026, 5, 31, 17)),
        ("2026-07", dt.datetime(2026, 6, 30, 17)),
        ("2026-08", dt.datetime(2026, 7, 31, 17)),
        ("2026-09", dt.datetime(2026, 8, 31, 17)),
    ]
    assert calendar_buckets(g, window, limit=3) is None
    assert calendar_buckets(g, window[:1]) is None  # no upper bound: not enumerable
    days = _window(dt.datetime(2026, 1, 1, tzinfo=WIB), dt.datetime(2026, 6, 1, tzinfo=WIB))
    assert "AS buckets" not in _sql(_plan(days, _month(Bucket.DAY)), "sqlite")  # 151 days


def test_a_case_bound_count_holds_the_cases_incidents_only(engine: Engine) -> None:
    lo, hi = dt.datetime(2026, 6, 1, tzinfo=WIB), dt.datetime(2026, 11, 1, tzinfo=WIB)
    rows = _rows(engine, CASES["case_bound"])
    filed = [n for n, when in enumerate(_instants(), start=1) if n % 5 == 0 and lo <= when < hi]
    assert sum(int(str(r["count"])) for r in rows) == len(filed)
