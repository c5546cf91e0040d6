"""Privacy: noise before the minimum cell count, a fixed domain, and the budget ledger."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pytest

from gateway.analytics.privacy import (
    BudgetExhausted,
    BudgetKey,
    BudgetLedger,
    CountNoise,
    InMemoryBudgetStore,
    budget_period,
    laplace_scale,
    opendp_discrete_laplace,
    privatise,
)
from gateway.errors import PolicyDenied


def shift(by: int) -> CountNoise:
    def noise(counts: Sequence[int], scale: float) -> list[int]:
        return [c + by for c in counts]

    return noise


def test_scale_is_sensitivity_over_epsilon() -> None:
    assert laplace_scale(1.0) == 1.0
    assert laplace_scale(0.5) == 2.0
    assert laplace_scale(0.5, sensitivity=3) == 6.0
    for bad in (0.0, -1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="epsilon"):
            laplace_scale(bad)


def test_min_count_applies_to_the_noisy_count_not_the_true_one() -> None:
    up = privatise({"a": 8, "b": 12}, domain=["a", "b"], epsilon=1.0, min_count=10, noise=shift(3))
    assert up.counts == {"a": 11, "b": 15}  # a's true 8 is below k, its noisy 11 is not
    down = privatise(
        {"a": 8, "b": 12}, domain=["a", "b"], epsilon=1.0, min_count=10, noise=shift(-5)
    )
    assert down.counts == {}  # b's true 12 is above k, its noisy 7 is not
    assert down.suppressed == {"a", "b"}


def test_real_noise_releases_some_true_counts_below_k_and_never_a_noisy_one() -> None:
    domain = [f"c{i}" for i in range(300)]
    release = privatise(dict.fromkeys(domain, 9), domain=domain, epsilon=0.5, min_count=10)
    assert release.counts, "with scale 2, about a third of true 9s come out at 10 or more"
    assert release.suppressed, "and the rest are withheld"
    assert min(release.counts.values()) >= 10
    assert set(release.counts) | release.suppressed == set(domain)


def test_without_epsilon_only_the_minimum_count_applies() -> None:
    release = privatise({"a": 4, "b": 5}, domain=["a", "b", "c"], epsilon=None, min_count=5)
    assert release.counts == {"b": 5}
    assert release.suppressed == {"a", "c"}
    assert release.imputed == 2


def test_the_domain_is_fixed_before_the_data() -> None:
    release = privatise(
        {"inside": 50, "outside": 50}, domain=["inside", "empty"], epsilon=None, min_count=1
    )
    assert release.counts == {"inside": 50}
    assert release.suppressed == {"empty"}  # an empty cell of the domain is withheld, not absent
    assert "outside" not in release.suppressed


def test_opendp_noise_is_integer_and_centred() -> None:
    noisy = opendp_discrete_laplace([100] * 2000, 1.0)
    assert all(isinstance(v, int) for v in noisy)
    assert sum(v != 100 for v in noisy) > 500  # P(noise = 0) = tanh(1/2) ~ 0.46
    assert abs(sum(noisy) / len(noisy) - 100) < 0.3


def test_ledger_spends_until_the_limit_and_refuses_beyond() -> None:
    ledger = BudgetLedger(InMemoryBudgetStore())
    key = BudgetKey("spiffe://gerbang/bappeda/tataruang", "spatial_planning", "2026-10")
    assert ledger.spend(key, 0.4, limit=1.0).remaining == pytest.approx(0.6)
    assert ledger.spend(key, 0.4, limit=1.0).spent == pytest.approx(0.8)
    with pytest.raises(BudgetExhausted) as refused:
        ledger.spend(key, 0.4, limit=1.0)
    assert isinstance(refused.value, PolicyDenied)
    assert "exhausted" in refused.value.reasons[0]
    assert ledger.remaining(key, limit=1.0) == pytest.approx(0.2)  # the refusal charged nothing
    assert ledger.spend(key, 0.2, limit=1.0).remaining == pytest.approx(0.0)
    next_month = BudgetKey(key.caller, key.purpose, "2026-11")
    assert ledger.remaining(next_month, limit=1.0) == 1.0
    other = BudgetKey("spiffe://gerbang/bpbd/siaga", key.purpose, key.period)
    assert ledger.spend(other, 1.0, limit=1.0).remaining == 0.0


def test_ten_tenths_fit_a_budget_of_one() -> None:
    ledger = BudgetLedger(InMemoryBudgetStore())
    key = BudgetKey("c", "p", "2026-10")
    for _ in range(10):
        ledger.spend(key, 0.1, limit=1.0)
    with pytest.raises(BudgetExhausted):
        ledger.spend(key, 0.01, limit=1.0)


def test_ledger_rejects_nonsense_amounts() -> None:
    ledger = BudgetLedger(InMemoryBudgetStore())
    for bad in (0.0, -0.5, float("nan")):
        with pytest.raises(ValueError, match="positive"):
            ledger.spend(BudgetKey("c", "p", "x"), bad, limit=1.0)


def test_budget_periods_follow_the_local_calendar() -> None:
    late_utc = datetime(2026, 10, 31, 17, 30)  # 00:30 WIB on 1 November
    assert budget_period(late_utc, "month") == "2026-11"
    assert budget_period(late_utc, "day") == "2026-11-01"
    assert budget_period(datetime(2026, 10, 31, 16, 59), "month") == "2026-10"
    assert budget_period(datetime(2026, 12, 31, 18, 0), "year") == "2027"
