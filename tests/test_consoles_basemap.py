"""The consoles' approximate base layer (adapters/basemap.py) agrees with the synthetic city.

Every incident the seed places lies in its own kecamatan's outline and in no other one, up to
the sliver between the region's circular edge and the polygon drawn inside it.
"""

from __future__ import annotations

import itertools
import math
import sqlite3
from pathlib import Path

from adapters.basemap import basemap, region
from gateway.protocol.geography import KECAMATAN
from tools.city import seed_city

Ring = list[list[float]]


def inside(ring: Ring, lon: float, lat: float) -> bool:
    """Even-odd ray casting (the ring is closed)."""
    hit = False
    for (x1, y1), (x2, y2) in itertools.pairwise(ring):
        if (y1 > lat) != (y2 > lat) and lon < x1 + (lat - y1) * (x2 - x1) / (y2 - y1):
            hit = not hit
    return hit


def test_outlines_are_closed_convex_and_labelled() -> None:
    doc = basemap()
    outlines = [f for f in doc["features"] if f["properties"]["kind"] == "outline"]
    labels = [f for f in doc["features"] if f["properties"]["kind"] == "label"]
    assert len(outlines) == len(labels) == len(KECAMATAN) == 42
    assert doc["approximate"] is True
    assert "perkiraan" in doc["notice"].lower()
    for f in outlines:
        ring = f["geometry"]["coordinates"][0]
        assert ring[0] == ring[-1]
        assert len(ring) >= 4
    for i in range(len(KECAMATAN)):
        poly = region(i)
        # Counterclockwise (RFC 7946 exterior ring) and convex: every turn is to the left.
        for j in range(len(poly)):
            (ax, ay), (bx, by), (cx, cy) = poly[j - 2], poly[j - 1], poly[j]
            assert (bx - ax) * (cy - by) - (by - ay) * (cx - bx) >= -1e-6


def test_seeded_incidents_fall_in_their_own_outline(tmp_path: Path) -> None:
    url = tmp_path / "city.db"
    seed_city(f"sqlite:///{url}", incidents=3000, seed=5, persons=50)
    rings = {
        f["properties"]["kecamatan"]: f["geometry"]["coordinates"][0]
        for f in basemap()["features"]
        if f["properties"]["kind"] == "outline"
    }
    with sqlite3.connect(url) as db:
        rows = db.execute("SELECT kecamatan, lat, lon FROM incidents").fetchall()
    assert len(rows) == 3000
    by_name = {k.name: k for k in KECAMATAN}
    missed = 0
    for name, lat, lon in rows:
        others = [k for k, ring in rings.items() if k != name and inside(ring, lon, lat)]
        assert others == [], (name, others)
        if not inside(rings[name], lon, lat):
            k = by_name[name]
            radius = math.sqrt(k.area_km2 * 1e6 / math.pi)
            dx = (lon - k.lon) * 111_320.0 * math.cos(math.radians(-6.2))
            dy = (lat - k.lat) * 110_574.0
            # Only in the sliver outside the 96-gon inscribed in the region's circle.
            assert math.hypot(dx, dy) > radius * math.cos(math.pi / 96) - 5, name
            missed += 1
    assert missed < len(rows) * 0.01
