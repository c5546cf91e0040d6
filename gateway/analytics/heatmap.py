"""Heatmaps: reported incidents per H3 cell, and the hotspots that stand out in them.

`h3_cell` is the one function that turns a place into a cell (`h3.latlng_to_cell`); adapters use
it (in SQLite, as a registered SQL function) so that the grouping happens where the rows are.
`heatmap` folds aggregated counts into cells of one resolution; `hotspots` ranks the cells that
are busier than everything around them.

Hotspots. A hotspot is a small place much busier than its surroundings. At resolution 8 (cells
of about 0.74 km²) a hotspot of a few hundred metres covers part of one cell, or falls across two,
so a cell is compared with the SECOND busiest of its six neighbours (the busiest may be the other
half of the same hotspot). Comparing with the busiest neighbours rather than their mean is what
keeps the edge between a dense and a sparse kecamatan from looking like a hotspot: a cell on the
dense side has neighbours on its own side that are as busy as it is. The score is the log rate
ratio over its standard error, with an overdispersion term (`overdispersion`, the relative
variation between neighbouring cells that is not Poisson noise) so that large counts do not win
on volume alone. The top cells are taken greedily as distinct peaks: once a cell is chosen, its
neighbours are not (non-maximum suppression), so one hotspot takes one place in the list.

Limits. A hotspot much smaller than a cell raises its cell's count only a little (a disc of
150 m radius is a tenth of a resolution-8 cell) and can be missed; a hotspot at the edge of a
busier area is compared with that busier area and can be missed too. The method sees only where
incidents were reported, not why: a busy market, a transport hub or a reporting campaign all
look like hotspots.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from gateway.analytics.tally import InvalidTally, Tally, in_window, reported
from gateway.protocol import cells as _h3

__all__ = ["Hotspot", "h3_cell", "heatmap", "hotspots", "sum_releases"]

DEFAULT_OVERDISPERSION = 0.05


class ReleasedCells(Protocol):
    """A released heatmap as the adapter's noise step gives it (`adapters.noise.Release`)."""

    @property
    def counts(self) -> Mapping[str, int]: ...

    @property
    def suppressed(self) -> frozenset[str]: ...

    @property
    def imputed(self) -> int: ...


def h3_cell(lat: float, lon: float, resolution: int) -> str:
    """The H3 cell (as its hex string) holding a point, at `resolution` 0..15."""
    return _h3.cell_of(lat, lon, resolution)


def heatmap(
    tallies: Iterable[Tally],
    *,
    resolution: int,
    start: date | None = None,
    end: date | None = None,
    categories: Collection[str] | None = None,
) -> dict[str, int]:
    """Reported incidents per H3 cell at `resolution`, within [start, end) and `categories`.

    Counts at a finer resolution are folded into their parent cells; a coarser count cannot be
    split and raises `InvalidTally`. Police-initiated counts are left out (`reported`).
    """
    _h3.check_resolution(resolution)
    wanted = None if categories is None else frozenset(categories)
    cells: dict[str, int] = defaultdict(int)
    for t in reported(tallies):
        if t.cell is None:
            raise InvalidTally("a heatmap needs counts grouped by H3 cell")
        if wanted is not None:
            if t.category is None:
                raise InvalidTally("categories were asked for but the counts carry none")
            if t.category not in wanted:
                continue
        if not in_window(t, start, end):
            continue
        cell_resolution = _h3.resolution_of(t.cell)
        if cell_resolution < resolution:
            raise InvalidTally(
                f"cell {t.cell} is at resolution {cell_resolution}, coarser than {resolution}"
            )
        cell = t.cell if cell_resolution == resolution else _h3.parent(t.cell, resolution)
        cells[cell] += t.count
    return dict(cells)


def sum_releases(releases: Iterable[ReleasedCells]) -> dict[str, int]:
    """Add up released heatmaps (e.g. the months of a year), a withheld cell counting as
    `Release.imputed`. Summing noisy releases is post-processing: it costs no more budget."""
    total: dict[str, int] = defaultdict(int)
    for release in releases:
        for cell, count in release.counts.items():
            total[cell] += count
        for cell in release.suppressed:
            total[cell] += release.imputed
    return dict(total)


@dataclass(frozen=True, slots=True)
class Hotspot:
    """A cell that stands out: its count, what it was compared with, and by how much."""

    cell: str
    count: int
    baseline: int  # the second busiest neighbour's count
    score: float  # log rate ratio over its standard error


def hotspots(
    cells: Mapping[str, int],
    k: int,
    *,
    overdispersion: float = DEFAULT_OVERDISPERSION,
) -> list[Hotspot]:
    """The `k` highest-scoring cells that are distinct peaks (no two adjacent), best first.

    A cell missing from `cells` counts as zero. Only cells with a positive score (busier than
    their second busiest neighbour) are returned, so the list may be shorter than `k`.
    """
    if k < 0:
        raise ValueError(f"k cannot be negative, not {k}")
    if overdispersion < 0:
        raise ValueError(f"overdispersion cannot be negative, not {overdispersion}")
    scored: list[Hotspot] = []
    for cell, count in cells.items():
        if count <= 0:
            continue
        around = sorted((cells.get(c, 0) for c in _h3.ring(cell, 1)), reverse=True)
        baseline = around[1] if len(around) > 1 else 0
        scored.append(Hotspot(cell, count, baseline, _score(count, baseline, overdispersion)))
    scored.sort(key=lambda h: (-h.score, h.cell))
    chosen: list[Hotspot] = []
    blocked: set[str] = set()
    for h in scored:
        if len(chosen) == k or h.score <= 0:
            break
        if h.cell in blocked:
            continue
        chosen.append(h)
        blocked.update(_h3.disk(h.cell, 1))
    return chosen


def _score(count: int, baseline: int, overdispersion: float) -> float:
    # log(n / m) / sqrt(1/n + 1/m + 2 phi^2): Poisson variance of each log count plus the
    # structural variation phi of each; m is floored at 1 so an empty neighbourhood stays finite.
    m = max(baseline, 1)
    variance = 1.0 / count + 1.0 / m + 2.0 * overdispersion * overdispersion
    return math.log(count / m) / math.sqrt(variance)
