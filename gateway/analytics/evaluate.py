"""Evaluation of the hotspot and early-warning methods on a synthetic city with planted truth.

`evaluate(seed)`:

1. seeds a city into a temporary SQLite file with the generator's default settings (8 hotspots
   of factor 3 covering at most 2 % of the area, 2 surges of +60 % lasting 5-10 days, 365 days
   ending on `adapters.seed.DEFAULT_END`); only the number of incidents is chosen here;
2. reads aggregated counts with SQL GROUP BY (`gateway.analytics._sql`): reported incidents per
   H3 cell (resolution 8) and local month, and per kecamatan and local day;
3. applies the privacy obligations of the default policies: `spatial_planning` (epsilon 1.0
   per caller per month, spent through a `BudgetLedger`, minimum cell count 10 after the noise,
   over a cell domain fixed from the public geography) to the monthly heatmaps, and
   `public_order_early_warning` (minimum cell count 5, no noise) to the daily counts;
4. runs the methods and scores them against the planted truth, then again with no privacy at
   all (`no_privacy`), so the cost of privacy shows.

Scoring.
- Hotspots: the `hotspot_k` = 2 x (planted hotspots) top cells of the year's heatmap (the sum of
  the twelve monthly releases), taken as distinct peaks (`heatmap.hotspots`); twice as many
  slots as discs because a disc of up to 400 m often falls across two resolution-8 cells. A
  planted disc is found when a top cell contains its centre or comes within its radius (the
  cell contains or touches the disc). `hotspot_recall` = found discs / planted discs;
  `hotspot_precision` = top cells touching some disc / top cells.
- Warnings: alerts are grouped into episodes (consecutive days of one kecamatan). A surge is
  detected when its kecamatan alerts on one of its days; `warning_delay_days` is the mean over
  detected surges of (first alert day - first surge day), 0 meaning an alert on the first day.
  An episode is a false alarm when none of its alerts' windows overlaps a planted surge of its
  kecamatan; `false_alarms_per_area_month` divides them by the kecamatan-months monitored (the
  days after the first full baseline, over 30.44).

The noise is OpenDP's, drawn from the operating system, so the private figures vary a little
between runs of the same seed; the city and the figures without privacy do not.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

from gateway.analytics import _h3, _sql
from gateway.analytics.heatmap import Hotspot, hotspots, sum_releases
from gateway.analytics.privacy import (
    BudgetKey,
    BudgetLedger,
    InMemoryBudgetStore,
    Release,
    privatise,
)
from gateway.analytics.tally import REPORTED, Tally
from gateway.analytics.warning import (
    DEFAULT_ALPHA,
    DEFAULT_BASELINE_DAYS,
    DEFAULT_WINDOWS,
    Alert,
    alert_episodes,
    early_warnings,
)

__all__ = [
    "DEFAULT_INCIDENTS",
    "PUBLIC_ORDER_EARLY_WARNING",
    "SPATIAL_PLANNING",
    "Obligations",
    "evaluate",
]

DEFAULT_INCIDENTS = 500_000
HEATMAP_RESOLUTION = 8
_DAYS = 365
_AREA_MONTH_DAYS = 30.4375
_PERSONS = 1_000


@dataclass(frozen=True, slots=True)
class Obligations:
    """The privacy obligations of a purpose, as `policies/registry/purposes/data.json` sets."""

    purpose: str
    epsilon: float | None
    epsilon_period: str | None
    min_cell_count: int


SPATIAL_PLANNING = Obligations("spatial_planning", 1.0, "month", 10)
PUBLIC_ORDER_EARLY_WARNING = Obligations("public_order_early_warning", None, None, 5)
_NONE = Obligations("none", None, None, 0)  # no privacy at all, for the comparison


def evaluate(
    seed: int,
    *,
    incidents: int = DEFAULT_INCIDENTS,
    epsilon: float | None = SPATIAL_PLANNING.epsilon,
    heatmap: Obligations = SPATIAL_PLANNING,
    warning: Obligations = PUBLIC_ORDER_EARLY_WARNING,
    alpha: float = DEFAULT_ALPHA,
    workdir: Path | None = None,
    hotspot_unit: Literal["cell", "disc"] = "cell",
) -> dict[str, Any]:
    """Seed a city, run the methods with and without privacy, and score them (see the module).

    `epsilon` is the heatmap's budget per month (None: no noise, the minimum cell counts still
    apply); `workdir` keeps the seeded database there instead of in a temporary directory;
    `hotspot_unit="disc"` seeds the harder city whose hotspot discs, not cells, have the
    planted rate ratio (`adapters.seed`).
    """
    from adapters.seed import DEFAULT_END, seed_city

    clock = time.perf_counter()
    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="gerbang-eval-") as tmp:
        path = (workdir or Path(tmp)) / f"city-{seed}.db"
        url = f"sqlite:///{path}"
        # Persons are drawn after the incidents from the same generator, so their number leaves
        # every incident row unchanged; a small register saves most of the seeding time.
        seed_city(
            url,
            incidents=incidents,
            seed=seed,
            persons=_PERSONS,
            replace=True,
            hotspot_unit=hotspot_unit,
        )
        timings["seed"] = time.perf_counter() - clock
        end = DEFAULT_END
        start = end - timedelta(days=_DAYS)
        with _sql.police_store(url) as conn:
            cells = _sql.monthly_cells(conn, HEATMAP_RESOLUTION, start, end)
            daily = _sql.daily_areas(conn, start, end)
            areas = _sql.areas(conn)
            planted_hotspots, planted_surges = _sql.planted(conn)
        timings["read"] = time.perf_counter() - clock - timings["seed"]

    domain = _cell_domain(areas)
    months = _month_starts(start, end)
    area_names = sorted(areas)
    days = [start + timedelta(days=i) for i in range(_DAYS)]
    ledger = BudgetLedger(InMemoryBudgetStore())

    private_heat = _monthly_releases(
        cells, months, domain, epsilon, heatmap, ledger, caller=f"evaluation-{seed}"
    )
    plain_heat = _monthly_releases(cells, months, domain, None, _NONE, ledger, caller="-")
    private_daily = _daily_release(daily, area_names, days, warning.min_cell_count)
    plain_daily = _daily_release(daily, area_names, days, 0)

    context = _Truth(planted_hotspots, planted_surges, area_names, start, end)
    private = context.score(private_heat, private_daily, warning.min_cell_count, alpha)
    plain = context.score(plain_heat, plain_daily, 0, alpha)
    timings["analyse"] = time.perf_counter() - clock - timings["seed"] - timings["read"]
    return {
        "seed": seed,
        "incidents": incidents,
        "reported_incidents": sum(t.count for t in daily),
        "period": {"start": start.isoformat(), "end": end.isoformat()},
        "areas": len(area_names),
        "planted": {
            "hotspots": len(planted_hotspots),
            "surges": len(planted_surges),
            "hotspot_unit": hotspot_unit,
        },
        "privacy": {
            "heatmap": {
                "purpose": heatmap.purpose,
                "epsilon_per_month": epsilon,
                "min_cell_count": heatmap.min_cell_count,
                "mechanism": "OpenDP discrete Laplace, sensitivity 1, k applied after noise",
                "months": len(months),
                "cells_in_domain": len(domain),
            },
            "warning": {
                "purpose": warning.purpose,
                "epsilon": warning.epsilon,
                "min_cell_count": warning.min_cell_count,
            },
        },
        "method": {
            "h3_resolution": HEATMAP_RESOLUTION,
            "warning_alpha": alpha,
            "warning_baseline_days": DEFAULT_BASELINE_DAYS,
            "warning_windows": list(DEFAULT_WINDOWS),
        },
        **private,
        "no_privacy": plain,
        "elapsed_seconds": {k: round(v, 2) for k, v in timings.items()}
        | {"total": round(time.perf_counter() - clock, 2)},
    }


def _monthly_releases(
    cells: Sequence[Tally],
    months: Sequence[tuple[date, date]],
    domain: frozenset[str],
    epsilon: float | None,
    obligations: Obligations,
    ledger: BudgetLedger,
    *,
    caller: str,
) -> list[Release[str]]:
    """One release per month, each spending that month's budget as the policy would."""
    ordered = sorted(domain)
    releases = []
    for first, _after in months:
        counts = {t.cell: t.count for t in cells if t.cell is not None and t.when == first}
        if epsilon is not None and obligations.epsilon is not None:
            ledger.spend(
                BudgetKey(caller, obligations.purpose, first.strftime("%Y-%m")),
                epsilon,
                limit=obligations.epsilon,
            )
        releases.append(
            privatise(
                counts,
                domain=ordered,
                epsilon=epsilon if obligations.epsilon is not None else None,
                min_count=obligations.min_cell_count,
            )
        )
    return releases


