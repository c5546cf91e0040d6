"""Evaluation of the hotspot and early-warning methods on a synthetic city with planted truth.

`evaluate(seed)`:

1. seeds a city into a temporary SQLite file with the generator's default settings (8 hotspots
   of factor 3 covering at most 2 % of the area, 2 surges of +60 % lasting 5-10 days, 365 days
   ending on `tools.city.DEFAULT_END`); only the number of incidents is chosen here;
2. reads aggregated counts with SQL GROUP BY (`tools.analytics.sql`): reported incidents per
   H3 cell (resolution 8) and local month, and per kecamatan and local day;
3. releases them as the adapters would, with the obligations registered in
   `policies/registry/purposes/data.json` (epsilon per release, minimum cell count k after the
   noise, each over a domain fixed from the public geography and the calendar): one heatmap
   per month for `spatial_planning`, and the daily counts per kecamatan for
   `public_order_early_warning` as the warning stream releases them (the first day scanned
   with its 58-day lookback, then each day alone). Every release is charged epsilon on each
   data period it reads (`privacy_budget.period`), and a period over the purpose's
   `per_caller` budget fails the evaluation;
4. runs the methods and scores them against the planted truth, then again with no privacy at
   all (`no_privacy`), so the cost of privacy shows.

Scoring.
- Hotspots: the `hotspot_k` = 2 x (planted hotspots) top cells of the year's heatmap (the sum of
  the twelve monthly releases), taken as distinct peaks (`heatmap.hotspots`); twice as many
  slots as discs because a disc of up to 400 m often falls across two resolution-8 cells. A
  planted disc is found when a top cell contains its centre or comes within its radius (the
  cell contains or touches the disc). `hotspot_recall` = found discs / planted discs;
  `hotspot_precision` = top cells touching some disc / top cells.
- Release error: for every released cell (a cell-month of a heatmap, a kecamatan-day of the
  warning counts) the released value (a withheld cell as the imputed (k - 1) // 2) against
  the true count, as the median true count and the median and 90th percentile of the absolute
  error (`release_error`).
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

import json
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any, Final, Literal, TypeVar

from adapters.noise import Release, privatise
from gateway.analytics.heatmap import Hotspot, hotspots, sum_releases
from gateway.analytics.operations import WARNING_LOOKBACK_DAYS
from gateway.analytics.tally import REPORTED, Tally
from gateway.analytics.warning import (
    DEFAULT_ALPHA,
    DEFAULT_BASELINE_DAYS,
    DEFAULT_WINDOWS,
    Alert,
    alert_episodes,
    early_warnings,
)
from gateway.errors import ConfigurationError
from gateway.protocol import cells as _h3
from gateway.protocol.release import BUDGET_SLACK
from tools.analytics import sql as _sql

__all__ = ["DEFAULT_INCIDENTS", "POLICY", "REGISTRY", "Obligations", "evaluate"]

DEFAULT_INCIDENTS = 500_000
HEATMAP_RESOLUTION = 8
_DAYS = 365
_AREA_MONTH_DAYS = 30.4375
_PERSONS = 1_000
K = TypeVar("K")
# The stream's first release reads the lookback before its first day.
_LOOKBACK = WARNING_LOOKBACK_DAYS


REGISTRY = Path(__file__).parents[2] / "policies" / "registry" / "purposes" / "data.json"
# What `evaluate` takes for an epsilon that follows the registry.
POLICY: Final = "policy"


@dataclass(frozen=True, slots=True)
class Obligations:
    """The privacy obligations of a purpose, as `policies/registry/purposes/data.json` sets:
    epsilon per release, the data period a release is charged to, the budget per caller and
    period, and the minimum cell count k after the noise."""

    purpose: str
    epsilon: float | None
    period: str | None
    per_caller: float | None
    min_cell_count: int

    @classmethod
    def registered(cls, purpose: str, registry: Path = REGISTRY) -> Obligations:
        entry = json.loads(registry.read_text())[purpose]
        budget = entry.get("privacy_budget") or {}
        epsilon = entry.get("epsilon")
        per_caller = budget.get("per_caller")
        return cls(
            purpose,
            None if epsilon is None else float(epsilon),
            budget.get("period"),
            None if per_caller is None else float(per_caller),
            int(entry["min_cell_count"]),
        )

    def with_epsilon(self, epsilon: float | str | None) -> Obligations:
        """These obligations with another epsilon (None: no noise), for comparisons."""
        if epsilon == POLICY:
            return self
        return replace(self, epsilon=None if epsilon is None else float(epsilon))


_NONE = Obligations("none", None, None, None, 0)  # no privacy at all, for the comparison


class _Budget:
    """The epsilon charged per data period, checked against the purpose's budget per caller:
    the evaluation is one caller asking what the policy lets it ask."""

    def __init__(self, obligations: Obligations) -> None:
        self.obligations = obligations
        self.spent: dict[str, float] = defaultdict(float)

    def charge(self, days: Sequence[date]) -> None:
        ob = self.obligations
        if ob.epsilon is None:
            return
        if ob.period is None or ob.per_caller is None:
            raise ConfigurationError(f"purpose {ob.purpose!r} has an epsilon but no budget")
        for period in sorted({_period(d, ob.period) for d in days}):
            self.spent[period] += ob.epsilon
            if self.spent[period] > ob.per_caller + BUDGET_SLACK:
                raise ConfigurationError(
                    f"{ob.purpose}: the evaluation's releases spend epsilon "
                    f"{self.spent[period]:g} on {period}, over the budget of {ob.per_caller:g}"
                )


def _period(day: date, period: str) -> str:
    if period == "day":
        return day.isoformat()
    if period == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "month":
        return day.strftime("%Y-%m")
    raise ConfigurationError(f"unknown budget period {period!r}")


def evaluate(
    seed: int,
    *,
    incidents: int = DEFAULT_INCIDENTS,
    epsilon: float | str | None = POLICY,
    warning_epsilon: float | str | None = POLICY,
    alpha: float = DEFAULT_ALPHA,
    workdir: Path | None = None,
    hotspot_unit: Literal["cell", "disc"] = "cell",
    registry: Path = REGISTRY,
    kota: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Seed a city, run the methods with and without privacy, and score them (see the module).

    `epsilon` and `warning_epsilon` replace the registered epsilon of the heatmaps and of the
    warning counts (None: no noise, the minimum cell counts still apply; `POLICY`: as
    registered); `workdir` keeps the seeded database there instead of in a temporary
    directory; `hotspot_unit="disc"` seeds the harder city whose hotspot discs, not cells, have
    the planted rate ratio (`tools.city`); `kota` seeds only those kota (the whole city by
    default), which keeps a test small at the whole city's density.
    """
    from tools.city import DEFAULT_END, seed_city

    heatmap = Obligations.registered("spatial_planning", registry).with_epsilon(epsilon)
    warning = Obligations.registered("public_order_early_warning", registry).with_epsilon(
        warning_epsilon
    )
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
            kota=kota,
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

    private_heat = _monthly_releases(cells, months, domain, heatmap)
    plain_heat = _monthly_releases(cells, months, domain, _NONE)
    private_daily = _daily_releases(daily, area_names, days, warning)
    plain_daily = _daily_releases(daily, area_names, days, _NONE)

    true_cells = {(t.cell, t.when): t.count for t in cells}
    true_days = {(t.area, t.when): t.count for t in daily}
    context = _Truth(planted_hotspots, planted_surges, area_names, start, end)
    private = context.score(private_heat, private_daily, warning.min_cell_count, alpha)
    plain = context.score(plain_heat, plain_daily, 0, alpha)
    timings["analyse"] = time.perf_counter() - clock - timings["seed"] - timings["read"]
    return {
        "seed": seed,
        "incidents": incidents,
        "kota": sorted({k for k, _ in areas.values()}),
        "reported_incidents": sum(t.count for t in daily),
        "period": {"start": start.isoformat(), "end": end.isoformat()},
        "areas": len(area_names),
        "planted": {
            "hotspots": len(planted_hotspots),
            "surges": len(planted_surges),
            "hotspot_unit": hotspot_unit,
        },
        "privacy": {
            "mechanism": "OpenDP discrete Laplace, sensitivity 1, k applied after noise",
            "heatmap": _describe(heatmap) | {"months": len(months), "cells_in_domain": len(domain)},
            "warning": _describe(warning) | {"releases": 1 + _DAYS - _LOOKBACK - 1},
        },
        "release_error": {
            "heatmap_cell_month": _error(
                [
                    (true_cells.get((c, first), 0), _released(r, c))
                    for r, (first, _) in zip(private_heat, months, strict=True)
                    for c in domain
                ],
                heatmap.min_cell_count,
            ),
            "kecamatan_day": _error(
                [
                    (true_days.get((a, d), 0), _released(private_daily, (a, d)))
                    for a in area_names
                    for d in days
                ],
                warning.min_cell_count,
            ),
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


def _describe(ob: Obligations) -> dict[str, Any]:
    return {
        "purpose": ob.purpose,
        "epsilon_per_release": ob.epsilon,
        "budget_period": ob.period,
        "budget_per_caller": ob.per_caller,
        "min_cell_count": ob.min_cell_count,
    }


def _released(release: Release[K], key: K) -> int:
    """What a method reads for a cell: its released value, or the imputed one if withheld."""
    return release.counts.get(key, release.imputed)


def _error(pairs: Sequence[tuple[int, int]], min_count: int) -> dict[str, Any]:
    """The typical released cell against its true count, from (true, released) pairs (a
    withheld cell as imputed): over the cells that hold incidents, and how often an empty
    cell of the domain is released (its noise reached k)."""
    occupied = sorted(pairs)
    held = [(t, r) for t, r in occupied if t > 0]
    errors = sorted(abs(r - t) for t, r in held)
    empty = [r for t, r in occupied if t == 0]
    return {
        "cells": len(pairs),
        "cells_with_incidents": len(held),
        "median_true_count": statistics.median(t for t, _ in held) if held else 0,
        "median_abs_error": statistics.median(errors) if errors else 0,
        "p90_abs_error": errors[int(0.9 * (len(errors) - 1))] if errors else 0,
        "median_relative_error": (
            round(statistics.median(abs(r - t) / t for t, r in held), 4) if held else 0
        ),
        "empty_cells_released": (
            round(sum(1 for r in empty if r >= max(1, min_count)) / len(empty), 4) if empty else 0
        ),
    }


def _monthly_releases(
    cells: Sequence[Tally],
    months: Sequence[tuple[date, date]],
    domain: frozenset[str],
    obligations: Obligations,
) -> list[Release[str]]:
    """One release per month, each charged to the month it reads, as the policy would."""
    ordered = sorted(domain)
    budget = _Budget(obligations)
    releases = []
    for first, after in months:
        counts = {t.cell: t.count for t in cells if t.cell is not None and t.when == first}
        budget.charge([first + timedelta(days=i) for i in range((after - first).days)])
        releases.append(
            privatise(
                counts,
                domain=ordered,
                epsilon=obligations.epsilon,
                min_count=obligations.min_cell_count,
            )
        )
    return releases


def _daily_releases(
    daily: Sequence[Tally], areas: Sequence[str], days: Sequence[date], obligations: Obligations
) -> Release[tuple[str, date]]:
    """The daily counts per kecamatan as the warning stream releases them: the first day
    scanned with its lookback, then each day alone, each charged to the days it reads. The
    releases partition the cells, so they are returned as one table."""
    counts = {(t.area, t.when): t.count for t in daily if t.area is not None and t.when is not None}
    budget = _Budget(obligations)
    ticks = [list(days[: _LOOKBACK + 1])] + [[d] for d in days[_LOOKBACK + 1 :]]
    kept: dict[tuple[str, date], int] = {}
    withheld: set[tuple[str, date]] = set()
    for tick in ticks:
        budget.charge(tick)
        release = privatise(
            counts,
            domain=[(a, d) for a in areas for d in tick],
            epsilon=obligations.epsilon,
            min_count=obligations.min_cell_count,
        )
        kept.update(release.counts)
        withheld.update(release.suppressed)
    return Release(kept, frozenset(withheld), obligations.epsilon, obligations.min_cell_count)


def _cell_domain(areas: dict[str, tuple[str, int]]) -> frozenset[str]:
    """Every resolution-8 cell that can hold part of a kecamatan, from the public geography
    (its centroid and the radius of a disc of its area), fixed before any count is seen."""
    from gateway.protocol.geography import KECAMATAN

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
        daily: Release[tuple[str, date]],
        min_count: int,
        alpha: float,
    ) -> dict[str, Any]:
        """Scores of the released heatmaps and daily counts (the scan knows the daily
        counts' epsilon, as the client reads it from the signed plans)."""
        result: dict[str, Any] = {}
        result.update(self._hotspot_scores(sum_releases(heat)))
        # The scan of each day reads only its lookback, so one scan over the whole history is
        # the stream's day-by-day scan (test_analytics_warning checks the two agree).
        alerts = early_warnings(
            [Tally(n, REPORTED, area=a, when=d) for (a, d), n in daily.counts.items()],
            start=self.start,
            end=self.end,
            min_count=min_count,
            alpha=alpha,
            areas=self.areas,
            noise_epsilon=daily.epsilon,
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
