// Crime map (spatial planning): the differentially private heatmap of H3 cells on a MapLibre
// map over the approximate kecamatan outlines the deployment serves. Nothing loads from
// outside: the outlines come from the agent, the cells' boundaries from h3-js, all drawn by
// MapLibre (maplayers.ts) and the names by its symbol placement, which keeps them apart.
import maplibregl from "maplibre-gl";
import "maplibre-gl/dist/maplibre-gl.css";
import { Refused, heatmap, type HeatmapGeoJson } from "./api";
import { el, select } from "./dom";
import { factsPanel, problemPanel } from "./facts";
import { category, monthName, num, t } from "./i18n";
import { monthWindow, REGISTRY } from "./registry";
import { publicDomain, type Basemap, type Outline } from "./domain";
import { cellShapes, setShapes, type Rgba } from "./maplayers";

const PURPOSE = "spatial_planning";
export const BLANK: maplibregl.StyleSpecification = {
  version: 8,
  sources: {},
  layers: [{ id: "background", type: "background", paint: { "background-color": "#eef2f5" } }],
};

/** What every console map shares: no fade-in (nothing waits for an animation before the map is
 * idle), no attribution (nothing from outside is drawn). */
export const MAP_OPTIONS = { attributionControl: false, fadeDuration: 0 } as const;

interface Cell {
  cell: string;
  count: number | null; // null: withheld, not zero
  low?: number;
  high?: number;
}

function colour(count: number, max: number): [number, number, number, number] {
  const x = Math.min(1, count / Math.max(1, max));
  return [255, Math.round(220 - 180 * x), Math.round(120 - 100 * x), 200];
}

/** A deployment's own file may carry no `kind`: its polygons are outlines, its points labels. */
function isOutline(f: Basemap["features"][number]): f is Outline {
  const kind = (f.properties as { kind?: string } | null)?.kind;
  return kind === "outline" || (kind === undefined && f.geometry.type !== "Point");
}

function isLabel(f: Basemap["features"][number]): boolean {
  const kind = (f.properties as { kind?: string } | null)?.kind;
  return kind === "label" || (kind === undefined && f.geometry.type === "Point");
}

/** A deployment's PMTiles base layer (ADR 0030): vector tiles read by HTTP range requests
 * from the agent, through the `pmtiles` protocol; its polygons are outlines, its points names. */
export interface TileBase {
  url: string; // pmtiles://<the agent's URL of the file>
  layers: string[]; // the archive's vector layers
  bounds: [[number, number], [number, number]];
}

/** What a console map draws under its data: the deployment's GeoJSON, or its PMTiles (then
 * `base` is the packaged reference geography, for the figures keyed by kecamatan). */
export interface BaseLayer {
  base: Basemap;
  tiles: TileBase | null;
}

const POINT = ["match", ["geometry-type"], ["Point", "MultiPoint"], true, false] as const;
const OUTLINE_PAINT = { "line-color": "rgba(40, 50, 60, 0.86)", "line-width": 1.2 };

/** The kecamatan names as one symbol layer: MapLibre places them with collision detection
 * (no two overlap; a crowded one is left out), the most populous (or largest) first. No glyph
 * server: without a style's `glyphs`, MapLibre draws the letters from the browser's own font. */
function namesLayer(id: string, source: string, sourceLayer?: string): maplibregl.LayerSpecification {
  return {
    id,
    type: "symbol",
    source,
    ...(sourceLayer === undefined ? {} : { "source-layer": sourceLayer }),
    filter: POINT as never,
    layout: {
      "text-field": ["coalesce", ["get", "kecamatan"], ["get", "name"], ""],
      "text-font": ["system-ui", "Noto Sans", "DejaVu Sans"],
      "text-size": 12,
      "text-padding": 3,
      "text-allow-overlap": false,
      "text-ignore-placement": false,
      "symbol-sort-key": ["-", 0, ["to-number", ["coalesce", ["get", "population"], ["get", "area_km2"], 0]]],
    },
    paint: { "text-color": "#14191e", "text-halo-color": "#ffffff", "text-halo-width": 1.5 },
  };
}

/** The map's own style: the background, the kecamatan outlines and (with `names`) their
 * names, drawn by MapLibre under the data layers each view adds (maplayers.ts) and the names
 * over them. */
