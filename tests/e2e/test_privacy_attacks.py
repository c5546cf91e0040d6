"""Attacks on aggregate minimisation (issue 11), run as callers with legitimately issued
certificates against real processes: two adapters over disjoint regional databases, the
gateway with the default policy engine, mTLS throughout, over QueryService and
AnalyticsService. Each attack must learn nothing beyond the registered privacy budget, and
every request it makes, allowed or refused, must be exactly one audit entry.

The mechanism (docs/adr/0009): every aggregate-only count is a differentially private
release over a public domain, charged to the data periods it reads and held for its hold
period; filters stay on the purpose's grid. Each test uses its own data months, so the
accounts one test spends do not decide another's outcome.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import grpc
import pytest

from adapters.schema import INCIDENT_CATEGORIES
from gateway.analytics import operations as ops
from gateway.client import GerbangClient, QueryRefused, QueryResult
from gateway.client.analytics import AnalyticsClient
from gateway.protocol.model import Aggregation, Bucket, Filter, GroupBy, Op, Query
from gateway.protocol.pki import init_pki
from tests.support.audit_log import log_size
from tools.city import seed_city
from tools.federation import AdapterSpec, LocalFederation

PURPOSES = json.loads(Path("policies/registry/purposes/data.json").read_text())
REGIONS = {
    "x1": ("Jakarta Pusat", "Jakarta Barat", "Jakarta Utara"),
    "x2": ("Jakarta Selatan", "Jakarta Timur"),
}
WIB = dt.timezone(dt.timedelta(hours=7))
T = TypeVar("T")


def month(year: int, m: int) -> dt.datetime:
    return dt.datetime(year, m, 1, tzinfo=WIB)


def window(lower: dt.datetime, upper: dt.datetime) -> tuple[Filter, Filter]:
    return Filter("occurred_at", Op.GE, (lower,)), Filter("occurred_at", Op.LT, (upper,))


def counts(purpose: str, *filters: Filter, group: tuple[GroupBy, ...] = ()) -> Query:
    return Query(
        "incidents",
        tuple(g.field for g in group if g.bucket is Bucket.NONE),
        filters,
        Aggregation(group or (GroupBy("kecamatan"),)),
        purpose,
        str(PURPOSES[purpose]["legal_basis"]),
    )


def per_caller(purpose: str) -> int:
    budget: float = PURPOSES[purpose]["privacy_budget"]["per_caller"]
    epsilon: float = PURPOSES[purpose]["epsilon"]
    return round(budget / epsilon)


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    work = tmp_path_factory.mktemp("attacks")
    init_pki(work / "pki", adapters=tuple(REGIONS))
    specs = []
    for i, (name, kota) in enumerate(REGIONS.items()):
        url = f"sqlite:///{work / f'{name}.db'}"
        seed_city(url, incidents=12_000, seed=41 + i, kota=kota, persons=200)
        specs.append(AdapterSpec(name, url))
    with LocalFederation(work, specs) as fed:
        yield fed


async def one_entry(federation: LocalFederation, call: Callable[[], Awaitable[T]]) -> T:
    """Run one request and check it became exactly one audit entry, allowed or refused."""
    before = log_size(federation)
    try:
        return await call()
    finally:
        assert log_size(federation) == before + 1


async def refusal(federation: LocalFederation, call: Callable[[], Awaitable[Any]]) -> QueryRefused:
    with pytest.raises(QueryRefused) as refused:
        await one_entry(federation, call)
    assert refused.value.audit_index is not None
    return refused.value


def connect(federation: LocalFederation, slug: str) -> GerbangClient:
    return GerbangClient.connect(federation.address, federation.pki, slug)


# --- time-window differencing -----------------------------------------------------------


async def test_a_window_moved_by_one_second_is_refused(federation: LocalFederation) -> None:
    sep, octo = month(2026, 9), month(2026, 10)
    async with connect(federation, "dishub-atcs") as c:
        await one_entry(federation, lambda: c.query(counts("traffic_planning", *window(sep, octo))))
        for upper in (octo + dt.timedelta(seconds=1), octo - dt.timedelta(seconds=1)):
            q = counts("traffic_planning", *window(sep, upper))
            refused = await refusal(federation, lambda q=q: c.query(q))  # type: ignore[misc]
            assert refused.code is grpc.StatusCode.PERMISSION_DENIED
            assert any("grid" in r and "'occurred_at'" in r for r in refused.reasons)
            # The reason names the field and the rule, not the value the caller typed.
            assert not any(upper.isoformat()[:16] in r for r in refused.reasons)


async def test_other_time_operators_are_refused(federation: LocalFederation) -> None:
    aug, sep = month(2026, 8), month(2026, 9)
    async with connect(federation, "dishub-atcs") as c:
        for op in (Op.GT, Op.LE, Op.EQ):
            q = counts("traffic_planning", *window(aug, sep), Filter("occurred_at", op, (aug,)))
            refused = await refusal(federation, lambda q=q: c.query(q))  # type: ignore[misc]
            assert any("only be bounded by 'ge' and 'lt'" in r for r in refused.reasons)


async def test_a_binary_search_on_the_hour_grid_ends_at_the_budget(
    federation: LocalFederation,
) -> None:
    """Every hour-aligned window is allowed, but each is a release charged to its month: the
    search gets at most the month's budget of noisy answers, then refusals."""
    jul, aug = month(2026, 7), month(2026, 8)
    allowed = 0
    refused: list[QueryRefused] = []
    async with connect(federation, "dishub-atcs") as c:
        lower, upper = jul, aug
        for _ in range(per_caller("traffic_planning") + 3):
            mid = lower + (upper - lower) / 2
            mid = mid.replace(minute=0, second=0, microsecond=0)
            q = counts(
                "traffic_planning", *window(jul, mid), Filter("kecamatan", Op.EQ, ("Tebet",))
            )
            try:
                await one_entry(federation, lambda q=q: c.query(q))  # type: ignore[misc]
            except QueryRefused as e:
                refused.append(e)
                continue
            allowed += 1
            upper = mid
    assert allowed == per_caller("traffic_planning")
    assert len(refused) == 3
    for no in refused:
        assert no.code is grpc.StatusCode.PERMISSION_DENIED
        assert any("privacy budget spent" in r for r in no.reasons)


