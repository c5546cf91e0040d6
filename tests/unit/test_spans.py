"""Spans (ADR 0032): whole local weeks between explicit boundaries, checked fail-closed where
queries and plans are built, read back into tallies, and equivalent for the risk model to the
weekly counts they sum."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from adapters.privacy import public_domain
from gateway.analytics import operations as ops
from gateway.analytics.heatmap import h3_cell
from gateway.analytics.risk import HISTORY_DAYS, NEAR_DAYS, RECENT_DAYS, risk_scores
from gateway.analytics.tally import REPORTED, InvalidTally, Tally
from gateway.protocol.geography import KECAMATAN
from gateway.protocol.limits import InvalidQuery
from gateway.protocol.model import (
    Aggregation,
    Bucket,
    Filter,
    GroupBy,
    Op,
    Query,
    QueryPlan,
)
from gateway.protocol.planning import policy_input
from gateway.protocol.spans import MAX_BOUNDARIES, parse_label, span_label, span_labels
from gerbang.v1 import common_pb2

WIB = dt.timezone(dt.timedelta(hours=7))
END = dt.datetime(2026, 11, 30, tzinfo=WIB)  # a Monday 00:00 WIB
WEEK = dt.timedelta(weeks=1)
BOUNDARIES = (END - 52 * WEEK, END - 4 * WEEK, END - WEEK, END)


def spans(*boundaries: dt.datetime) -> GroupBy:
    return GroupBy("occurred_at", Bucket.SPANS, boundaries=boundaries)


def window(lo: dt.datetime, hi: dt.datetime) -> tuple[Filter, ...]:
    return (Filter("occurred_at", Op.GE, (lo,)), Filter("occurred_at", Op.LT, (hi,)))


def query(group: GroupBy, filters: tuple[Filter, ...]) -> Query:
    return Query(
        "incidents",
        (),
        filters,
        Aggregation((GroupBy("kecamatan"), group)),
        "patrol_planning",
        "basis",
        operation="risk_scores",
    )


def plan(group: GroupBy, filters: tuple[Filter, ...]) -> QueryPlan:
    return QueryPlan(
        "p",
        "r",
        "a",
        "incidents",
        (),
        filters,
        Aggregation((GroupBy("kecamatan"), group)),
        True,
        1000,
        5,
        "patrol_planning",
        dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
        "rev",
        epsilon=1.0,
    )


# --- the boundaries ------------------------------------------------------------------------


def test_spans_of_week_starts_are_accepted() -> None:
    g = spans(*BOUNDARIES)
    assert g.boundaries == BOUNDARIES
    query(g, window(BOUNDARIES[0], BOUNDARIES[-1]))


@pytest.mark.parametrize(
    ("boundaries", "message"),
    [
        ((), "2 to 64 boundaries"),
        ((END,), "2 to 64 boundaries"),
        (tuple(END + i * WEEK for i in range(MAX_BOUNDARIES + 1)), "2 to 64 boundaries"),
        ((END, END - WEEK), "strictly increasing"),  # unsorted
        ((END - WEEK, END, END), "strictly increasing"),  # a duplicate: an empty span
        ((END, END + dt.timedelta(days=1)), "not a local week start"),  # a one-day span
        ((END + dt.timedelta(days=1), END + 2 * WEEK), "not a local week start"),  # a Tuesday
        ((END + dt.timedelta(hours=1), END + WEEK), "not a local week start"),  # 01:00 WIB
        ((END - WEEK, END + dt.timedelta(seconds=1)), "not a local week start"),
        ((END - WEEK, END + dt.timedelta(microseconds=1)), "not a local week start"),
        # Monday 00:00 UTC is Monday 07:00 WIB
        ((dt.datetime(2026, 11, 30, tzinfo=dt.UTC), END + WEEK), "not a local week start"),
    ],
)
def test_malformed_boundaries_are_refused(
    boundaries: tuple[dt.datetime, ...], message: str
) -> None:
    with pytest.raises(InvalidQuery, match=message):
        spans(*boundaries)


def test_boundaries_belong_to_spans_only() -> None:
    with pytest.raises(InvalidQuery, match="takes no boundaries"):
        GroupBy("occurred_at", Bucket.WEEK, boundaries=BOUNDARIES)
    with pytest.raises(InvalidQuery, match="no H3 resolution"):
        GroupBy("occurred_at", Bucket.SPANS, 8, BOUNDARIES)


@pytest.mark.parametrize(
    "filters",
    [
        # the spans inside the window, past it, before it
        window(BOUNDARIES[0] - WEEK, BOUNDARIES[-1]),
        window(BOUNDARIES[0], BOUNDARIES[-1] + WEEK),
        window(BOUNDARIES[0] + WEEK, BOUNDARIES[-1]),
        # no window, half a window
        (),
        window(BOUNDARIES[0], BOUNDARIES[-1])[:1],
        # a second, tighter bound on the field
        (*window(BOUNDARIES[0], BOUNDARIES[-1]), Filter("occurred_at", Op.GE, (BOUNDARIES[1],))),
        # gt and le move the window by an instant
        (
            Filter("occurred_at", Op.GT, (BOUNDARIES[0],)),
            Filter("occurred_at", Op.LT, (BOUNDARIES[-1],)),
        ),
        (
            Filter("occurred_at", Op.GE, (BOUNDARIES[0],)),
            Filter("occurred_at", Op.LE, (BOUNDARIES[-1],)),
        ),
    ],
)
def test_spans_must_be_exactly_the_window(filters: tuple[Filter, ...]) -> None:
    g = spans(*BOUNDARIES)
    with pytest.raises(InvalidQuery, match="spans group-by"):
        query(g, filters)
    with pytest.raises(InvalidQuery, match="spans group-by"):
        plan(g, filters)


def test_a_looser_bound_beside_the_window_is_accepted() -> None:
    # A policy row filter may bound the field more loosely; the window is the tightest bound.
    filters = (
        *window(BOUNDARIES[0], BOUNDARIES[-1]),
        Filter("occurred_at", Op.GE, (BOUNDARIES[0] - 10 * WEEK,)),
    )
    plan(spans(*BOUNDARIES), filters)


def test_a_plan_on_the_wire_is_checked_again() -> None:
    """An adapter builds the plan from its bytes: spans that a signer got wrong are refused."""
    good = plan(spans(*BOUNDARIES), window(BOUNDARIES[0], BOUNDARIES[-1])).to_proto()
    assert QueryPlan.from_proto(good).aggregation == Aggregation(
        (GroupBy("kecamatan"), spans(*BOUNDARIES))
    )
    moved = type(good)()
    moved.CopyFrom(good)
    moved.aggregation.group_by[1].boundaries[1].seconds += 86400
    with pytest.raises(InvalidQuery, match="not a local week start"):
        QueryPlan.from_proto(moved)
    widened = type(good)()
    widened.CopyFrom(good)
    widened.aggregation.group_by[1].boundaries[0].seconds -= 7 * 86400
    with pytest.raises(InvalidQuery, match="the window"):
        QueryPlan.from_proto(widened)
    stray = common_pb2.GroupBy(field="occurred_at", bucket=common_pb2.BUCKET_WEEK)
    stray.boundaries.add().FromDatetime(END)
    with pytest.raises(InvalidQuery, match="takes no boundaries"):
        GroupBy.from_proto(stray)
    many = common_pb2.GroupBy(field="occurred_at", bucket=common_pb2.BUCKET_SPANS)
    for i in range(10_000):
        many.boundaries.add().FromDatetime(END + i * WEEK)
    with pytest.raises(InvalidQuery, match="more than 64 boundaries"):
        GroupBy.from_proto(many)


# --- encodings -----------------------------------------------------------------------------


def test_other_group_bys_keep_their_document() -> None:
    """Signed requests, audit entries and release ids write a group-by as before."""
    assert GroupBy("occurred_at", Bucket.WEEK).document() == ["occurred_at", "week", 0]
    assert GroupBy("location", Bucket.H3, 8).document() == ["location", "h3", 8]
    assert spans(*BOUNDARIES[-2:]).document() == [
        "occurred_at",
        "spans",
        0,
        ["2026-11-22T17:00:00.000000Z", "2026-11-29T17:00:00.000000Z"],
    ]
    proto = GroupBy("occurred_at", Bucket.WEEK).to_proto()
    assert not proto.boundaries
    assert (
        proto.SerializeToString()
        == common_pb2.GroupBy(
            field="occurred_at", bucket=common_pb2.BUCKET_WEEK
        ).SerializeToString()
    )


def test_the_policy_input_carries_the_boundaries_in_epoch_seconds() -> None:
    doc = policy_input("c", query(spans(*BOUNDARIES), window(BOUNDARIES[0], BOUNDARIES[-1])), END)
    group = doc["request"]["aggregation"]["group_by"][1]
    assert group == {
        "field": "occurred_at",
        "bucket": "spans",
        "boundaries": [int(b.timestamp()) for b in BOUNDARIES],
    }
    week = policy_input(
        "c", query(GroupBy("occurred_at", Bucket.WEEK), window(*BOUNDARIES[::3])), END
    )
    assert week["request"]["aggregation"]["group_by"][1] == {
        "field": "occurred_at",
        "bucket": "week",
    }


def test_span_values_name_start_and_weeks() -> None:
    assert span_labels(BOUNDARIES) == ["2025-12-01/P48W", "2026-11-02/P3W", "2026-11-23/P1W"]
    assert span_label(BOUNDARIES[0], BOUNDARIES[-1]) == "2025-12-01/P52W"
    assert parse_label("2025-12-01/P48W") == (dt.date(2025, 12, 1), 336)
    for bad in ("2025-12-02/P1W", "2025-12-01/P0W", "2025-12-01/2026-11-02", "2025-13-01/P1W"):
        with pytest.raises(InvalidQuery):
            parse_label(bad)


def test_the_public_domain_is_the_spans() -> None:
    filters = window(BOUNDARIES[0], BOUNDARIES[-1])
    domain = public_domain(
        (GroupBy("kecamatan"), spans(*BOUNDARIES)), filters, {"Tebet": "Jakarta Selatan"}
    )
    assert domain == [("Tebet", label) for label in span_labels(BOUNDARIES)]
    weekly = public_domain(
        (GroupBy("kecamatan"), GroupBy("occurred_at", Bucket.WEEK)),
        filters,
        {"Tebet": "Jakarta Selatan"},
    )
    assert len(weekly) == 52


# --- the analytics -------------------------------------------------------------------------


def test_risk_and_patrol_queries_ask_the_risk_models_windows() -> None:
    assert HISTORY_DAYS + RECENT_DAYS == 7 * ops.HISTORY_WEEKS
    assert (HISTORY_DAYS % 7, RECENT_DAYS % 7, NEAR_DAYS % 7) == (0, 0, 0)
    scope = ops.Scope("patrol_planning", "basis", end=END + dt.timedelta(days=3))
    for q in (ops.risk_query(scope, "kecamatan"), ops.patrol_query(scope)):
        assert q.aggregation is not None
        group = q.aggregation.group_by[-1]
        assert group.bucket is Bucket.SPANS
        assert group.boundaries == tuple(b.astimezone(dt.UTC) for b in BOUNDARIES)


def test_tallies_read_spans_and_refuse_a_bad_one() -> None:
    rows = [{"kecamatan": "Tebet", "occurred_at_spans": "2025-12-01/P48W", "count": 9}]
    (t,) = ops.tallies(["kecamatan", "occurred_at_spans", "count"], rows, REPORTED)
    assert (t.when, t.days, t.end) == (dt.date(2025, 12, 1), 336, dt.date(2026, 11, 2))
    rows[0]["occurred_at_spans"] = "2025-12-01/P0W"
    with pytest.raises(InvalidTally, match="occurred_at_spans"):
        ops.tallies(["kecamatan", "occurred_at_spans", "count"], rows, REPORTED)


def _weekly(units: list[str], rng: random.Random, *, cells: bool) -> list[Tally]:
    first = END.date() - dt.timedelta(weeks=52)
    out = []
    for u in units:
        rate = rng.randint(0, 30)
        for w in range(52):
            n = rng.randint(0, 2 * rate)
            when = first + dt.timedelta(weeks=w)
            key = {"cell": u} if cells else {"area": u}
            out.append(Tally(n, REPORTED, when=when, days=7, **key))  # type: ignore[arg-type]
    return out


def _as_spans(weekly: list[Tally], *, cells: bool) -> list[Tally]:
    """The same counts summed into the three spans, through `tallies` as an answer's rows."""
    labels = span_labels(BOUNDARIES)
    starts = [parse_label(label)[0] for label in labels]
    sums: dict[tuple[str, str], int] = {}
    for t in weekly:
        label = labels[max(i for i, s in enumerate(starts) if s <= t.when)]  # type: ignore[operator]
        key = (str(t.cell if cells else t.area), label)
        sums[key] = sums.get(key, 0) + t.count
    column = "location_h3" if cells else "kecamatan"
    rows = [{column: u, "occurred_at_spans": label, "count": n} for (u, label), n in sums.items()]
    return ops.tallies([column, "occurred_at_spans", "count"], rows, REPORTED)