export function baseStyle(layer: BaseLayer, names = false): maplibregl.StyleSpecification {
  if (layer.tiles !== null) {
    const tiles = layer.tiles;
    return {
      version: 8,
      sources: { kecamatan: { type: "vector", url: tiles.url } },
      layers: [
        ...BLANK.layers,
        ...tiles.layers.map((l, i): maplibregl.LayerSpecification => ({
          id: i ? `kecamatan-${i}` : "kecamatan",
          type: "line",
          source: "kecamatan",
          "source-layer": l,
          filter: ["!", POINT] as never,
          paint: OUTLINE_PAINT,
        })),
        ...(names ? tiles.layers.map((l, i) => namesLayer(i ? `kecamatan-names-${i}` : "kecamatan-names", "kecamatan", l)) : []),
      ],
    };
  }
  const base = layer.base;
  const collection = (features: unknown[]): never => ({ type: "FeatureCollection", features }) as never;
  return {
    version: 8,
    sources: {
      kecamatan: { type: "geojson", data: collection(base.features.filter(isOutline)) },
      ...(names ? { names: { type: "geojson", data: collection(base.features.filter(isLabel)) } } : {}),
    } as maplibregl.StyleSpecification["sources"],
    layers: [
      ...BLANK.layers,
      { id: "kecamatan", type: "line", source: "kecamatan", paint: OUTLINE_PAINT },
      ...(names ? [namesLayer("kecamatan-names", "names")] : []),
    ],
  };
}

/** The map's element keeps its MapLibre map, for the browser tests' queryRenderedFeatures. */
export function keepMap(box: HTMLElement, map: maplibregl.Map): void {
  Object.defineProperty(box, "maplibre", { value: map, configurable: true });
}

let protocol: Promise<import("pmtiles").Protocol> | null = null;

/** The deployment's PMTiles, opened by range requests to the agent; `pmtiles` is loaded only
 * when a deployment serves one. */
async function openTiles(path: string): Promise<TileBase> {
  protocol ??= import("pmtiles").then(({ Protocol }) => {
    const p = new Protocol();
    maplibregl.addProtocol("pmtiles", p.tile);
    return p;
  });
  const [{ PMTiles }, p] = await Promise.all([import("pmtiles"), protocol]);
  const url = new URL(path, location.href).href;
  const archive = new PMTiles(url);
  p.add(archive);
  const [h, meta] = await Promise.all([archive.getHeader(), archive.getMetadata()]);
  const layers = ((meta as { vector_layers?: { id: string }[] } | null)?.vector_layers ?? []).map((l) => l.id);
  return { url: `pmtiles://${url}`, layers, bounds: [[h.minLon, h.minLat], [h.maxLon, h.maxLat]] };
}

/** The base map the deployment serves, and the note that says what it is. */
export async function loadBasemap(): Promise<BaseLayer & { note: HTMLElement }> {
  const served = (await (await fetch("/consoles/basemap.geojson")).json()) as Basemap;
  const [base, tiles] = served.pmtiles
    ? await Promise.all([fetch("/consoles/areas.geojson").then(async (r) => (await r.json()) as Basemap), openTiles(served.pmtiles)])
    : [served, null];
  const note = served.approximate
    ? el("p", { class: "approximate", "data-testid": "approximate" }, `${t("approximate")} · perkiraan / approximate`)
    : el("p", { class: "basemap-note", "data-testid": "basemap-note" }, `${t("deploymentBasemap")}${served.notice ? `: ${served.notice}` : ""}`);
  return { base, tiles, note };
}

/** The cells as the map draws them: released ones by their count, withheld ones grey. */
function shapes(cells: Cell[]): ReturnType<typeof cellShapes> {
  const max = Math.max(1, ...cells.map((c) => c.count ?? 0));
  const fill = (c: Cell): Rgba => (c.count === null ? [150, 150, 160, 90] : colour(c.count, max));
  const line = (c: Cell): Rgba => (c.count === null ? [120, 120, 130, 160] : [200, 60, 20, 120]);
  return cellShapes(cells, (c) => c.cell, fill, line, tooltip);
}

/** West, south, east, north of the outlines: the map opens on the whole city. */
export function bounds(layer: BaseLayer): [[number, number], [number, number]] {
  if (layer.tiles !== null) return layer.tiles.bounds;
  const base = layer.base;
  let w = 180, s = 90, e = -180, n = -90;
  for (const f of base.features) {
    if (!isOutline(f)) continue;
    const g = f.geometry as { type: string; coordinates: unknown };
    const rings = (g.type === "MultiPolygon" ? (g.coordinates as number[][][][]).flat() : (g.coordinates as number[][][])) ?? [];
    for (const [lon, lat] of rings[0] ?? []) {
      w = Math.min(w, lon ?? w); e = Math.max(e, lon ?? e);
      s = Math.min(s, lat ?? s); n = Math.max(n, lat ?? n);
    }
  }
  return [[w, s], [e, n]];
}

