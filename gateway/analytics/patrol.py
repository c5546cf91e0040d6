"""Patrol plans: where N units go, by expected incidents, with a cap per area.

Greedy allocation: cells in order of expected reported incidents, one unit per cell, skipping a
cell once its area (kecamatan) holds `cap_per_area` units. The cap spreads units over the city
so the same neighbourhoods are not always the target; `previous` (the cells of the last plan)
are discounted by `repeat_discount` so that a plan rotates between comparable cells instead of
returning to the same ones shift after shift. Both trade expected coverage for spread, and the
plan reports what was traded: `expected_coverage` is the share of all expected incidents that
fall in covered cells.

Guardrail. The expected incidents must come from reported incidents only (`risk_scores` over
`reported` counts): planning patrols on what patrols found would send them back where they
already were (Lum & Isaac 2016). Use `gateway.analytics.bias.bias_report` on every plan.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass

__all__ = ["PatrolAssignment", "PatrolPlan", "plan_patrols"]


@dataclass(frozen=True, slots=True)
class PatrolAssignment:
    cell: str
    area: str
    expected: float  # expected reported incidents per day in the cell


@dataclass(frozen=True, slots=True)
class PatrolPlan:
    assignments: tuple[PatrolAssignment, ...]
    expected_coverage: float  # share of expected incidents in covered cells, 0..1
    per_area: Mapping[str, int]


def plan_patrols(
    expected: Mapping[str, float],
    area_of: Mapping[str, str],
    *,
    units: int,
    cap_per_area: int,
    previous: Collection[str] = (),
    repeat_discount: float = 0.5,
) -> PatrolPlan:
    """Place `units` units on cells by `expected` incidents, at most `cap_per_area` per area.

    Every cell needs an area in `area_of`. Fewer units are placed when the caps or the cells run
    out; the plan says how many were placed.
    """
    if units < 0 or cap_per_area < 1:
        raise ValueError("units cannot be negative and cap_per_area must be at least 1")
    if not 0.0 <= repeat_discount <= 1.0:
        raise ValueError(f"repeat_discount must be within 0..1, not {repeat_discount}")
    if any(v < 0 for v in expected.values()):
        raise ValueError("expected incidents cannot be negative")
    missing = [c for c in expected if c not in area_of]
    if missing:
        raise ValueError(f"{len(missing)} cells have no area, e.g. {missing[0]}")
    was = frozenset(previous)

    def priority(cell: str) -> tuple[float, str]:
        weight = expected[cell] * (repeat_discount if cell in was else 1.0)
        return -weight, cell

    placed: list[PatrolAssignment] = []
    per_area: Counter[str] = Counter()
    for cell in sorted(expected, key=priority):
        if len(placed) == units:
            break
        area = area_of[cell]
        if per_area[area] >= cap_per_area or expected[cell] <= 0:
            continue
        placed.append(PatrolAssignment(cell, area, expected[cell]))
        per_area[area] += 1
    total = sum(expected.values())
    covered = sum(a.expected for a in placed)
    return PatrolPlan(tuple(placed), covered / total if total > 0 else 0.0, dict(per_area))