@pytest.mark.parametrize("seed", range(5))
def test_risk_on_spans_equals_risk_on_the_weeks_they_sum(seed: int) -> None:
    rng = random.Random(seed)
    areas = [k.name for k in KECAMATAN[:12]]
    weekly = _weekly(areas, rng, cells=False)
    assert ops.risk(_as_spans(weekly, cells=False), "kecamatan", END) == ops.risk(
        weekly, "kecamatan", END
    )
    cells = sorted({h3_cell(k.lat, k.lon, 8) for k in KECAMATAN[:12]})
    weekly = _weekly(cells, rng, cells=True)
    as_of = END.date()
    assert risk_scores(_as_spans(weekly, cells=True), unit="cell", as_of=as_of) == risk_scores(
        weekly, unit="cell", as_of=as_of
    )


def test_a_patrol_plan_on_spans_equals_the_plan_on_weeks() -> None:
    rng = random.Random(7)
    weekly = []
    first = END.date() - dt.timedelta(weeks=52)
    for k in KECAMATAN[:10]:
        cell = h3_cell(k.lat, k.lon, 8)
        for w in range(52):
            n = rng.randint(0, 12)
            weekly.append(
                Tally(
                    n, REPORTED, area=k.name, cell=cell, when=first + dt.timedelta(weeks=w), days=7
                )
            )
    labels = span_labels(BOUNDARIES)
    starts = [parse_label(label)[0] for label in labels]
    sums: dict[tuple[str, str, str], int] = {}
    for t in weekly:
        label = labels[max(i for i, s in enumerate(starts) if s <= t.when)]  # type: ignore[operator]
        key = (str(t.cell), str(t.area), label)
        sums[key] = sums.get(key, 0) + t.count
    columns = ["location_h3", "kecamatan", "occurred_at_spans", "count"]
    rows = [dict(zip(columns, (*key, n), strict=True)) for key, n in sums.items()]
    spanned = ops.tallies(columns, rows, REPORTED)
    assert len(spanned) == 3 * len(weekly) // 52
    by_spans = ops.patrol(spanned, END, units=6, cap_per_area=1)
    by_weeks = ops.patrol(weekly, END, units=6, cap_per_area=1)
    assert by_spans == by_weeks
    assert by_spans[0].assignments


def test_the_agents_query_api_takes_boundaries() -> None:
    from gateway.agent import asks

    times = [b.isoformat() for b in BOUNDARIES]
    body = {
        "dataset": "incidents",
        "filters": [
            {"field": "occurred_at", "op": "ge", "values": [{"time": times[0]}]},
            {"field": "occurred_at", "op": "lt", "values": [{"time": times[-1]}]},
        ],
        "aggregation": {
            "group_by": [{"field": "occurred_at", "bucket": "spans", "boundaries": times}]
        },
        "purpose": "patrol_planning",
        "legal_basis": "basis",
    }
    q = asks.query(body)
    assert q.aggregation is not None
    assert q.aggregation.group_by[0].boundaries == BOUNDARIES
    for bad in ("x", [times[0]] * 65, [times[0], "2026-11-30"], [times[0], times[2]]):
        body["aggregation"]["group_by"][0]["boundaries"] = bad  # type: ignore[index]
        with pytest.raises(InvalidQuery):
            asks.query(body)
