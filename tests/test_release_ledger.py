"""Releases charged to the data they read (issue 11, docs/adr/0009), without processes.

- `data_periods` and `release_id` are pure: property tests;
- `ReleaseLedger` over a real SQLite and PostgreSQL store: the calendar never renews an
  account, a held release is charged once, a refused charge charges nothing, racing charges
  cannot overspend;
- the mechanism: an attacker who sees one release cannot tell whether one incident exists
  better than epsilon allows.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.noise import opendp_discrete_laplace, privatise
from gateway.audit.releases import BudgetExhausted, ReleaseCharge, ReleaseLedger
from gateway.audit.store import AuditStore
from gateway.protocol.model import Aggregation, Filter, GroupBy, Op, QueryPlan
from gateway.protocol.release import (
    DataPeriod,
    PrivacyBudget,
    data_periods,
    hold_key,
    hold_until,
    release_id,
    release_window,
)

WIB = dt.timezone(dt.timedelta(hours=7))
BUDGET = PrivacyBudget(1.0, "month", 2.0, 3.0, "month")


def plan(*filters: Filter, adapter: str = "a", request: str = "r") -> QueryPlan:
    return QueryPlan(
        plan_id=f"{request}/{adapter}",
        request_id=request,
        adapter_id=adapter,
        dataset="incidents",
        fields=("kecamatan",),
        filters=filters,
        aggregation=Aggregation((GroupBy("kecamatan"),)),
        aggregate_only=True,
        max_rows=100,
        min_cell_count=10,
        purpose="traffic_planning",
        expires_at=dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
        policy_revision="0" * 64,
        epsilon=1.0,
    )


# --- pure parts -----------------------------------------------------------------------------


def test_data_periods_are_local_months_weeks_and_days() -> None:
    lo, hi = dt.datetime(2026, 9, 1, tzinfo=WIB), dt.datetime(2026, 11, 1, tzinfo=WIB)
    assert data_periods(lo, hi, "month") == ["2026-09", "2026-10"]
    assert data_periods(lo, lo + dt.timedelta(days=1), "day") == ["2026-09-01"]
    assert data_periods(lo, lo + dt.timedelta(days=7), "week") == ["2026-W36", "2026-W37"]
    # 17:00 UTC on 31 August is midnight WIB on 1 September: no August.
    assert data_periods(lo.astimezone(dt.UTC), hi, "month")[0] == "2026-09"
    assert data_periods(hi, lo, "month") == []


@given(
    st.datetimes(min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2030, 1, 1)),
    st.integers(min_value=1, max_value=400 * 24),
)
@settings(max_examples=200, deadline=None)
def test_every_instant_of_the_window_is_in_a_charged_period(start: dt.datetime, hours: int) -> None:
    lo = start.replace(tzinfo=dt.UTC)
    hi = lo + dt.timedelta(hours=hours)
    periods: tuple[DataPeriod, ...] = ("day", "week", "month")
    for period in periods:
        charged = set(data_periods(lo, hi, period))
        for t in (lo, hi - dt.timedelta(seconds=1), lo + (hi - lo) / 2):
            assert data_periods(t, t + dt.timedelta(seconds=1), period)[0] in charged


def test_release_window_needs_both_bounds() -> None:
    ge = Filter("occurred_at", Op.GE, (dt.datetime(2026, 9, 1, tzinfo=WIB),))
    lt = Filter("occurred_at", Op.LT, (dt.datetime(2026, 10, 1, tzinfo=WIB),))
    assert release_window((ge, lt), "occurred_at")[1] == lt.values[0]
    with pytest.raises(ValueError, match="not bounded"):
        release_window((ge,), "occurred_at")
    # A gt/le bound is not a window bound: it is not taken as one.
    with pytest.raises(ValueError, match="not bounded"):
        release_window((ge, Filter("occurred_at", Op.LE, lt.values)), "occurred_at")


def test_release_id_ignores_request_adapter_and_filter_order_not_content() -> None:
    a = Filter("kecamatan", Op.IN, ("Tebet", "Menteng"))
    b = Filter("occurred_at", Op.GE, (dt.datetime(2026, 9, 1, tzinfo=WIB),))
    first = release_id(plan(a, b), "2026-12")
    assert release_id(plan(b, a, adapter="other", request="x"), "2026-12") == first
    assert release_id(plan(Filter("kecamatan", Op.IN, ("Menteng", "Tebet")), b), "2026-12") == first
    assert release_id(plan(a, b), "2027-01") != first  # another hold period
    assert release_id(plan(Filter("kecamatan", Op.IN, ("Tebet",)), b), "2026-12") != first


def test_hold_periods_end_at_local_boundaries() -> None:
    t = dt.datetime(2026, 12, 31, 23, 30, tzinfo=WIB)
    assert hold_key(hold_until(t, "month")) == "2026-12-31T17:00:00Z"
    assert hold_until(t, "month") == dt.datetime(2027, 1, 1, tzinfo=WIB)
    assert hold_until(t, "day") == dt.datetime(2027, 1, 1, tzinfo=WIB)
    assert hold_until(t, "hour") == dt.datetime(2027, 1, 1, tzinfo=WIB)
    assert hold_until(t, "week") == dt.datetime(2027, 1, 4, tzinfo=WIB)  # a Monday


# --- the ledger on real stores ----------------------------------------------------------------


@pytest.fixture
def ledger(store_url: str) -> ReleaseLedger:
    store = AuditStore(store_url)
    store.create()
    return ReleaseLedger(store)


def charge(ledger: ReleaseLedger, rid: bytes, now: dt.datetime, caller: str = "c") -> ReleaseCharge:
    return ledger.charge(
        rid,
        caller=caller,
        purpose="traffic_planning",
        periods=["2026-10"],
        budget=BUDGET,
        now=now,
        held_until=now + dt.timedelta(days=30),
    )


def test_the_calendar_does_not_renew_an_account(ledger: ReleaseLedger) -> None:
    """Regression (issue 11): budgets used to reset each calendar month of asking, so the
    same incidents could be released again month after month. The account is the data's."""
    nov = dt.datetime(2026, 11, 15, tzinfo=dt.UTC)
    charge(ledger, b"1" * 32, nov)
    charge(ledger, b"2" * 32, nov)
    for later in (nov + dt.timedelta(days=40), nov + dt.timedelta(days=400)):
        with pytest.raises(BudgetExhausted, match="spent epsilon 2 of 2"):
            charge(ledger, b"3" * 32, later)