async def test_an_unbounded_window_is_refused(federation: LocalFederation) -> None:
    async with connect(federation, "dishub-atcs") as c:
        q = counts("traffic_planning", Filter("occurred_at", Op.GE, (month(2026, 6),)))
        refused = await refusal(federation, lambda: c.query(q))
        assert any("only over a window" in r for r in refused.reasons)


# --- negation, coordinates, ranges --------------------------------------------------------


async def test_complements_are_refused(federation: LocalFederation) -> None:
    jun, jul = month(2026, 6), month(2026, 7)
    async with connect(federation, "dishub-atcs") as c:
        for f in (
            Filter("category", Op.NOT_IN, ("theft",)),
            Filter("category", Op.NE, ("theft",)),
            Filter("kecamatan", Op.NE, ("Tebet",)),
        ):
            q = counts("traffic_planning", *window(jun, jul), f)
            refused = await refusal(federation, lambda q=q: c.query(q))  # type: ignore[misc]
            assert any("complement" in r for r in refused.reasons)
            assert not any("theft" in r or "Tebet" in r for r in refused.reasons)


async def test_coordinate_boxes_are_refused(federation: LocalFederation) -> None:
    now = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    async with connect(federation, "bpbd-pusdalops") as c:
        q = counts(
            "disaster_response",
            *window(now - dt.timedelta(days=2), now),
            Filter("lat", Op.GE, (-6.3,)),
            Filter("lat", Op.LT, (-6.2,)),
        )
        refused = await refusal(federation, lambda: c.query(q))
        assert any("not on coordinate 'lat'" in r for r in refused.reasons)
        assert not any("-6.3" in r or "-6.2" in r for r in refused.reasons)