function tooltip(c: Cell): string {
  if (c.count === null) return `${c.cell}\n${t("withheld")}`;
  return `${c.cell}\n${t("count")}: ${num(c.count)}\n${t("interval")}: ${num(c.low ?? 0)}–${num(c.high ?? 0)}`;
}

export async function crimeMap(root: HTMLElement): Promise<void> {
  const purpose = REGISTRY.purposes[PURPOSE];
  const months = REGISTRY.months;
  const latest = months[months.length - 1] ?? "";
  const form = el(
    "form",
    { class: "controls", "aria-label": t("crimeMap") },
    select("month", t("month"), months.map((m) => [m, monthName(m)]), latest),
    select("category", t("category"), [["", t("allCategories")], ...REGISTRY.categories.map((c): [string, string] => [c, category(c)])], ""),
    select("kota", t("kota"), [["", t("allKota")], ...REGISTRY.kota.map((k): [string, string] => [k, k])], ""),
    select("resolution", t("resolution"), purpose.resolutions.map((r): [string, string] => [String(r), String(r)]), String(purpose.resolutions[purpose.resolutions.length - 1])),
    el("button", { type: "submit" }, t("show")),
  );
  const status = el("div", { class: "status", "aria-live": "polite", "data-testid": "status" });
  const side = el("aside", { class: "side", "data-testid": "facts" });
  const mapBox = el("div", { class: "map", id: "map", "data-testid": "map" });
  const legend = el(
    "p",
    { class: "legend" },
    el("span", { class: "swatch released" }),
    ` ${t("count")}   `,
    el("span", { class: "swatch withheld" }),
    ` ${t("withheld")}`,
  );
  // The first question goes out while the base layer and the map load (WebGL without a GPU
  // takes seconds to start); a refusal is shown by show(), not reported as unhandled.
  const first = ask();
  first.catch(() => undefined);
  // The heatmap's public domain comes from the reference geography, whatever the base map.
  const [{ note, ...layer }, areas] = await Promise.all([
    loadBasemap(),
    fetch("/consoles/areas.geojson").then(async (r) => (await r.json()) as Basemap),
  ]);
  root.replaceChildren(el("h1", {}, t("crimeMap")), form, status, el("div", { class: "split" }, mapBox, side), legend, note);

  const map = new maplibregl.Map({
    container: mapBox,
    style: baseStyle(layer, true),
    bounds: bounds(layer),
    fitBoundsOptions: { padding: 20 },
    ...MAP_OPTIONS,
  });
  keepMap(mapBox, map);
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");

  /** The question the form asks, sent now. */
  function ask(): Promise<HeatmapGeoJson> {
    const data = new FormData(form);
    const month = String(data.get("month"));
    const cat = String(data.get("category") ?? "");
    const kota = String(data.get("kota") ?? "");
    return heatmap(
      {
        purpose: PURPOSE,
        legal_basis: purpose.legal_basis,
        ...monthWindow(month),
        ...(cat ? { categories: [cat] } : {}),
        ...(kota ? { kota: [kota] } : {}),
      },
      Number(data.get("resolution")),
    );
  }

  async function show(pending: Promise<HeatmapGeoJson> = ask()): Promise<void> {
    const data = new FormData(form);
    const month = String(data.get("month"));
    const kota = String(data.get("kota") ?? "");
    const resolution = Number(data.get("resolution"));
    status.textContent = t("loading");
    side.replaceChildren();
    let answer: HeatmapGeoJson;
    try {
      answer = await pending;
    } catch (e) {
      status.textContent = "";
      if (e instanceof Refused) {
        side.replaceChildren(problemPanel(e.problem));
        setShapes(map, "heatmap", [], 0.5);
        return;
      }
      throw e;
    }
    const released = new Map(answer.features.map((f) => [f.id, f.properties]));
    const domain = publicDomain(areas, resolution, kota || null);
    const cells: Cell[] = [];
    for (const cell of domain) if (!released.has(cell)) cells.push({ cell, count: null });
    for (const [cell, p] of released) cells.push({ cell, count: p.count, low: p.low, high: p.high });
    const withheld = cells.length - released.size;
    setShapes(map, "heatmap", shapes(cells), 0.5);
    status.textContent = `${monthName(month)}: ${num(released.size)} ${t("released")}, ${num(withheld)} ${t("withheldCells")}`;
    status.dataset.released = String(released.size);
    status.dataset.withheld = String(withheld);
    side.replaceChildren(factsPanel(answer.gerbang));
    map.once("idle", () => (root.dataset.ready = "true"));
    map.triggerRepaint();
  }

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    delete root.dataset.ready;
    void show();
  });
  await new Promise<void>((done) => map.once("load", () => done()));
  await show(first);
}
