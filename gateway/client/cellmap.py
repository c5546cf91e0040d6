"""Released heatmap cells, checked and projected: what both pictures draw (pure).

Input is `{H3 cell id: count}`, every cell at one resolution, as a heatmap release gives it;
`None` marks a cell of the release's domain that was withheld (below the minimum count after
the noise). Projection: equirectangular about the cells' middle latitude (x = lon *
cos(lat_mid), y = lat), which at the scale of a kota distorts lengths by well under 1 %. Each
hexagon is the polygon of `h3.cell_to_boundary`.

Colour: viridis (matplotlib's default map; perceptually uniform, ordered in lightness, so it
reads in greyscale and for the common colour-vision deficiencies), interpolated between nine
published anchors, linear in the count from the smallest released count to the largest;
withheld cells are grey.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from gateway.analytics.tally import InvalidTally
from gateway.protocol import cells as _h3

__all__ = ["RGB", "WITHHELD_COLOUR", "CellMap", "Cells", "cell_colour", "palette", "prepare_cells"]

RGB = tuple[int, int, int]
Cells = Mapping[str, int | None]

# matplotlib's viridis at 0, 1/8, ..., 1.
_VIRIDIS: Final[tuple[RGB, ...]] = (
    (68, 1, 84),
    (72, 40, 120),
    (62, 73, 137),
    (49, 104, 142),
    (38, 130, 142),
    (31, 158, 137),
    (53, 183, 121),
    (110, 206, 88),
    (253, 231, 37),
)
WITHHELD_COLOUR: Final[RGB] = (176, 176, 176)


def palette(fraction: float) -> RGB:
    """The colour of `fraction` (0 lowest, 1 highest; clamped) on the viridis scale."""
    f = min(1.0, max(0.0, fraction)) * (len(_VIRIDIS) - 1)
    i = min(int(f), len(_VIRIDIS) - 2)
    t = f - i
    a, b = _VIRIDIS[i], _VIRIDIS[i + 1]
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


@dataclass(frozen=True)
class CellMap:
    """The validated cells, their projected hexagons and bounds, and the released range."""

    counts: dict[str, int | None]
    resolution: int
    kx: float  # cos(middle latitude): projected x is lon * kx
    hexagons: dict[str, list[tuple[float, float]]]  # (x east, y south), in degrees of latitude
    left: float
    top: float
    right: float
    bottom: float
    low: int | None  # smallest and largest released count; None when all are withheld
    high: int | None

    def fraction(self, count: int) -> float:
        if self.low is None or self.high is None or self.high == self.low:
            return 1.0
        return (count - self.low) / (self.high - self.low)

    def ordered(self) -> list[str]:
        """Cells from withheld, then lowest count, to highest; ties by id (deterministic)."""
        return sorted(
            self.counts, key=lambda c: (self.counts[c] is not None, self.counts[c] or 0, c)
        )


def prepare_cells(cells: Cells) -> CellMap:
    """Check `cells` (H3 ids at one resolution, integer counts or None) and project them;
    raises `InvalidTally`."""
    if not cells:
        raise InvalidTally("a heatmap picture needs at least one cell")
    resolutions = set()
    for cell, count in cells.items():
        if not isinstance(cell, str) or not _h3.is_valid(cell):
            raise InvalidTally(f"{cell!r} is not an H3 cell id")
        if count is not None and (isinstance(count, bool) or not isinstance(count, int)):
            raise InvalidTally(f"cell {cell}: count {count!r} is neither an integer nor None")
        resolutions.add(_h3.resolution_of(cell))
    if len(resolutions) != 1:
        shown = ", ".join(str(r) for r in sorted(resolutions))
        raise InvalidTally(f"heatmap cells must share one H3 resolution, not {shown}")
    boundaries = {cell: _h3.boundary(cell) for cell in cells}
    lats = [lat for b in boundaries.values() for lat, _ in b]
    kx = math.cos(math.radians((min(lats) + max(lats)) / 2))
    hexagons = {cell: [(lon * kx, -lat) for lat, lon in b] for cell, b in boundaries.items()}
    xs = [x for h in hexagons.values() for x, _ in h]
    ys = [y for h in hexagons.values() for _, y in h]
    released = [n for n in cells.values() if n is not None]
    return CellMap(
        counts=dict(cells),
        resolution=resolutions.pop(),
        kx=kx,
        hexagons=hexagons,
        left=min(xs),
        top=min(ys),
        right=max(xs),
        bottom=max(ys),
        low=min(released) if released else None,
        high=max(released) if released else None,
    )


def cell_colour(m: CellMap, count: int | None) -> RGB:
    return WITHHELD_COLOUR if count is None else palette(m.fraction(count))