# --- what a response says beside the counts ---------------------------------------------------


def _domain_size(federation: LocalFederation) -> int:
    total = 0
    for name in REGIONS:
        with sqlite3.connect(federation.workdir / f"{name}.db") as conn:
            total += conn.execute("SELECT count(*) FROM areas").fetchone()[0]
    return total


async def test_suppressed_groups_say_nothing_beyond_the_public_domain(
    federation: LocalFederation,
) -> None:
    """A window full of incidents and a window with none at all (after the seeded year) are
    released over the same public domain: released plus withheld cells are its size in both,
    so a withheld count is a property of the noisy values, not a count of true ones."""
    size = _domain_size(federation)
    async with connect(federation, "dishub-atcs") as c:
        full = await c.query(counts("traffic_planning", *window(month(2026, 5), month(2026, 6))))
        empty = await c.query(counts("traffic_planning", *window(month(2027, 1), month(2027, 2))))
    for answer in (full, empty):
        assert len(answer.rows) + answer.suppressed_groups == size
    assert len(full.rows) > size // 2
    assert len(empty.rows) < size // 10  # noise alone rarely reaches k


async def test_a_tiny_dp_scope_is_released_whether_or_not_anything_happened(
    federation: LocalFederation,
) -> None:
    """The old refusal read the true count (1 to k-1 refused, 0 released). Now a heatmap of
    one kecamatan and one category is released for a category with no incident and for one
    with a few: the answer's status says nothing; its counts are noise plus the truth."""
    apr, may = month(2026, 4), month(2026, 5)
    lo, hi = int(apr.timestamp()), int(may.timestamp())
    with sqlite3.connect(federation.workdir / "x2.db") as conn:
        rows = conn.execute(
            "SELECT category, count(*) FROM incidents WHERE kecamatan = 'Tebet' AND "
            "source IN ('citizen_report', 'emergency_call') AND "
            "occurred_at >= datetime(?, 'unixepoch') AND occurred_at < datetime(?, 'unixepoch') "
            "GROUP BY category",
            (lo, hi),
        ).fetchall()
    present = {str(c): int(n) for c, n in rows}
    rare = sorted(c for c, n in present.items() if 0 < n < 10)
    absent = sorted(set(INCIDENT_CATEGORIES) - set(present))
    assert rare, present
    async with connect(federation, "citata-spatial") as c:
        analytics = AnalyticsClient(c)
        for categories in ((rare[0],), (absent[0],) if absent else (rare[-1],)):
            s = ops.Scope(
                "spatial_planning",
                str(PURPOSES["spatial_planning"]["legal_basis"]),
                start=apr,
                end=may,
                kecamatan=("Tebet",),
                categories=categories,
            )
            released = await one_entry(federation, lambda s=s: analytics.heatmap(s, 8))  # type: ignore[misc]
            assert released.result.privacy is not None
            assert released.result.privacy.mechanism == "discrete_laplace"


# --- repetition, collusion, resolutions ----------------------------------------------------


async def test_repeating_a_question_returns_the_held_release(federation: LocalFederation) -> None:
    """Averaging repeated noisy answers needs fresh noise; an identical question in the hold
    period gets the identical release, charged once."""
    q = counts("traffic_planning", *window(month(2026, 3), month(2026, 4)))
    async with connect(federation, "dishub-atcs") as c:
        first = await c.query(q)
        repeats = [await one_entry(federation, lambda: c.query(q)) for _ in range(4)]
    assert first.privacy is not None
    assert not first.privacy.held
    for again in repeats:
        assert again.rows == first.rows
        assert again.privacy is not None
        assert again.privacy.held
        assert again.privacy.epsilon_charged == 0.0
        assert again.privacy.remaining == first.privacy.remaining


def _index_scope(**kw: Any) -> ops.Scope:
    purpose = "security_indicators"
    return ops.Scope(purpose, str(PURPOSES[purpose]["legal_basis"]), end=month(2025, 12), **kw)


