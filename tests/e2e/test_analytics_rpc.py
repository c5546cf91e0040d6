"""Every AnalyticsService operation end to end over two adapters, and its bad inputs.

Real processes, as in test_gateway_e2e.py: two adapters over two regional SQLite police
databases (disjoint kota), the gateway with the default policy engine, mTLS throughout. Each
operation is compiled, signed, authorised, audited and answered like any query; the client
merges both adapters' counts and runs the method. Region "a1" has one planted surge of +200 %
so that its early warning is certain at this small size.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import math
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from gateway.analytics import operations as ops
from gateway.analytics.stream import released_days
from gateway.analytics.tally import InvalidTally
from gateway.client import GerbangClient, QueryRefused
from gateway.client.analytics import AnalyticsClient
from gateway.protocol import cells as _h3
from gateway.protocol.geography import KECAMATAN
from gateway.protocol.model import Bucket, Filter, GroupBy, Op, QueryPlan
from gateway.protocol.pki import init_pki
from tests.support.audit_log import entry
from tools.city import seed_city
from tools.federation import AdapterSpec, LocalFederation

PURPOSES = json.loads(Path("policies/registry/purposes/data.json").read_text())
REGIONS = {
    "a1": ("Jakarta Pusat", "Jakarta Barat", "Jakarta Utara"),
    "a2": ("Jakarta Selatan", "Jakarta Timur"),
}
KOTA_OF = {k.name: k.kota for k in KECAMATAN}
END = dt.datetime(2026, 11, 1, tzinfo=ops.WIB)  # the seeded year ends here (local)
YEAR_START = END - dt.timedelta(days=365)


def scope(purpose: str, **kw: Any) -> ops.Scope:
    return ops.Scope(purpose, str(PURPOSES[purpose]["legal_basis"]), **kw)


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    work = tmp_path_factory.mktemp("analytics")
    init_pki(work / "pki", adapters=tuple(REGIONS))
    specs = []
    for i, (name, kota) in enumerate(REGIONS.items()):
        url = f"sqlite:///{work / f'{name}.db'}"
        seed_city(
            url, incidents=30_000, seed=21 + i, kota=kota, surges=1, surge_factor=2.0, persons=500
        )
        specs.append(AdapterSpec(name, url))
    with LocalFederation(work, specs) as fed:
        yield fed


def db(federation: LocalFederation, name: str) -> sqlite3.Connection:
    return sqlite3.connect(federation.workdir / f"{name}.db")


def connect(federation: LocalFederation, slug: str) -> GerbangClient:
    return GerbangClient.connect(federation.address, federation.pki, slug)


def assert_audited_denial(
    federation: LocalFederation, refused: QueryRefused, reason: str, operation: str
) -> None:
    assert refused.code is grpc.StatusCode.PERMISSION_DENIED
    assert any(reason in r for r in refused.reasons), refused.reasons
    assert refused.audit_index is not None
    e = entry(federation, refused.audit_index)
    assert e["decision"] == "deny"
    assert e["request"]["operation"] == operation
    assert any(reason in r for r in e["reasons"])
    assert e["row_count"] == 0


def reported_in(federation: LocalFederation) -> int:
    total = 0
    for name in REGIONS:
        with db(federation, name) as conn:
            (n,) = conn.execute(
                "SELECT count(*) FROM incidents WHERE source IN "
                "('citizen_report', 'emergency_call')"
            ).fetchone()
        total += n
    return total


# --- heatmap -------------------------------------------------------------------------------


async def test_heatmap_is_private_federated_and_reported_only(
    federation: LocalFederation,
) -> None:
    k = PURPOSES["spatial_planning"]["min_cell_count"]
    async with connect(federation, "citata-spatial") as c:
        # Bad inputs first: denials spend no budget.
        with pytest.raises(QueryRefused) as finer:
            await AnalyticsClient(c).heatmap(
                scope("spatial_planning", start=YEAR_START, end=END), resolution=9
            )
        assert_audited_denial(
            federation,
            finer.value,
            "finer than the maximum 8 of purpose 'spatial_planning'",
            "heatmap",
        )
        with pytest.raises(QueryRefused) as wide:
            await AnalyticsClient(c).heatmap(
                scope("spatial_planning", start=END - dt.timedelta(days=400), end=END), 8
            )
        assert_audited_denial(
            federation,
            wide.value,
            "purpose 'spatial_planning' allows a time window of at most 366 days",
            "heatmap",
        )

        heat = await AnalyticsClient(c).heatmap(
            scope("spatial_planning", start=YEAR_START, end=END), resolution=8
        )
        assert heat.result.adapters
        assert len(heat.result.adapters) == 2
        assert len(heat.value) > 50
        assert all(_h3.resolution_of(cell) == 8 for cell in heat.value)
        assert all(n >= k for n in heat.value.values())  # k after the noise, per part
        privacy = heat.result.privacy
        assert privacy is not None
        budget = PURPOSES["spatial_planning"]["privacy_budget"]
        epsilon = PURPOSES["spatial_planning"]["epsilon"]
        assert (privacy.epsilon, privacy.epsilon_charged, privacy.held) == (epsilon, epsilon, False)
        assert privacy.remaining == pytest.approx(budget["per_caller"] - epsilon)
        # Reported incidents only: every signed plan carries the policy's source filter.
        reported = Filter("source", Op.IN, ("citizen_report", "emergency_call"))
        assert all(reported in p.filters for p in heat.result.plans)
        assert all(t.sources == frozenset(reported.values) for t in heat.counts)
        # Noisy, suppressed and reported-only: close to, and below, the reported total.
        total = sum(heat.value.values())
        assert 0.8 * reported_in(federation) < total < 1.02 * reported_in(federation)
        e = entry(federation, heat.result.receipt.leaf_index)
        assert (e["decision"], e["request"]["operation"]) == ("allow", "heatmap")

        # The identical question again is the held release: the same noise, nothing charged.
        again = await AnalyticsClient(c).heatmap(
            scope("spatial_planning", start=YEAR_START, end=END), resolution=8
        )
        assert again.value == heat.value
        assert again.result.privacy is not None
        assert (again.result.privacy.held, again.result.privacy.epsilon_charged) == (True, 0.0)
        # Other questions over the same months spend from the same accounts until they are
        # spent; then the next is denied, and says so.
        assert budget["per_caller"] == 2 * epsilon  # room for exactly one more
        coarser = await AnalyticsClient(c).heatmap(
            scope("spatial_planning", start=YEAR_START, end=END), resolution=7
        )
        assert coarser.result.privacy is not None
        assert coarser.result.privacy.remaining == pytest.approx(0.0)
        with pytest.raises(QueryRefused) as spent:
            await AnalyticsClient(c).heatmap(
                scope("spatial_planning", start=YEAR_START, end=END), resolution=6
            )
        assert_audited_denial(federation, spent.value, "privacy budget spent", "heatmap")


# --- patterns ------------------------------------------------------------------------------


async def test_time_patterns_per_kecamatan_from_both_adapters(federation: LocalFederation) -> None:
    async with connect(federation, "samapta") as c:
        p = await AnalyticsClient(c).time_patterns(
            scope("patrol_planning", start=END - dt.timedelta(days=180), end=END)
        )
    matrices = p.value
    assert {KOTA_OF[a] for a in matrices} == {k for kota in REGIONS.values() for k in kota}
    for m in matrices.values():
        assert len(m) == 7
        assert all(len(row) == 24 for row in m)
    e = entry(federation, p.result.receipt.leaf_index)
    assert e["request"]["operation"] == "patterns"
    assert e["request"]["aggregation"]["group_by"] == [
        ["kecamatan", "none", 0],
        ["occurred_at", "day_of_week", 0],
        ["occurred_at", "hour_of_day", 0],
    ]


async def test_modus_patterns(federation: LocalFederation) -> None:
    async with connect(federation, "samapta") as c:
        p = await AnalyticsClient(c).modus_patterns(
            scope(
                "patrol_planning",
                start=YEAR_START,
                end=END,
                kota=("Jakarta Timur",),
                categories=("theft", "motor_vehicle_theft"),
            )
        )
    assert p.value
    assert {KOTA_OF[a] for a in p.value} == {"Jakarta Timur"}
    for shares in p.value.values():
        assert isinstance(shares, list)
        assert sum(s.share for s in shares) == pytest.approx(1.0)


async def test_a_category_list_naming_a_rare_category_is_answered_with_noise(
    federation: LocalFederation,
) -> None:
    """A category of 1..k-1 incidents is no longer refused: a refusal that reads the true
    counts would itself tell that they exist. The answer is noisy over the public domain,
    like any other, so two lists differing by it differ by noise."""
    k = PURPOSES["patrol_planning"]["min_cell_count"]
    with db(federation, "a2") as conn:
        row = conn.execute(
            "SELECT category, date(occurred_at, '+7 hours') AS d, count(*) AS n FROM incidents "
            "WHERE source IN ('citizen_report', 'emergency_call') AND kota = 'Jakarta Selatan' "
            "GROUP BY category, d HAVING n BETWEEN 1 AND ? ORDER BY d DESC LIMIT 1",
            (k - 1,),
        ).fetchone()
    assert row is not None, "the seeded city has no rare category-day to test with"
    category, day, _ = row
    start = ops.local_midnight(dt.date.fromisoformat(day))
    rare = scope(
        "patrol_planning",
        start=start,
        end=start + dt.timedelta(days=1),
        kota=("Jakarta Selatan",),
        categories=("theft", category) if category != "theft" else ("theft",),
    )
    async with connect(federation, "samapta") as c:
        answer = await AnalyticsClient(c).modus_patterns(rare)
    assert answer.result.privacy is not None
    assert answer.result.privacy.epsilon == PURPOSES["patrol_planning"]["epsilon"]
    assert {KOTA_OF[a] for a in answer.value} <= {"Jakarta Selatan"}
    e = entry(federation, answer.result.receipt.leaf_index)
    assert (e["decision"], e["request"]["operation"]) == ("allow", "patterns")


# --- risk and patrols ----------------------------------------------------------------------


async def test_risk_scores_per_kecamatan_are_explained_and_uncertain(
    federation: LocalFederation,
) -> None:
    async with connect(federation, "samapta") as c:
        r = await AnalyticsClient(c).risk_scores(scope("patrol_planning", end=END), "kecamatan")
    scores = r.value
    assert {KOTA_OF[s.unit] for s in scores} == {k for kota in REGIONS.values() for k in kota}
    assert [s.score for s in scores] == sorted((s.score for s in scores), reverse=True)
    for s in scores:
        assert 0 < s.low < s.score < s.high
        assert set(s.factors) == {"baseline", "recent", "near_repeat"}
        assert sum(s.contributions.values()) == pytest.approx(math.log(s.score))
    # The risk model's three windows as spans (ADR 0032), ending on the Monday that starts
    # END's week: history (48 weeks), recent before near (3), near (1).
    assert {(t.when, t.days) for t in r.counts} == {
        (dt.date(2025, 10, 27), 336),
        (dt.date(2026, 9, 28), 21),
        (dt.date(2026, 10, 19), 7),
    }


async def test_patrol_plan_is_capped_per_kecamatan(federation: LocalFederation) -> None:
    async with connect(federation, "samapta") as c:
        p = await AnalyticsClient(c).patrol_plan(
            scope("patrol_planning", end=END), units=12, cap_per_area=2
        )
    plan, scores = p.value
    assert len(plan.assignments) == 12
    assert max(plan.per_area.values()) <= 2
    assert 0 < plan.expected_coverage <= 1
    assert all(_h3.resolution_of(a.cell) == 8 for a in plan.assignments)
    assert {s.unit for s in scores} >= {a.cell for a in plan.assignments}
    e = entry(federation, p.result.receipt.leaf_index)
    assert e["request"]["operation"] == "patrol_plan"


async def test_patrol_plan_asks_three_spans_not_52_weeks(federation: LocalFederation) -> None:
    """ADR 0032: the plan's public domain is (cell, kecamatan) x 3 spans; the same counts by
    week, which the purpose also allows, are 52 per pair."""
    s = scope("patrol_planning", end=END)
    async with connect(federation, "samapta") as c:
        spans = (await AnalyticsClient(c).patrol_plan(s, units=12, cap_per_area=2)).result
        q = ops.patrol_query(s)
        assert q.aggregation is not None
        weekly_q = dataclasses.replace(
            q,
            aggregation=dataclasses.replace(
                q.aggregation,
                group_by=(*q.aggregation.group_by[:2], GroupBy(ops.TIME, Bucket.WEEK)),
            ),
            operation="",
        )
        weekly = await c.query(weekly_q)
    for p in spans.plans:
        assert p.aggregation is not None
        assert p.aggregation.group_by[-1].bucket is Bucket.SPANS
    assert "occurred_at_spans" in spans.columns
    # Kecamatan are disjoint between the adapters, so every group is one adapter's: released
    # plus withheld groups is the whole domain.
    span_groups = len(spans.rows) + spans.suppressed_groups
    week_groups = len(weekly.rows) + weekly.suppressed_groups
    assert span_groups % 3 == 0
    assert week_groups == span_groups // 3 * 52
    # Fewer, larger counts: a smaller share is withheld below k.
    assert spans.suppressed_groups / span_groups < weekly.suppressed_groups / week_groups


async def test_risk_operations_are_not_for_city_systems(federation: LocalFederation) -> None:
    async with connect(federation, "citata-spatial") as c:
        with pytest.raises(QueryRefused) as refused:
            await AnalyticsClient(c).risk_scores(scope("spatial_planning", end=END), "h3")
    assert_audited_denial(
        federation,
        refused.value,
        "request.operation is not an operation registered for purpose 'spatial_planning'",
        "risk_scores",
    )


# --- security index ------------------------------------------------------------------------


async def test_security_index_for_parliament(federation: LocalFederation) -> None:
    async with connect(federation, "dprd-komisi-a") as c:
        idx = await AnalyticsClient(c).security_index(scope("security_indicators", end=END))
    rows = {(r.level, r.name): r for r in idx.value}
    assert ("city", "city") in rows
    assert {name for level, name in rows if level == "kota"} == {
        k for kota in REGIONS.values() for k in kota
    }
    city = rows[("city", "city")]
    assert city.vs_city == pytest.approx(1.0)
    for r in idx.value:
        assert r.clearance_rate is not None
        assert 0 <= r.clearance_rate <= 1
        assert r.trend_low is not None
        assert r.trend_high is not None
        assert r.trend_low <= (r.trend or 0) <= r.trend_high


# --- early warning -------------------------------------------------------------------------


async def test_warning_stream_raises_the_planted_surge(federation: LocalFederation) -> None:
    with db(federation, "a1") as conn:
        kecamatan, start_at, end_at = conn.execute(
            "SELECT kecamatan, start_at, end_at FROM seed_truth WHERE kind = 'surge'"
        ).fetchone()
    first = dt.datetime.fromisoformat(start_at).replace(tzinfo=dt.UTC)
    last = dt.datetime.fromisoformat(end_at).replace(tzinfo=dt.UTC)
    watch = scope(
        "public_order_early_warning",
        start=first - dt.timedelta(days=2),
        end=min(last, first + dt.timedelta(days=3)),
    )
    days = []
    async with connect(federation, "jsc-command-centre") as c:
        async for day in AnalyticsClient(c).watch_warnings(watch):
            days.append(day)
    assert [d.day for d in days] == [
        ops.local_day(watch.start) + dt.timedelta(days=i)  # type: ignore[arg-type]
        for i in range(len(days))
    ]
    assert len(days) >= 4
    surge_alerts = [a for d in days for a in d.alerts or () if a.area == kecamatan]
    assert all(d.alerts is not None for d in days)
    assert surge_alerts, f"no alert for the planted surge in {kecamatan}"
    alert = surge_alerts[0]
    assert alert.day >= ops.local_day(first)
    assert alert.statistic >= alert.threshold > alert.baseline
    assert alert.window_days in (1, 2, 3)
    # Every day was its own audited release, bound to the one signed request.
    entries = [entry(federation, d.result.receipt.leaf_index) for d in days]
    assert {e["request"]["operation"] for e in entries} == {"early_warning"}
    assert len({e["request_hash"] for e in entries}) == 1
    assert len({e["request_id"] for e in entries}) == len(entries)


async def test_warning_stream_follows_the_present_until_cancelled(
    federation: LocalFederation,
) -> None:
    """Without an end the stream catches up to yesterday, then waits for today to end: a
    running day is never released (each release of it would be charged again)."""
    today = ops.local_day(dt.datetime.now(dt.UTC))
    watch = scope(
        "public_order_early_warning",
        start=ops.local_midnight(today - dt.timedelta(days=2)),
    )
    days = []
    async with connect(federation, "jsc-command-centre") as c:
        stream = AnalyticsClient(c).watch_warnings(watch, dt.timedelta(seconds=1))
        days.append(await anext(stream))
        days.append(await anext(stream))
        if ops.local_day(dt.datetime.now(dt.UTC)) == today:  # not across a local midnight
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(anext(stream), timeout=3.0)
        await stream.aclose()  # type: ignore[attr-defined]
    assert [d.day for d in days] == [today - dt.timedelta(days=2), today - dt.timedelta(days=1)]
    assert len({d.result.receipt.leaf_index for d in days}) == 2
    # The first answer read the lookback and its day; the second only its own day.
    assert len(released_days(days[0].result.plans)) == ops.WARNING_LOOKBACK_DAYS + 1
    assert released_days(days[1].result.plans) == [today - dt.timedelta(days=1)]
    assert all(d.alerts is not None for d in days)


async def test_warning_stream_refuses_a_bad_interval(federation: LocalFederation) -> None:
    watch = scope("public_order_early_warning", start=END - dt.timedelta(days=3), end=END)
    async with connect(federation, "jsc-command-centre") as c:
        with pytest.raises(QueryRefused) as refused:
            async for _ in AnalyticsClient(c).watch_warnings(watch, dt.timedelta(days=2)):
                pass
    assert refused.value.code is grpc.StatusCode.INVALID_ARGUMENT
    assert "interval must be 0 to 86400 seconds" in refused.value.message
    assert refused.value.audit_index is not None
    decade = scope("public_order_early_warning", start=END - dt.timedelta(days=3650), end=END)
    async with connect(federation, "jsc-command-centre") as c:
        with pytest.raises(QueryRefused) as refused:
            async for _ in AnalyticsClient(c).watch_warnings(decade):
                pass
    assert "a replay covers at most 366 days" in refused.value.message


# --- the guardrail, checked on the plans ---------------------------------------------------


def test_counts_from_plans_without_the_reported_filter_are_refused() -> None:
    plan = QueryPlan(
        plan_id="r/a",
        request_id="r",
        adapter_id="a",
        dataset="incidents",
        fields=(),
        filters=(Filter("source", Op.IN, ("citizen_report", "police_initiated")),),
        aggregation=ops.heatmap_query(
            scope("spatial_planning", start=YEAR_START, end=END), 8
        ).aggregation,
        aggregate_only=True,
        max_rows=10,
        min_cell_count=10,
        purpose="spatial_planning",
        expires_at=dt.datetime.now(dt.UTC),
        policy_revision="0" * 64,
    )
    with pytest.raises(InvalidTally, match="not reported only"):
        ops.reported_sources([plan])
    with pytest.raises(InvalidTally, match="no source filter"):
        ops.reported_sources([QueryPlan(**{**plan.__dict__, "filters": ()})])
    # The noise is checked on the signed plans too: every part carries one epsilon.
    with pytest.raises(InvalidTally, match="carries no differential-privacy epsilon"):
        ops.private_epsilon([plan])
    noisy = QueryPlan(**{**plan.__dict__, "epsilon": 1.0})
    assert ops.private_epsilon([noisy, noisy]) == 1.0
    with pytest.raises(InvalidTally, match="disagree on epsilon"):
        ops.private_epsilon([noisy, QueryPlan(**{**plan.__dict__, "epsilon": 0.5})])
