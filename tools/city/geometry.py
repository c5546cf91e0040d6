"""The city's map: a power diagram of equal-area kecamatan discs, hotspots, and placing points.

Each of the 42 kecamatan is a disc of its area at its centroid, on a local plane in metres; a
point belongs to the disc of least power distance, so every kecamatan owns a fixed region
whatever `kota` selects, and regions never overlap. Kelurahan are angular sectors around the
centroid. Hotspots are small discs planted wholly inside one region.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.random import Generator

from gateway.protocol.geography import KECAMATAN, KOTA_NAMES
from tools.city.arrays import B8, F64, I64, normalised
from tools.city.params import Params

HOTSPOT_RADIUS_M = (150.0, 400.0)
HOTSPOT_MAX_COVERAGE = 0.02  # of the seeded area; about one H3 res-8 cell per 37 km²
# The mean area of an H3 resolution-8 cell (h3.average_hexagon_area(8, "m^2")): the cell
# of the finest heatmap the default policy releases.
HOTSPOT_CELL_M2 = 737_327.6

# The local plane: metres east and north of a point in the middle of the city.
_LAT0, _LON0 = -6.2, 106.83
_M_PER_DEG_LAT = 110_574.0
_M_PER_DEG_LON = 111_320.0 * math.cos(math.radians(_LAT0))
_CX = np.array([(k.lon - _LON0) * _M_PER_DEG_LON for k in KECAMATAN])
_CY = np.array([(k.lat - _LAT0) * _M_PER_DEG_LAT for k in KECAMATAN])
RADIUS = np.sqrt(np.array([k.area_km2 for k in KECAMATAN]) * 1e6 / math.pi)
_R2 = RADIUS**2
POPULATION = np.array([k.population for k in KECAMATAN], dtype=np.float64)
KOTA_INDEX = np.array([KOTA_NAMES.index(k.kota) for k in KECAMATAN])
KELURAHAN = tuple(kel for k in KECAMATAN for kel in k.kelurahan)
KEL_COUNT = np.array([len(k.kelurahan) for k in KECAMATAN])
KEL_OFFSET = np.concatenate(([0], np.cumsum(KEL_COUNT)[:-1]))


def _owner(x: F64, y: F64) -> tuple[I64, B8]:
    """Index of the kecamatan whose region holds each point, and whether any region does."""
    owner = np.empty(len(x), dtype=np.int64)
    inside = np.empty(len(x), dtype=np.bool_)
    for s in range(0, len(x), 100_000):
        dx = x[s : s + 100_000, None] - _CX
        dy = y[s : s + 100_000, None] - _CY
        power = dx * dx + dy * dy - _R2
        best = power.argmin(axis=1)
        owner[s : s + 100_000] = best
        inside[s : s + 100_000] = power[np.arange(len(best)), best] <= 0.0
    return owner, inside


@lru_cache(maxsize=1)
def region_area_m2() -> F64:
    """Area of each kecamatan's region, counted on a 50 m grid."""
    step = 50.0
    xs = np.arange((_CX - RADIUS).min(), (_CX + RADIUS).max(), step)
    ys = np.arange((_CY - RADIUS).min(), (_CY + RADIUS).max(), step)
    gx, gy = np.meshgrid(xs, ys)
    owner, inside = _owner(gx.ravel(), gy.ravel())
    counts = np.bincount(owner[inside], minlength=len(KECAMATAN))
    return counts.astype(np.float64) * step * step


def kelurahan_index(kec: I64, x: F64, y: F64) -> I64:
    """Kelurahan as angular sectors of their kecamatan around its centroid."""
    angle = np.arctan2(y - _CY[kec], x - _CX[kec])
    n = KEL_COUNT[kec]
    sector = np.minimum((((angle + math.pi) / (2 * math.pi)) * n).astype(np.int64), n - 1)
    return np.asarray(KEL_OFFSET[kec] + sector, dtype=np.int64)


def to_lat_lon(x: F64, y: F64) -> tuple[F64, F64]:
    """Points of the local plane as latitude and longitude, rounded to six places as stored."""
    return np.round(_LAT0 + y / _M_PER_DEG_LAT, 6), np.round(_LON0 + x / _M_PER_DEG_LON, 6)


