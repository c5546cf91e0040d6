// Crime map (spatial planning): the differentially private heatmap of H3 cells on a MapLibre
// map over the approximate kecamatan outlines the deployment serves. Nothing loads from
// outside: the outlines come from the agent, the cells' boundaries from h3-js, all drawn by
// MapLibre (maplayers.ts) and the names by its symbol placement, which keeps them apart.
import maplibregl from "maplibre-gl";
import "maplibre-gl/dist/maplibre-gl.css";
import { Refused, type HeatmapGeoJson } from "./api";
import { el, select } from "./dom";
import { factsPanel, problemPanel } from "./facts";
import { category, monthName, num, t } from "./i18n";
import { REGISTRY } from "./registry";
import { AREAS, askHeatmap, BASEMAP, consoleFile, HEATMAP_PURPOSE, heatmapDefaults, type HeatmapChoice } from "./questions";
import { publicDomain, type Basemap, type Outline } from "./domain";
import { cellShapes, GEOJSON_OPTIONS, setShapes, type Rgba } from "./maplayers";

/** No background layer: the map's element has the background colour (style.css `.map`) and
 * shows through the transparent canvas. A background layer is one more WebGL program and a
 * pass over every pixel of every frame, which without a GPU is drawn on the CPU. No paint
 * transition either: a layer added with the answer faded in over 300 ms, twenty frames more
 * before the map was idle. */
const NO_TRANSITION = { duration: 0, delay: 0 };
export const BLANK: maplibregl.StyleSpecification = { version: 8, sources: {}, layers: [], transition: NO_TRANSITION };

/** What every console map shares: no fade-in (nothing waits for an animation before the map is
 * idle), no attribution (nothing from outside is drawn), no validation of the style (it is
 * made here, typed; validating it cost the main thread on every map). */
export const MAP_OPTIONS = { attributionControl: false, fadeDuration: 0, validateStyle: false } as const;

// MapLibre's worker (it tiles the GeoJSON and lays out the names) starts with this chunk, while
// the base layer and the first answer are fetched, not when the first map is made.
maplibregl.prewarm();

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
/** The outlines' colour is written as a feature expression although it is one colour: MapLibre
 * then draws them with the same line program as the cells' outlines (maplayers.ts, a colour per
 * feature) instead of compiling a second variant, on the CPU, for the first frame. */
const OUTLINE_PAINT = { "line-color": ["to-color", ["coalesce", ["get", "outline-colour"], "rgba(40, 50, 60, 0.86)"]], "line-width": 1.2 } as never;

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
      transition: NO_TRANSITION,
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
  // Outlines and names in one source: one set of tiles for MapLibre's worker to cut, and
  // one frame fewer drawn as they arrive; each layer takes its geometry type.
  const features = layer.base.features.filter((f) => isOutline(f) || (names && isLabel(f)));
  return {
    version: 8,
    transition: NO_TRANSITION,
    sources: { kecamatan: { type: "geojson", data: { type: "FeatureCollection", features } as never, ...GEOJSON_OPTIONS } },
    layers: [
      ...BLANK.layers,
      { id: "kecamatan", type: "line", source: "kecamatan", filter: ["!", POINT] as never, paint: OUTLINE_PAINT },
      ...(names ? [namesLayer("kecamatan-names", "kecamatan")] : []),
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
  const served = await consoleFile<Basemap>(BASEMAP);
  const [base, tiles] = served.pmtiles
    ? await Promise.all([consoleFile<Basemap>(AREAS), openTiles(served.pmtiles)])
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

export async function crimeMap(root: HTMLElement, asked?: Promise<HeatmapGeoJson>): Promise<void> {
  const purpose = REGISTRY.purposes[HEATMAP_PURPOSE];
  const opening = heatmapDefaults();
  const form = el(
    "form",
    { class: "controls", "aria-label": t("crimeMap") },
    select("month", t("month"), REGISTRY.months.map((m) => [m, monthName(m)]), opening.month),
    select("category", t("category"), [["", t("allCategories")], ...REGISTRY.categories.map((c): [string, string] => [c, category(c)])], opening.category),
    select("kota", t("kota"), [["", t("allKota")], ...REGISTRY.kota.map((k): [string, string] => [k, k])], opening.kota),
    select("resolution", t("resolution"), purpose.resolutions.map((r): [string, string] => [String(r), String(r)]), String(opening.resolution)),
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
  // The first question went out from the shell (questions.ts) or goes now, while the base
  // layer and the map load; a refusal is shown by show(), not reported as unhandled.
  const first = asked ?? ask();
  first.catch(() => undefined);
  // The heatmap's public domain comes from the reference geography, whatever the base map.
  const [{ note, ...layer }, areas] = await Promise.all([loadBasemap(), consoleFile<Basemap>(AREAS)]);
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
  // Layers can be added once the style is in, before the base layer's tiles are: the cells
  // are then tiled together with the outlines and names, not after them.
  const styled = new Promise<void>((done) => (map.isStyleLoaded() ? done() : map.once("style.load", () => done())));

  function choice(): HeatmapChoice {
    const data = new FormData(form);
    return {
      month: String(data.get("month")),
      category: String(data.get("category") ?? ""),
      kota: String(data.get("kota") ?? ""),
      resolution: Number(data.get("resolution")),
    };
  }

  /** The question the form asks, sent now. */
  function ask(): Promise<HeatmapGeoJson> {
    return askHeatmap(choice());
  }

  async function show(pending: Promise<HeatmapGeoJson> = ask()): Promise<void> {
    const { month, kota, resolution } = choice();
    status.textContent = t("loading");
    side.replaceChildren();
    let answer: HeatmapGeoJson;
    try {
      answer = await pending;
    } catch (e) {
      status.textContent = "";
      if (e instanceof Refused) {
        side.replaceChildren(problemPanel(e.problem));
        await styled;
        setShapes(map, "heatmap", [], 0.5);
        return;
      }
      throw e;
    }
    // The cells are built while the map may still be loading its base layer.
    const released = new Map(answer.features.map((f) => [f.id, f.properties]));
    const domain = publicDomain(areas, resolution, kota || null);
    const cells: Cell[] = [];
    for (const cell of domain) if (!released.has(cell)) cells.push({ cell, count: null });
    for (const [cell, p] of released) cells.push({ cell, count: p.count, low: p.low, high: p.high });
    const withheld = cells.length - released.size;
    const drawn = shapes(cells);
    await styled;
    setShapes(map, "heatmap", drawn, 0.5);
    status.textContent = `${monthName(month)}: ${num(released.size)} ${t("released")}, ${num(withheld)} ${t("withheldCells")}`;
    status.dataset.released = String(released.size);
    status.dataset.withheld = String(withheld);
    side.replaceChildren(factsPanel(answer.gerbang));
    // Ready when the map is idle: every source's tiles in, the cells among them, and drawn.
    map.once("idle", () => (root.dataset.ready = "true"));
    map.triggerRepaint();
  }

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    delete root.dataset.ready;
    void show();
  });
  await show(first);
}
