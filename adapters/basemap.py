"""An approximate base layer of the synthetic city: kecamatan outlines and names as GeoJSON.

The synthetic city (tools/city/) places each kecamatan's incidents in its region of a
power diagram of equal-area discs around the reference centroids (gateway/protocol/geography.py).
Each region is convex: the disc cut by one half-plane per other kecamatan (the points whose
power distance to this centre is not larger). So the outline is exact for the demo's data up
to the disc drawn as a polygon, and only approximate for the real city: the file says so.

Pure: `basemap()` is a function of the reference geography; `tools/consoles.py` writes it.
"""

from __future__ import annotations

import math
from typing import Any

from gateway.protocol.geography import KECAMATAN

# The seed's local plane (tools/city/): metres east and north of a point in the city.
_LAT0, _LON0 = -6.2, 106.83
_M_PER_DEG_LAT = 110_574.0
_M_PER_DEG_LON = 111_320.0 * math.cos(math.radians(_LAT0))
_DISC_VERTICES = 96
NOTICE = (
    "Batas kecamatan perkiraan (dari geografi rujukan kota sintetis), bukan batas resmi / "
    "Approximate kecamatan outlines (from the synthetic city's reference geography), "
    "not official boundaries"
)

Point = tuple[float, float]


def _clip(polygon: list[Point], a: float, b: float, c: float) -> list[Point]:
    """Sutherland-Hodgman: the part of a convex polygon where a*x + b*y <= c."""
    out: list[Point] = []
    for i, p in enumerate(polygon):
        q = polygon[(i + 1) % len(polygon)]
        fp, fq = a * p[0] + b * p[1] - c, a * q[0] + b * q[1] - c
        if fp <= 0:
            out.append(p)
        if (fp < 0 < fq) or (fq < 0 < fp):
            t = fp / (fp - fq)
            out.append((p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])))
    return out


def region(index: int) -> list[Point]:
    """Kecamatan `index`'s region in the local plane, counterclockwise (metres)."""
    centres = [
        ((k.lon - _LON0) * _M_PER_DEG_LON, (k.lat - _LAT0) * _M_PER_DEG_LAT) for k in KECAMATAN
    ]
    r2 = [k.area_km2 * 1e6 / math.pi for k in KECAMATAN]
    cx, cy = centres[index]
    radius = math.sqrt(r2[index])
    polygon = [
        (
            cx + radius * math.cos(2 * math.pi * i / _DISC_VERTICES),
            cy + radius * math.sin(2 * math.pi * i / _DISC_VERTICES),
        )
        for i in range(_DISC_VERTICES)
    ]
    for j, (ox, oy) in enumerate(centres):
        if j == index or not polygon:
            continue
        # |p - c_i|^2 - r_i^2 <= |p - c_j|^2 - r_j^2, which is linear in p.
        a, b = 2 * (ox - cx), 2 * (oy - cy)
        c = (ox * ox + oy * oy - r2[j]) - (cx * cx + cy * cy - r2[index])
        polygon = _clip(polygon, a, b, c)
    return polygon


def _lon_lat(p: Point) -> list[float]:
    return [round(_LON0 + p[0] / _M_PER_DEG_LON, 6), round(_LAT0 + p[1] / _M_PER_DEG_LAT, 6)]


def basemap() -> dict[str, Any]:
    """The outlines and label points as an RFC 7946 FeatureCollection (rings closed, CCW)."""
    features: list[dict[str, Any]] = []
    for i, k in enumerate(KECAMATAN):
        ring = [_lon_lat(p) for p in region(i)]
        props = {
            "kecamatan": k.name,
            "kota": k.kota,
            "population": k.population,
            "area_km2": k.area_km2,
        }
        features.append(
            {
                "type": "Feature",
                "id": f"31{KECAMATAN[i].code}-{i}",
                "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
                "properties": props | {"kind": "outline"},
            }
        )
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [k.lon, k.lat]},
                "properties": props | {"kind": "label"},
            }
        )
    return {
        "type": "FeatureCollection",
        "approximate": True,
        "notice": NOTICE,
        "features": features,
    }
