// The consoles' data layers, drawn by MapLibre GL itself: H3 cells as GeoJSON polygons (their
// boundaries from h3-js) and areas, each feature carrying its colours and its tooltip. Without a
// GPU every WebGL program is compiled and run in software (SwiftShader); MapLibre's fill and
// line shaders are small, deck.gl's are large, and each view needs only these two (ADR 0015).
import { cellToBoundary } from "h3-js";
import maplibregl from "maplibre-gl";

export type Rgba = readonly [number, number, number, number];

/** Under the style's kecamatan outlines (crimemap.ts baseStyle), as the layers always were. */
const UNDER = "kecamatan";

/** How MapLibre's worker cuts a GeoJSON source into tiles: a buffer of 8 px around each tile
 * (the default is 128) is enough for lines a pixel or two wide and copies far fewer polygons
 * into neighbouring tiles, so the first tiles are ready sooner. */
export const GEOJSON_OPTIONS = { buffer: 8 } as const;

export function rgba(c: Rgba): string {
  return `rgba(${c[0]}, ${c[1]}, ${c[2]}, ${(c[3] / 255).toFixed(3)})`;
}

export interface Shape {
  type: "Feature";
  geometry: { type: string; coordinates: unknown };
  properties: { fill: string; line: string; tip: string };
}

/** One polygon per H3 cell, with its fill, its line colour and its tooltip. */
export function cellShapes<T>(items: readonly T[], cell: (x: T) => string, fill: (x: T) => Rgba, line: (x: T) => Rgba, tip: (x: T) => string): Shape[] {
  return items.map((x) => {
    const ring = cellToBoundary(cell(x), true);
    return {
      type: "Feature",
      geometry: { type: "Polygon", coordinates: [ring] },
      properties: { fill: rgba(fill(x)), line: rgba(line(x)), tip: tip(x) },
    };
  });
}

/** Show `shapes` as the layer `id` (a fill, and a line when `lineWidth` > 0), made on first use
 * and replaced after; an empty list clears it. The map's style must have loaded. */
export function setShapes(map: maplibregl.Map, id: string, shapes: Shape[], lineWidth: number): void {
  const data = { type: "FeatureCollection", features: shapes } as never;
  const source = map.getSource(id) as maplibregl.GeoJSONSource | undefined;
  if (source) {
    source.setData(data);
    return;
  }
  const before = map.getLayer(UNDER) ? UNDER : undefined;
  map.addSource(id, { type: "geojson", data, ...GEOJSON_OPTIONS });
  map.addLayer({ id, type: "fill", source: id, paint: { "fill-color": ["to-color", ["get", "fill"]], "fill-antialias": false } }, before);
  if (lineWidth > 0)
    map.addLayer({ id: `${id}-line`, type: "line", source: id, paint: { "line-color": ["to-color", ["get", "line"]], "line-width": lineWidth } }, before);
  tooltip(map, id);
}

/** The feature's tooltip under the pointer, as text. */
function tooltip(map: maplibregl.Map, id: string): void {
  const popup = new maplibregl.Popup({ closeButton: false, closeOnClick: false, className: "map-tip", maxWidth: "320px" });
  map.on("mousemove", id, (e) => {
    const tip = (e.features?.[0]?.properties as { tip?: string } | undefined)?.tip;
    if (tip) popup.setLngLat(e.lngLat).setText(tip).addTo(map);
    else popup.remove();
  });
  map.on("mouseleave", id, () => popup.remove());
}