def _daily_release(
    daily: Sequence[Tally], areas: Sequence[str], days: Sequence[date], min_count: int
) -> list[Tally]:
    counts = {(t.area, t.when): t.count for t in daily if t.area is not None}
    domain = [(a, d) for a in areas for d in days]
    release = privatise(counts, domain=domain, epsilon=None, min_count=min_count)
    return [Tally(n, REPORTED, area=a, when=d) for (a, d), n in release.counts.items()]


def _cell_domain(areas: dict[str, tuple[str, int]]) -> frozenset[str]:
    """Every resolution-8 cell that can hold part of a kecamatan, from the public geography
    (its centroid and the radius of a disc of its area), fixed before any count is seen."""
    from adapters.geography import KECAMATAN

    discs = [
        (k.lat, k.lon, (k.area_km2 * 1e6 / 3.141592653589793) ** 0.5)
        for k in KECAMATAN
        if k.name in areas
    ]
    return frozenset(_h3.cells_near(discs, HEATMAP_RESOLUTION))


def _month_starts(start: date, end: date) -> list[tuple[date, date]]:
    bounds = [start]
    cursor = start
    while cursor < end:
        cursor = (cursor.replace(day=1) + timedelta(days=32)).replace(day=1)
        bounds.append(min(cursor, end))
    return list(pairwise(bounds))


