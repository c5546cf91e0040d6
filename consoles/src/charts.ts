// The executive dashboard's figures beyond the cards: the monthly series as a line chart
// (uPlot, about 20 kB gzip) and the index as a choropleth of kecamatan on the base map.
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import maplibregl from "maplibre-gl";
import type { AreaIndex, Series } from "./api";
import { baseStyle, bounds, keepMap, MAP_OPTIONS, type BaseLayer } from "./crimemap";
import { rgba, setShapes, type Rgba, type Shape } from "./maplayers";
import { el } from "./dom";
import { monthName, num, shortMonth, t } from "./i18n";

const MAPS = new WeakMap<HTMLElement, { map: maplibregl.Map; loaded: Promise<void> }>();
const COLOURS = ["#123d5c", "#c0392b", "#27ae60", "#8e44ad", "#d35400", "#2c7fb8"];

/** Incidents per month for the city and each kota, one line each. */
export function seriesChart(box: HTMLElement, series: Series[]): uPlot | null {
  const lines = series.filter((s) => s.level !== "kecamatan").sort((a, b) => (a.level === "city" ? -1 : b.level === "city" ? 1 : a.name.localeCompare(b.name, "id")));
  const first = lines[0];
  if (!first) return null;
  const xs = first.months.map((m) => Date.UTC(Number(m.slice(0, 4)), Number(m.slice(5, 7)) - 1, 15) / 1000);
  const data: uPlot.AlignedData = [xs, ...lines.map((s) => s.incidents)];
  const opts: uPlot.Options = {
    width: Math.max(320, box.clientWidth || 640),
    height: 260,
    title: t("monthlySeries"),
    scales: { x: { time: true } },
    axes: [
      { values: (_u, ticks) => ticks.map((v) => shortMonth(v)) },
      { values: (_u, ticks) => ticks.map((v) => num(v)), size: 60 },
    ],
    series: [
      { label: t("month"), value: (_u, v) => (v === null ? "–" : monthName(new Date(v * 1000).toISOString().slice(0, 7))) },
      ...lines.map((s, i) => ({
        label: s.level === "city" ? t("city") : s.name,
        stroke: COLOURS[i % COLOURS.length] ?? "#333",
        width: s.level === "city" ? 2.5 : 1.5,
        value: (_u: uPlot, v: number | null) => (v === null ? "–" : num(v)),
      })),
    ],
  };
  box.replaceChildren();
  box.dataset.lines = String(lines.length);
  box.dataset.months = String(xs.length);
  return new uPlot(opts, data, box);
}

function shade(x: number): Rgba {
  // vs_city: 1 is the city's rate; 0.5 light, 2 and more dark.
  const v = Math.max(0, Math.min(1, (Math.log2(Math.max(x, 0.01)) + 1) / 2));
  return [Math.round(255 - 60 * v), Math.round(240 - 190 * v), Math.round(220 - 190 * v), 210];
}

/** The index map in `box`, made on first use (asked for before the data, the map starts while
 * the agent answers) and reused for every later answer. */
export function indexMapFor(box: HTMLElement, layer: BaseLayer): { map: maplibregl.Map; loaded: Promise<void> } {
  let made = MAPS.get(box);
  if (made === undefined) {
    const map = new maplibregl.Map({
      container: box,
      style: baseStyle(layer),
      bounds: bounds(layer),
      fitBoundsOptions: { padding: 10 },
      ...MAP_OPTIONS,
      interactive: true,
      // The printed report (window.print) copies the canvas: it must keep its last frame.
      canvasContextAttributes: { preserveDrawingBuffer: true },
    });
    keepMap(box, map);
    made = { map, loaded: new Promise<void>((done) => map.once("load", () => done())) };
    MAPS.set(box, made);
  }
  return made;
}

/** Kecamatan coloured by their rate against the city's (vs_city), drawn on the base map. */
export async function indexMap(box: HTMLElement, legend: HTMLElement, layer: BaseLayer, rows: AreaIndex[]): Promise<void> {
  const byName = new Map(rows.filter((r) => r.level === "kecamatan").map((r) => [r.name, r]));
  const outlines = layer.base.features.filter((f) => f.geometry.type !== "Point" && ((f.properties as { kind?: string }).kind ?? "outline") === "outline");
  const { map, loaded } = indexMapFor(box, layer);
  const none = rgba([0, 0, 0, 0]);
  const shapes: Shape[] = outlines.map((f) => {
    const r = byName.get((f.properties as { kecamatan?: string }).kecamatan ?? "");
    const tip = r ? `${r.name}\n${t("rate")}: ${num(r.rate_per_100k, 1)}\n${t("vsCity")}: ×${num(r.vs_city ?? 0, 2)}` : "";
    const fill = rgba(r?.vs_city == null ? [200, 200, 205, 120] : shade(r.vs_city));
    return { type: "Feature", geometry: f.geometry, properties: { fill, line: none, tip } };
  });
  // The outlines are the style's; names crowd a small map.
  await loaded;
  setShapes(map, "index", shapes, 0);
  legend.replaceChildren(
    el("span", { class: "swatch", style: "background: rgb(255,240,220)" }),
    ` ×${num(0.5, 1)} `,
    el("span", { class: "swatch", style: "background: rgb(225,145,125)" }),
    ` ×1 (${t("city")}) `,
    el("span", { class: "swatch", style: "background: rgb(195,50,30)" }),
    ` ×2 · ${t("vsCity")}`,
  );
  box.dataset.areas = String(byName.size);
  await new Promise<void>((done) => map.once("idle", () => done()));
}