@dataclass(frozen=True, slots=True)
class Hotspot:
    """A planted hotspot: a disc of `radius` metres at (x, y), inside kecamatan `kec`'s region."""

    kec: int
    x: float
    y: float
    radius: float


def plant_hotspots(rng: Generator, p: Params) -> list[Hotspot]:
    """Discs wholly inside one region, with a ring of twice their radius clear around them.

    The clear ring is what the rate ratio is measured against, so it must lie in the same
    region and touch no other hotspot.
    """
    if p.hotspots == 0:
        return []
    budget = HOTSPOT_MAX_COVERAGE * float(region_area_m2()[p.kecamatan].sum())
    wanted = rng.uniform(*HOTSPOT_RADIUS_M, size=p.hotspots)
    radii = wanted
    scale = 1.0
    while float(np.sum(math.pi * radii**2)) > budget:
        if np.all(radii <= HOTSPOT_RADIUS_M[0]):
            raise ValueError(
                f"{p.hotspots} hotspots of radius {HOTSPOT_RADIUS_M[0]:.0f} m or more cover "
                f"over {HOTSPOT_MAX_COVERAGE:.0%} of {budget / HOTSPOT_MAX_COVERAGE / 1e6:.0f}"
                " km²; ask for fewer"
            )
        scale *= 0.97
        radii = np.maximum(HOTSPOT_RADIUS_M[0], wanted * scale)
    weights = normalised(POPULATION[p.kecamatan])
    ring = np.linspace(0.0, 2 * math.pi, 64, endpoint=False)
    placed: list[Hotspot] = []
    for radius in sorted(radii.tolist(), reverse=True):
        for _attempt in range(2000):
            kec = int(p.kecamatan[rng.choice(len(p.kecamatan), p=weights)])
            reach = RADIUS[kec] - 2 * radius
            u, v = rng.random(2)
            if reach <= 0:
                continue
            x = _CX[kec] + reach * math.sqrt(u) * math.cos(2 * math.pi * v)
            y = _CY[kec] + reach * math.sqrt(u) * math.sin(2 * math.pi * v)
            owner, inside = _owner(
                x + 2.05 * radius * np.cos(ring), y + 2.05 * radius * np.sin(ring)
            )
            if not (np.all(owner == kec) and np.all(inside)):
                continue
            if any(math.hypot(x - h.x, y - h.y) < 2 * (radius + h.radius) for h in placed):
                continue
            placed.append(Hotspot(kec, x, y, radius))
            break
        else:
            raise ValueError(f"could not place {p.hotspots} hotspots apart; ask for fewer")
    return placed


def place(
    rng: Generator, zone: I64, n_kec: int, zone_kec: I64, hotspots: Sequence[Hotspot]
) -> tuple[F64, F64]:
    """Points uniform in each hotspot disc, and uniform over each kecamatan's region."""
    x = np.empty(len(zone))
    y = np.empty(len(zone))
    hot = np.flatnonzero(zone >= n_kec)
    if len(hot):
        h = zone[hot] - n_kec
        hx = np.array([s.x for s in hotspots])
        hy = np.array([s.y for s in hotspots])
        hr = np.array([s.radius for s in hotspots])
        r = hr[h] * np.sqrt(rng.random(len(hot)))
        t = 2 * math.pi * rng.random(len(hot))
        x[hot] = hx[h] + r * np.cos(t)
        y[hot] = hy[h] + r * np.sin(t)
    pending = np.flatnonzero(zone < n_kec)
    while len(pending):
        kec = zone_kec[zone[pending]]
        r = RADIUS[kec] * np.sqrt(rng.random(len(pending)))
        t = 2 * math.pi * rng.random(len(pending))
        cx = _CX[kec] + r * np.cos(t)
        cy = _CY[kec] + r * np.sin(t)
        owner, _ = _owner(cx, cy)
        ok = owner == kec
        x[pending[ok]] = cx[ok]
        y[pending[ok]] = cy[ok]
        pending = pending[~ok]
    return x, y
