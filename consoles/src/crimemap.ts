// Crime map (spatial planning): the differentially private heatmap of H3 cells on a MapLibre
// map over the approximate kecamatan outlines the deployment serves. Nothing loads from
// outside: the outlines come from the agent, the cells' boundaries from h3-js, all drawn by
// MapLibre (maplayers.ts); the names are HTML labels placed by MapLibre.
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

function labelText(f: { properties: unknown }): string {
  const p = (f.properties ?? {}) as { kecamatan?: string; name?: string };
  return p.kecamatan ?? p.name ?? "";
}

/** The map's own style: the background and the kecamatan outlines, drawn by MapLibre itself
 * (a small shader: without a GPU each WebGL program is compiled in software), under the data
 * layers each view adds (maplayers.ts). */
export function baseStyle(base: Basemap): maplibregl.StyleSpecification {
  return {
    version: 8,
    sources: { kecamatan: { type: "geojson", data: { type: "FeatureCollection", features: base.features.filter(isOutline) } as never } },
    layers: [
      ...BLANK.layers,
      { id: "kecamatan", type: "line", source: "kecamatan", paint: { "line-color": "rgba(40, 50, 60, 0.86)", "line-width": 1.2 } },
    ],
  };
}

/** The kecamatan names as HTML labels over the map: no glyph atlas to build, no WebGL program
 * to compile, text the browser renders and a screen reader can skip (the map is an image). */
export function nameLabels(map: maplibregl.Map, base: Basemap): void {
  for (const f of base.features.filter(isLabel)) {
    const [lon, lat] = f.geometry.coordinates as number[];
    if (lon === undefined || lat === undefined) continue;
    const label = el("span", { class: "map-label", "aria-hidden": "true" }, labelText(f));
    const marker = new maplibregl.Marker({ element: label }).setLngLat([lon, lat]).addTo(map);
    marker.getElement().removeAttribute("aria-label");
    marker.getElement().removeAttribute("tabindex");
  }
}

/** The base map the deployment serves, and the note that says what it is. */
export async function loadBasemap(): Promise<{ base: Basemap; note: HTMLElement }> {
  const base = (await (await fetch("/consoles/basemap.geojson")).json()) as Basemap;
  const note = base.approximate
    ? el("p", { class: "approximate", "data-testid": "approximate" }, `${t("approximate")} · perkiraan / approximate`)
    : el("p", { class: "basemap-note", "data-testid": "basemap-note" }, `${t("deploymentBasemap")}${base.notice ? `: ${base.notice}` : ""}`);
  return { base, note };
}

/** The cells as the map draws them: released ones by their count, withheld ones grey. */
function shapes(cells: Cell[]): ReturnType<typeof cellShapes> {
  const max = Math.max(1, ...cells.map((c) => c.count ?? 0));
  const fill = (c: Cell): Rgba => (c.count === null ? [150, 150, 160, 90] : colour(c.count, max));
  const line = (c: Cell): Rgba => (c.count === null ? [120, 120, 130, 160] : [200, 60, 20, 120]);
  return cellShapes(cells, (c) => c.cell, fill, line, tooltip);
}

/** West, south, east, north of the outlines: the map opens on the whole city. */
export function bounds(base: Basemap): [[number, number], [number, number]] {
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
  const [{ base, note }, areas] = await Promise.all([
    loadBasemap(),
    fetch("/consoles/areas.geojson").then(async (r) => (await r.json()) as Basemap),
  ]);
  root.replaceChildren(el("h1", {}, t("crimeMap")), form, status, el("div", { class: "split" }, mapBox, side), legend, note);

  const map = new maplibregl.Map({
    container: mapBox,
    style: baseStyle(base),
    bounds: bounds(base),
    fitBoundsOptions: { padding: 20 },
    ...MAP_OPTIONS,
  });
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
  nameLabels(map, base);

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
