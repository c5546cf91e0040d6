"""Patrol plans: units by expected incidents, capped per area, rotating away from last time."""

from __future__ import annotations

import pytest

from gateway.analytics.patrol import plan_patrols

EXPECTED = {"a1": 9.0, "a2": 8.0, "a3": 7.0, "a4": 6.0, "b1": 3.0, "b2": 2.0, "c1": 1.0}
AREA = {c: c[0].upper() for c in EXPECTED}


def test_without_a_binding_cap_the_busiest_cells_win() -> None:
    plan = plan_patrols(EXPECTED, AREA, units=3, cap_per_area=10)
    assert [a.cell for a in plan.assignments] == ["a1", "a2", "a3"]
    assert plan.expected_coverage == pytest.approx(24 / 36)


def test_the_cap_spreads_units_over_areas_and_reports_the_cost() -> None:
    plan = plan_patrols(EXPECTED, AREA, units=4, cap_per_area=2)
    assert [a.cell for a in plan.assignments] == ["a1", "a2", "b1", "b2"]
    assert plan.per_area == {"A": 2, "B": 2}
    assert plan.expected_coverage == pytest.approx(22 / 36)
    short = plan_patrols(EXPECTED, AREA, units=10, cap_per_area=1)
    assert len(short.assignments) == 3  # one per area, then the caps run out


def test_last_plans_cells_are_discounted() -> None:
    plan = plan_patrols(
        EXPECTED, AREA, units=2, cap_per_area=10, previous={"a1", "a2"}, repeat_discount=0.5
    )
    assert [a.cell for a in plan.assignments] == ["a3", "a4"]


def test_every_cell_needs_an_area() -> None:
    with pytest.raises(ValueError, match="no area"):
        plan_patrols({"x": 1.0}, {}, units=1, cap_per_area=1)
