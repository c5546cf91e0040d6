// Patrol planning (Direktorat Samapta): the patrol plan on the map, each placed cell with its
// risk score, its interval and the factors behind it, and the cap per kecamatan shown beside
// how many units each kecamatan got.
import maplibregl from "maplibre-gl";
import { Refused, type PatrolPlanAnswer, type RiskScore } from "./api";
import { baseStyle, bounds, keepMap, loadBasemap, MAP_OPTIONS } from "./crimemap";
import { cellShapes, setShapes, type Shape } from "./maplayers";
import { el, select } from "./dom";
import { factsPanel, problemPanel } from "./facts";
import { date, num, percent, t } from "./i18n";
import { askPatrol, PATROL_PURPOSE, patrolDefaults } from "./questions";
import { REGISTRY } from "./registry";

const PURPOSE = PATROL_PURPOSE;
const FACTORS = ["baseline", "recent", "near_repeat"] as const;

interface Placed {
  cell: string;
  area: string;
  rank: number;
  score: RiskScore | undefined;
}

interface Drawing {
  risk: Shape[];
  plan: Shape[];
}

/** The risk of every scored cell under the cells the plan places units in (white-edged);
 * built as soon as the answer is in, drawn once the map has loaded. */
function shapes(scored: RiskScore[], placed: Placed[]): Drawing {
  const max = Math.max(1, ...scored.map((s) => s.score));
  const none = [0, 0, 0, 0] as const;
  return {
    risk: cellShapes(scored, (s) => s.unit, (s) => [255, Math.round(230 - 150 * Math.min(1, s.score / max)), 120, 70], () => none, tooltip),
    plan: cellShapes(placed, (p) => p.cell, () => [18, 61, 92, 200], () => [255, 255, 255, 255], tooltip),
  };
}

function draw(map: maplibregl.Map, d: Drawing): void {
  setShapes(map, "risk", d.risk, 0);
  setShapes(map, "plan", d.plan, 2);
}

function factors(s: RiskScore | undefined): string {
  if (!s) return "–";
  return FACTORS.filter((f) => f in s.factors)
    .map((f) => `${t(f)} ×${num(s.factors[f] ?? 1, 2)}`)
    .join(" · ");
}

function tooltip(o: RiskScore | Placed): string {
  const s = "rank" in o ? (o as Placed).score : (o as RiskScore);
  const head = "rank" in o ? `${t("unit")} ${(o as Placed).rank} · ${(o as Placed).area}\n` : "";
  if (!s) return head;
  return `${head}${s.unit}\n${t("riskScore")}: ${num(s.score, 2)} (${num(s.low, 2)}–${num(s.high, 2)})\n${factors(s)}`;
}

function table(answer: PatrolPlanAnswer, placed: Placed[]): HTMLElement {
  const head = el("tr", {}, ...["#", t("kecamatan"), t("cell"), t("riskScore"), t("interval"), t("perDay"), t("factors")].map((h) => el("th", { scope: "col" }, h)));
  const rows = placed.map((p) =>
    el(
      "tr",
      { "data-testid": "assignment", "data-cell": p.cell },
      el("td", {}, String(p.rank)),
      el("td", {}, p.area),
      el("td", { class: "mono" }, p.cell),
      el("td", { "data-col": "score" }, p.score ? num(p.score.score, 2) : "–"),
      el("td", { "data-col": "interval" }, p.score ? `${num(p.score.low, 2)}–${num(p.score.high, 2)}` : "–"),
      el("td", {}, p.score ? num(p.score.rate, 2) : "–"),
      el("td", { "data-col": "factors" }, factors(p.score)),
    ),
  );
  void answer;
  return el("table", { class: "plan", "data-testid": "plan-table" }, el("caption", {}, t("patrolPlan")), el("thead", {}, head), el("tbody", {}, ...rows));
}

