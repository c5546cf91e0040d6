"""Privacy: noise before the minimum cell count, and a fixed domain (the ledger of releases
is tests/integration/test_release_ledger.py)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

import pytest

from adapters.noise import (
    CountNoise,
    DrawnNoise,
    laplace_scale,
    opendp_discrete_laplace,
    privatise,
)


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


def test_noise_drawn_ahead_is_discrete_laplace_of_the_scale_added_once() -> None:
    # Drawn before the counts are read (while the database counts), added when they are.
    scale, n = 2.0, 6000
    noise = DrawnNoise(n, scale)
    noisy = noise([100] * n, scale)
    z = [v - 100 for v in noisy]
    assert all(isinstance(v, int) for v in z)
    # Discrete Laplace of scale b: mean 0, variance 2 p / (1 - p)^2 with p = exp(-1/b) (6.08).
    p = math.exp(-1 / scale)
    variance = 2 * p / (1 - p) ** 2
    assert abs(statistics.fmean(z)) < 5 * math.sqrt(variance / n)
    assert 0.85 * variance < statistics.pvariance(z) < 1.15 * variance
    assert len(set(z)) > 10, "not a constant shift"
    with pytest.raises(RuntimeError, match="already"):
        noise([100] * n, scale)  # never reused for a second table


def test_noise_drawn_ahead_refuses_another_table_or_scale() -> None:
    with pytest.raises(RuntimeError, match=r"3 counts at scale 2\.0"):
        DrawnNoise(3, 2.0)([1, 2], 2.0)
    with pytest.raises(RuntimeError, match=r"at scale 1\.0"):
        DrawnNoise(3, 2.0)([1, 2, 3], 1.0)
    release = privatise(
        {"a": 50, "b": 0}, domain=["a", "b"], epsilon=0.5, min_count=5, noise=DrawnNoise(2, 2.0)
    )
    assert set(release.counts) | release.suppressed == {"a", "b"}
    assert "a" in release.counts
    assert abs(release.counts["a"] - 50) < 40