def test_a_release_is_charged_once_per_hold_period(ledger: ReleaseLedger) -> None:
    now = dt.datetime(2026, 11, 15, tzinfo=dt.UTC)
    first = charge(ledger, b"1" * 32, now)
    assert not first.held
    # Charged once even before every adapter answered: concurrent identical requests share
    # the one answer each adapter keeps first (adapters/held.py).
    assert charge(ledger, b"1" * 32, now).held
    held = charge(ledger, b"1" * 32, now)
    assert held.held
    assert held.epsilon == 0.0
    assert held.spent == 1.0
    # After its hold period it is charged again, on the same data's account.
    later = charge(ledger, b"1" * 32, now + dt.timedelta(days=31))
    assert not later.held
    assert later.spent == 2.0
    with pytest.raises(BudgetExhausted):
        charge(ledger, b"1" * 32, now + dt.timedelta(days=62))


def test_the_purpose_cap_binds_across_callers(ledger: ReleaseLedger) -> None:
    now = dt.datetime(2026, 11, 15, tzinfo=dt.UTC)
    charge(ledger, b"1" * 32, now, caller="a")
    charge(ledger, b"2" * 32, now, caller="a")
    charge(ledger, b"3" * 32, now, caller="b")
    with pytest.raises(BudgetExhausted, match="the purpose"):
        charge(ledger, b"4" * 32, now, caller="c")


def test_racing_charges_cannot_overspend(tmp_path: Path) -> None:
    store = AuditStore(f"sqlite:///{tmp_path / 'race.db'}")
    store.create()
    ledger = ReleaseLedger(store)
    now = dt.datetime(2026, 11, 15, tzinfo=dt.UTC)
    outcomes: list[str] = []

    def one(i: int) -> None:
        try:
            charge(ledger, bytes([i]) * 32, now)
            outcomes.append("charged")
        except BudgetExhausted:
            outcomes.append("refused")

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["charged"] * 2 + ["refused"] * 6


# --- the mechanism ----------------------------------------------------------------------------


def test_one_release_tells_one_incident_apart_no_better_than_epsilon_allows() -> None:
    """Neighbouring data (a cell holding 3 or 4 incidents, around k): the best test on one
    release guesses right with probability at most e^eps / (1 + e^eps)."""
    epsilon, k, trials = 1.0, 3, 3000
    bound = math.exp(epsilon) / (1 + math.exp(epsilon))
    right = 0
    for i in range(trials):
        truth = i % 2
        release = privatise(
            {"cell": 3 + truth},
            domain=["cell"],
            epsilon=epsilon,
            min_count=k,
            noise=opendp_discrete_laplace,
        )
        seen = release.counts.get("cell", 0)
        guess = 1 if seen >= 4 else 0  # the likelihood-ratio test's threshold
        right += guess == truth
    # Three standard errors of slack over the bound (~0.025 at 3000 trials).
    assert right / trials <= bound + 3 * math.sqrt(bound * (1 - bound) / trials)