async def test_colluding_callers_gain_nothing_from_repeats_and_meet_the_purpose_cap(
    federation: LocalFederation,
) -> None:
    """DPRD and Kompolnas asking the identical security index get one held release (the
    second is charged nothing); distinct questions by several callers of the purpose stop
    at the purpose's cap, whoever asks."""
    budget = PURPOSES["security_indicators"]["privacy_budget"]
    epsilon = PURPOSES["security_indicators"]["epsilon"]
    cap = round(budget["per_purpose"] / epsilon)
    kota = ("Jakarta Pusat", "Jakarta Barat", "Jakarta Utara", "Jakarta Selatan", "Jakarta Timur")
    async with (
        connect(federation, "dprd-komisi-a") as dprd,
        connect(federation, "kompolnas-oversight") as kompolnas,
        connect(federation, "jsc-command-centre") as jsc,
    ):
        first = await AnalyticsClient(dprd).security_index(_index_scope(kota=(kota[0],)))
        same = await AnalyticsClient(kompolnas).security_index(_index_scope(kota=(kota[0],)))
        assert same.counts == first.counts
        assert same.result.privacy is not None
        assert same.result.privacy.held
        released = 1
        denied: list[QueryRefused] = []
        callers = [dprd, kompolnas, jsc]
        for i, k in enumerate([*kota[1:], None, None]):
            scope = (
                _index_scope(kota=(k,))
                if k
                else _index_scope(categories=(("theft",), ("fraud",))[i % 2])
            )
            client = AnalyticsClient(callers[i % 3])
            try:
                await one_entry(federation, lambda s=scope, a=client: a.security_index(s))  # type: ignore[misc]
                released += 1
            except QueryRefused as e:
                denied.append(e)
    assert released == cap
    assert denied
    assert all("the purpose (all callers)" in r for e in denied for r in e.reasons)


async def test_overlapping_h3_resolutions_are_each_a_release(federation: LocalFederation) -> None:
    """Differencing a month's heatmap at resolutions 8, 7 and 6 spends a release each: the
    month's account stops the third."""
    feb, mar = month(2026, 2), month(2026, 3)
    s = ops.Scope(
        "spatial_planning", str(PURPOSES["spatial_planning"]["legal_basis"]), start=feb, end=mar
    )
    async with connect(federation, "citata-spatial") as c:
        analytics = AnalyticsClient(c)
        outcomes = []
        for resolution in (8, 7, 6):
            try:
                await one_entry(federation, lambda r=resolution: analytics.heatmap(s, r))  # type: ignore[misc]
                outcomes.append("released")
            except QueryRefused as e:
                outcomes.append(
                    "refused" if any("privacy budget spent" in r for r in e.reasons) else str(e)
                )
    assert outcomes == ["released"] * per_caller("spatial_planning") + ["refused"] * (
        3 - per_caller("spatial_planning")
    )


async def test_a_boundary_moved_off_the_month_grid_is_refused(
    federation: LocalFederation,
) -> None:
    jan, feb = month(2026, 1), month(2026, 2)
    s = ops.Scope(
        "spatial_planning",
        str(PURPOSES["spatial_planning"]["legal_basis"]),
        start=jan + dt.timedelta(hours=1),
        end=feb,
    )
    async with connect(federation, "citata-spatial") as c:
        refused = await refusal(federation, lambda: AnalyticsClient(c).heatmap(s, 8))
    assert any("'month' grid" in r for r in refused.reasons)


async def test_the_parts_of_a_release_come_from_both_adapters_with_one_release_id(
    federation: LocalFederation,
) -> None:
    """Splitting across adapters: each adapter adds its own noise to its own incidents
    (disjoint, so one epsilon covers both), under the one release id the gateway signed."""
    async with connect(federation, "dishub-atcs") as c:
        answer: QueryResult = await c.query(
            counts("traffic_planning", *window(month(2025, 12), month(2026, 1)))
        )
    assert len(answer.plans) == 2
    assert len({p.release_id for p in answer.plans}) == 1
    assert all(p.epsilon == PURPOSES["traffic_planning"]["epsilon"] for p in answer.plans)
