"""Typed wrappers of the few H3 (v4) calls the analytics use; internal.

h3-py ships no type information, so the untyped import stays in this one module.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import h3  # type: ignore[import-untyped]

MAX_RESOLUTION = 15
_M_PER_DEG_LAT = 110_574.0
_M_PER_DEG_LON_EQUATOR = 111_320.0


def check_resolution(resolution: int) -> int:
    if not 0 <= resolution <= MAX_RESOLUTION:
        raise ValueError(f"H3 resolution {resolution} is outside 0..{MAX_RESOLUTION}")
    return resolution


def cell_of(lat: float, lon: float, resolution: int) -> str:
    """The H3 cell holding the point (`h3.latlng_to_cell`)."""
    return str(h3.latlng_to_cell(lat, lon, check_resolution(resolution)))


def resolution_of(cell: str) -> int:
    return int(h3.get_resolution(cell))


def parent(cell: str, resolution: int) -> str:
    return str(h3.cell_to_parent(cell, resolution))


def ring(cell: str, k: int = 1) -> list[str]:
    """The cells at grid distance exactly `k`: six for k = 1 (five around a pentagon)."""
    return [str(c) for c in h3.grid_ring(cell, k)]


def disk(cell: str, k: int) -> list[str]:
    """The cells within grid distance `k`, `cell` included."""
    return [str(c) for c in h3.grid_disk(cell, k)]


def is_valid(cell: str) -> bool:
    return bool(h3.is_valid_cell(cell))


def boundary(cell: str) -> list[tuple[float, float]]:
    return [(float(lat), float(lon)) for lat, lon in h3.cell_to_boundary(cell)]


def centre(cell: str) -> tuple[float, float]:
    lat, lon = h3.cell_to_latlng(cell)
    return float(lat), float(lon)


def edge_length_m(resolution: int) -> float:
    return float(h3.average_hexagon_edge_length(resolution, unit="m"))


def distance_to_cell_m(cell: str, lat: float, lon: float) -> float:
    """Metres from a point to the cell's hexagon (0 inside it), on a local flat projection.

    Good to a fraction of a metre at city scale, which is all the matching of hotspots needs.
    """
    if h3.latlng_to_cell(lat, lon, resolution_of(cell)) == cell:
        return 0.0
    kx = _M_PER_DEG_LON_EQUATOR * math.cos(math.radians(lat))
    points = [
        ((v_lon - lon) * kx, (v_lat - lat) * _M_PER_DEG_LAT) for v_lat, v_lon in boundary(cell)
    ]
    return min(
        _segment_distance(points[i], points[(i + 1) % len(points)]) for i in range(len(points))
    )


def _segment_distance(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Distance from the origin to the segment a-b."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else max(0.0, min(1.0, -(a[0] * dx + a[1] * dy) / length2))
    return math.hypot(a[0] + t * dx, a[1] + t * dy)


def cells_near(points: Iterable[tuple[float, float, float]], resolution: int) -> set[str]:
    """Every cell that may hold a point within `radius_m` of one of the (lat, lon, radius_m)."""
    edge = edge_length_m(resolution)
    cells: set[str] = set()
    for lat, lon, radius_m in points:
        k = math.ceil(radius_m / (edge * 1.5)) + 1
        cells.update(disk(cell_of(lat, lon, resolution), k))
    return cells