function caps(answer: PatrolPlanAnswer, cap: number): HTMLElement {
  const entries = Object.entries(answer.result.per_area).sort(([a], [b]) => a.localeCompare(b, "id"));
  return el(
    "section",
    { class: "caps", "data-testid": "caps" },
    el("h2", {}, `${t("capPerKecamatan")}: ${num(cap)}`),
    el(
      "ul",
      {},
      ...entries.map(([area, n]) => el("li", { "data-area": area, ...(n >= cap ? { "data-full": "true" } : {}) }, `${area}: ${num(n)} / ${num(cap)}`)),
    ),
  );
}

export async function patrol(root: HTMLElement, asked?: Promise<PatrolPlanAnswer>): Promise<void> {
  const purpose = REGISTRY.purposes[PURPOSE];
  const defaults = patrolDefaults();
  const units = el("input", { type: "number", id: "units", name: "units", min: "1", max: "200", value: String(defaults.units) });
  const cap = el("input", { type: "number", id: "cap", name: "cap", min: "1", max: "50", value: String(defaults.cap) });
  const form = el(
    "form",
    { class: "controls", "aria-label": t("patrol") },
    el("label", { for: "units" }, t("units"), units),
    el("label", { for: "cap" }, t("capPerKecamatan"), cap),
    select("resolution", t("resolution"), purpose.resolutions.map((r): [string, string] => [String(r), String(r)]), String(defaults.resolution)),
    el("button", { type: "submit" }, t("show")),
  );
  const status = el("div", { class: "status", "aria-live": "polite", "data-testid": "status" });
  const side = el("aside", { class: "side", "data-testid": "facts" });
  const mapBox = el("div", { class: "map", id: "map", "data-testid": "map" });
  const below = el("div", { class: "below" });
  // The plan was asked for by the shell (questions.ts), or is now, while the base layer and
  // the map load.
  const first = asked ?? ask();
  first.catch(() => undefined);
  const { note, ...layer } = await loadBasemap();
  root.replaceChildren(el("h1", {}, t("patrol")), form, status, el("div", { class: "split" }, mapBox, side), note, below);
  const map = new maplibregl.Map({
    container: mapBox,
    style: baseStyle(layer, true),
    bounds: bounds(layer),
    fitBoundsOptions: { padding: 20 },
    ...MAP_OPTIONS,
  });
  keepMap(mapBox, map);
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");

  const loaded = new Promise<void>((done) => map.once("load", () => done()));

  async function show(pending: Promise<PatrolPlanAnswer> = ask()): Promise<void> {
    const c = Number(new FormData(form).get("cap"));
    status.textContent = t("loading");
    side.replaceChildren();
    below.replaceChildren();
    let answer: PatrolPlanAnswer;
    try {
      answer = await pending;
    } catch (e) {
      status.textContent = "";
      if (e instanceof Refused) {
        side.replaceChildren(problemPanel(e.problem));
        await loaded;
        draw(map, { risk: [], plan: [] });
        root.dataset.ready = "true";
        return;
      }
      throw e;
    }
    const byCell = new Map(answer.result.scores.map((s) => [s.unit, s]));
    const placed = answer.result.assignments.map((a, i) => ({ cell: a.cell, area: a.area, rank: i + 1, score: byCell.get(a.cell) }));
    const drawing = shapes(answer.result.scores, placed);
    await loaded;
    draw(map, drawing);
    status.textContent = `${num(placed.length)} ${t("unitsPlaced")} · ${t("coverage")} ${percent(answer.result.expected_coverage)} · ${t("asOf")} ${date(answer.period.end)}`;
    status.dataset.placed = String(placed.length);
    side.replaceChildren(factsPanel(answer), caps(answer, c));
    below.replaceChildren(table(answer, placed));
    map.once("idle", () => (root.dataset.ready = "true"));
    map.triggerRepaint();
  }

  /** The plan the form asks for, sent now. */
  function ask(): Promise<PatrolPlanAnswer> {
    const data = new FormData(form);
    return askPatrol({ units: Number(data.get("units")), cap: Number(data.get("cap")), resolution: Number(data.get("resolution")) });
  }

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    delete root.dataset.ready;
    void show();
  });
  await show(first);
}
