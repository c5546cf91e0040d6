"""What a heatmap picture prints besides the cells: the basemap's named areas and the legend.

`basemap_from_geojson` reads a GeoJSON FeatureCollection such as the consoles'
`basemap.geojson` into kecamatan outlines with names and an attribution; `Legend` is the
release's provenance (period, ε and k, the audit receipt, the source), printed in
Bahasa Indonesia, then English.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = ["Area", "Basemap", "Legend", "basemap_from_geojson"]


@dataclass(frozen=True)
class Area:
    """A named area (a kecamatan) drawn over the cells: its outer rings, as (lat, lon)."""

    name: str
    rings: tuple[tuple[tuple[float, float], ...], ...]


@dataclass(frozen=True)
class Basemap:
    """Areas to outline and name over the map, and the attribution printed under it."""

    areas: tuple[Area, ...]
    notice: str
    approximate: bool


def basemap_from_geojson(data: bytes | str) -> Basemap:
    """A `Basemap` from a GeoJSON FeatureCollection such as the consoles' `basemap.geojson`.

    Polygon and MultiPolygon features are areas, named by their `kecamatan` (or `name`)
    property; other features are skipped. The collection's `notice` becomes the attribution,
    and `approximate` (default true: a basemap is not a survey) adds "perkiraan / approximate".
    Raises `ValueError` for text that is not such a collection.
    """
    doc = json.loads(data)
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise ValueError("a basemap must be a GeoJSON FeatureCollection")
    areas = []
    for feature in doc.get("features", []):
        geometry = feature.get("geometry") or {}
        props = feature.get("properties") or {}
        name = str(props.get("kecamatan") or props.get("name") or "")
        kind = geometry.get("type")
        polygons: list[Any] = (
            [geometry["coordinates"]]
            if kind == "Polygon"
            else geometry["coordinates"]
            if kind == "MultiPolygon"
            else []
        )
        rings = tuple(
            tuple((float(lat), float(lon)) for lon, lat, *_ in polygon[0])
            for polygon in polygons
            if polygon
        )
        if rings:
            areas.append(Area(name, rings))
    approximate = bool(doc.get("approximate", True))
    notice = str(doc.get("notice") or "")
    if approximate and not notice:
        notice = "Batas wilayah perkiraan / approximate boundaries"
    return Basemap(tuple(areas), notice, approximate)


@dataclass(frozen=True)
class Legend:
    """What the release was: printed in the legend so the picture carries its own provenance.

    `period`: the time the counts cover; `epsilon` and `k`: the release's privacy parameters;
    `receipt`: the audit receipt (entry index, log size and root, as the caller received them);
    `source`: who released the counts. Empty fields are left out.
    """

    period: str = ""
    epsilon: str = ""
    k: int | None = None
    receipt: str = ""
    source: str = ""

    def lines(self) -> list[str]:
        out = []
        if self.period:
            out.append(f"Periode / Period: {self.period}")
        privacy = ", ".join(
            part
            for part in (
                f"ε = {self.epsilon}" if self.epsilon else "",
                f"k = {self.k}" if self.k is not None else "",
            )
            if part
        )
        if privacy:
            out.append(f"Privasi diferensial / Differential privacy: {privacy}")
        if self.receipt:
            out.append(f"Tanda terima audit / Audit receipt: {self.receipt}")
        if self.source:
            out.append(f"Sumber / Source: {self.source}")
        return out
