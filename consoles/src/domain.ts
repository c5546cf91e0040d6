// The heatmap's public domain: the H3 cells the adapters release or withhold, fixed before
// the data is read (ADR 0009). Mirrors adapters/privacy.py `_h3_cells`: for each kecamatan,
// the disc of its area around its centroid, every cell within ceil(r / (1.5 edge)) + 1 rings
// of the centroid's cell. A domain cell that is not released was withheld, not zero.
import { getHexagonEdgeLengthAvg, gridDisk, latLngToCell, UNITS } from "h3-js";

interface Props {
  kecamatan: string;
  kota: string;
  population: number;
  area_km2: number;
}

export interface Outline {
  type: "Feature";
  geometry: { type: "Polygon"; coordinates: number[][][] };
  properties: Props & { kind: "outline" };
}

export interface Label {
  type: "Feature";
  geometry: { type: "Point"; coordinates: [number, number] };
  properties: Props & { kind: "label" };
}

export interface Basemap {
  type: "FeatureCollection";
  approximate: boolean;
  notice: string;
  features: (Outline | Label)[];
  /** Served by an agent whose deployment gives a PMTiles base layer: the file's path. */
  pmtiles?: string;
}

export function publicDomain(base: Basemap, resolution: number, kota: string | null): Set<string> {
  const edge = getHexagonEdgeLengthAvg(resolution, UNITS.m);
  const cells = new Set<string>();
  for (const f of base.features) {
    if (f.properties.kind !== "label" || (kota !== null && f.properties.kota !== kota)) continue;
    const [lon, lat] = f.geometry.coordinates as [number, number];
    const radius = Math.sqrt((f.properties.area_km2 * 1e6) / Math.PI);
    const k = Math.ceil(radius / (edge * 1.5)) + 1;
    for (const c of gridDisk(latLngToCell(lat, lon, resolution), k)) cells.add(c);
  }
  return cells;
}
