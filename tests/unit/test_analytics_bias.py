"""Bias report: shares side by side, Hoover and Gini, and the areas to question."""

from __future__ import annotations

import pytest

from gateway.analytics.bias import bias_report, gini, hoover


def test_concentration_measures_on_known_values() -> None:
    assert hoover({"a": 0.5, "b": 0.5}, {"a": 0.5, "b": 0.5}) == 0.0
    assert hoover({"a": 1.0, "b": 0.0}, {"a": 0.0, "b": 1.0}) == 1.0
    assert gini({"a": 1.0, "b": 1.0, "c": 1.0}) == 0.0
    assert gini({"a": 0.0, "b": 0.0, "c": 3.0}) == pytest.approx(2 / 3)


def test_a_plan_concentrated_on_one_area_is_flagged() -> None:
    population = {"A": 100_000, "B": 100_000, "C": 200_000}
    incidents = {"A": 100, "B": 100, "C": 200}
    risk = {"A": 1.0, "B": 1.0, "C": 2.0}
    report = bias_report(population, incidents, risk, {"A": 8, "B": 1, "C": 1})
    assert report.over_patrolled == ("A",)
    assert report.hoover_patrol_population == pytest.approx(0.55)
    assert report.hoover_risk_population == pytest.approx(0.0)
    assert report.patrol_gini_per_capita > 0.4
    fair = bias_report(population, incidents, risk, {"A": 2, "B": 2, "C": 4})
    assert fair.over_patrolled == ()
    assert fair.patrol_gini_per_capita == pytest.approx(0.0)
    shares = {a.area: a for a in report.areas}
    assert shares["A"].patrol_share == pytest.approx(0.8)
    assert shares["C"].population_share == pytest.approx(0.5)


def test_unknown_areas_refuse() -> None:
    with pytest.raises(ValueError, match="no population"):
        bias_report({"A": 1}, {"Z": 3}, {}, {})
