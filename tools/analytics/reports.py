"""Reports over a police store: the bias report of a patrol plan made from its counts.

I/O at the edge: counts come from `_sql` (SQL GROUP BY on reported incidents), everything after
that is the pure methods of this package.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from gateway.analytics.bias import BiasReport, bias_report
from gateway.analytics.patrol import PatrolPlan, plan_patrols
from gateway.analytics.risk import HISTORY_DAYS, NEAR_DAYS, RECENT_DAYS, risk_scores
from gateway.analytics.tally import Tally
from tools.analytics import sql as _sql

__all__ = ["bias_report_from_store"]


def bias_report_from_store(
    url: str,
    *,
    units: int = 40,
    cap_per_area: int = 3,
    resolution: int = 8,
    as_of: date | None = None,
) -> dict[str, Any]:
    """Risk per H3 cell, a patrol plan of `units` capped per kecamatan, and its bias report.

    The same plan without the cap is reported beside it (`uncapped`), so the effect of the cap
    on concentration and on expected coverage can be read off.
    """
    with _sql.police_store(url) as conn:
        population = _sql.areas(conn)
        day = as_of or _sql.data_end(conn)
        bounds = [
            day - timedelta(days=RECENT_DAYS + HISTORY_DAYS),
            day - timedelta(days=RECENT_DAYS),
            day - timedelta(days=NEAR_DAYS),
            day,
        ]
        tallies = _sql.windowed(conn, bounds, area=True, resolution=resolution)
    area_of = _majority_area(tallies)
    scores = risk_scores(
        tallies,
        unit="cell",
        as_of=day,
        history_days=HISTORY_DAYS,
        recent_days=RECENT_DAYS,
        near_days=NEAR_DAYS,
    )
    expected = {cell: s.rate for cell, s in scores.items()}
    incidents: dict[str, int] = defaultdict(int)
    for t in tallies:
        if t.area in population:
            incidents[t.area] += t.count
    risk: dict[str, float] = defaultdict(float)
    for cell, rate in expected.items():
        if area_of[cell] in population:
            risk[area_of[cell]] += rate
    people = {name: pop for name, (_kota, pop) in population.items()}

    def report(plan: PatrolPlan) -> BiasReport:
        patrols = {a: n for a, n in plan.per_area.items() if a in people}
        return bias_report(people, incidents, risk, patrols)

    capped = plan_patrols(expected, area_of, units=units, cap_per_area=cap_per_area)
    uncapped = plan_patrols(expected, area_of, units=units, cap_per_area=max(1, units))
    capped_report = report(capped)
    uncapped_report = report(uncapped)
    summary = {k: v for k, v in dataclasses.asdict(capped_report).items() if k != "areas"}
    return {
        "as_of": day.isoformat(),
        "h3_resolution": resolution,
        "sources": "citizen_report, emergency_call (police_initiated excluded)",
        "units": units,
        "units_placed": len(capped.assignments),
        "cap_per_area": cap_per_area,
        "expected_coverage": round(capped.expected_coverage, 4),
        **summary,
        "areas": [dataclasses.asdict(a) for a in capped_report.areas],
        "uncapped": {
            "expected_coverage": round(uncapped.expected_coverage, 4),
            **{k: v for k, v in dataclasses.asdict(uncapped_report).items() if k != "areas"},
        },
    }


def _majority_area(tallies: list[Tally]) -> dict[str, str]:
    """Each cell's kecamatan: the one holding most of its incidents (ties: by name)."""
    parts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for t in tallies:
        if t.cell is not None and t.area is not None:
            parts[t.cell][t.area] += t.count
    return {cell: min(c, key=lambda a: (-c[a], a)) for cell, c in parts.items()}