@dataclass(frozen=True, slots=True)
class _Truth:
    hotspots: Sequence[_sql.PlantedHotspot]
    surges: Sequence[_sql.PlantedSurge]
    areas: Sequence[str]
    start: date
    end: date

    def score(
        self,
        heat: Sequence[Release[str]],
        daily: Sequence[Tally],
        min_count: int,
        alpha: float,
    ) -> dict[str, Any]:
        result: dict[str, Any] = {}
        result.update(self._hotspot_scores(sum_releases(heat)))
        alerts = early_warnings(
            daily,
            start=self.start,
            end=self.end,
            min_count=min_count,
            alpha=alpha,
            areas=self.areas,
        )
        result.update(self._warning_scores(alerts))
        return result

    def _hotspot_scores(self, year: dict[str, int]) -> dict[str, Any]:
        k = 2 * len(self.hotspots)
        top = hotspots(year, k)

        def touches(cell: str, h: _sql.PlantedHotspot) -> bool:
            return _h3.distance_to_cell_m(cell, h.lat, h.lon) <= h.radius_m

        def recall_precision(top: Sequence[Hotspot]) -> tuple[float | None, float | None]:
            found = [h for h in self.hotspots if any(touches(t.cell, h) for t in top)]
            hits = [t for t in top if any(touches(t.cell, h) for h in self.hotspots)]
            recall = len(found) / len(self.hotspots) if self.hotspots else None
            return recall, len(hits) / len(top) if top else None

        recall, precision = recall_precision(top)
        curve = []
        for factor in (1, 2, 3):
            r, p = recall_precision(hotspots(year, factor * len(self.hotspots)))
            curve.append({"k": factor * len(self.hotspots), "recall": r, "precision": p})
        return {
            "hotspot_k": k,
            "hotspot_recall": recall,
            "hotspot_precision": precision,
            "hotspots_missed": [
                h.label for h in self.hotspots if not any(touches(t.cell, h) for t in top)
            ],
            "hotspot_curve": curve,
        }

    def _warning_scores(self, alerts: Sequence[Alert]) -> dict[str, Any]:
        episodes = alert_episodes(alerts)
        surges = []
        delays = []
        for s in self.surges:
            hits = [a for a in alerts if a.area == s.area and s.first_day <= a.day < s.end_day]
            delay = (hits[0].day - s.first_day).days if hits else None
            if delay is not None:
                delays.append(delay)
            surges.append(
                {
                    "label": s.label,
                    "kecamatan": s.area,
                    "first_day": s.first_day.isoformat(),
                    "days": (s.end_day - s.first_day).days,
                    "detected": delay is not None,
                    "delay_days": delay,
                }
            )

        def attributable(alert: Alert) -> bool:
            return any(
                s.area == alert.area and alert.first_day < s.end_day and alert.day >= s.first_day
                for s in self.surges
            )

        false = [e for e in episodes if not any(attributable(a) for a in e.alerts)]
        first_monitored = self.start + timedelta(
            days=DEFAULT_BASELINE_DAYS + max(DEFAULT_WINDOWS) - 1
        )
        area_months = len(self.areas) * (self.end - first_monitored).days / _AREA_MONTH_DAYS
        return {
            "warning_detection_rate": len(delays) / len(self.surges) if self.surges else None,
            "warning_delay_days": sum(delays) / len(delays) if delays else None,
            "false_alarms_per_area_month": len(false) / area_months,
            "false_alarms": len(false),
            "alert_episodes": len(episodes),
            "area_months": round(area_months, 1),
            "surges": surges,
        }
