// Executive dashboard (security indicators): one KPI card per kecamatan, kota and the city,
// in the terms of BPS's crime statistics, each with the answer's period, mechanism and receipt;
// and the same answer as CSV, as the agent renders it.
import { Refused, securityIndexCsv, type AreaIndex, type Facts, type Scope, type SecurityIndexAnswer } from "./api";
import { indexMap, indexMapFor, seriesChart } from "./charts";
import { loadBasemap } from "./crimemap";
import { period } from "./facts";
import { el, select } from "./dom";
import { factsPanel, problemPanel } from "./facts";
import { dateTime, monthName, num, percent, t } from "./i18n";
import { REGISTRY } from "./registry";
import { askIndex, indexScope, latestMonth } from "./questions";

type Answer = SecurityIndexAnswer;

function trend(a: AreaIndex): string {
  if (a.trend === null) return "–";
  const arrow = a.trend > 1.05 ? "▲" : a.trend < 0.95 ? "▼" : "▬";
  const range = a.trend_low !== null && a.trend_high !== null ? ` (${num(a.trend_low, 2)}–${num(a.trend_high, 2)})` : "";
  return `${arrow} ×${num(a.trend, 2)}${range}`;
}

/** The line every figure carries in print and on screen: period, ε, k and the receipt. */
function stamp(f: Facts): HTMLElement {
  const p = f.privacy;
  const eps = p.epsilon === null ? "–" : num(p.epsilon, 2);
  const k = p.k === null ? "–" : num(p.k);
  const r = f.audit_receipt;
  return el(
    "p",
    { class: "stamp", "data-testid": "stamp" },
    `${t("period")}: ${period(f.period)} · ε ${eps} · k ${k} · ${t("receipt")}: ${t("entry")} #${r.leaf_index} (${r.entry_hash.slice(0, 12)}…)`,
  );
}

function card(a: AreaIndex): HTMLElement {
  const metric = (label: string, value: string, name: string): HTMLElement =>
    el("div", { class: "metric", "data-metric": name }, el("span", { class: "label" }, label), el("span", { class: "value" }, value));
  const title = a.level === "city" ? t("city") : a.name;
  return el(
    "article",
    { class: `card ${a.level}`, "data-testid": "kpi-card", "data-area": a.name, "data-level": a.level },
    el("h3", {}, title),
    a.level === "kecamatan" && a.kota ? el("p", { class: "sub" }, a.kota) : null,
    metric(t("incidents"), num(a.incidents), "incidents"),
    metric(t("rate"), num(a.rate_per_100k, 1), "rate"),
    metric(t("clearance"), a.clearance_rate === null ? "–" : percent(a.clearance_rate), "clearance"),
    metric(t("trend"), trend(a), "trend"),
    a.vs_city === null ? null : metric(t("vsCity"), `×${num(a.vs_city, 2)}`, "vs-city"),
  );
}

function download(blob: Blob, name: string): void {
  const a = el("a", { href: URL.createObjectURL(blob), download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

export async function dashboard(root: HTMLElement, asked?: Promise<Answer>): Promise<void> {
  const months = REGISTRY.months;
  const latest = latestMonth();
  const form = el(
    "form",
    { class: "controls", "aria-label": t("dashboard") },
    select("month", t("endMonth"), months.map((m) => [m, monthName(m)]), latest),
    el("button", { type: "submit" }, t("show")),
    el("button", { type: "button", id: "export-csv", "data-testid": "export-csv" }, t("exportCsv")),
    el("button", { type: "button", id: "print", "data-testid": "print" }, t("printReport")),
  );
  const status = el("div", { class: "status", "aria-live": "polite", "data-testid": "status" });
  const side = el("aside", { class: "side", "data-testid": "facts" });
  const cards = el("div", { class: "cards", "data-testid": "cards" });
  const chart = el("div", { class: "chart", "data-testid": "chart" });
  const mapBox = el("div", { class: "map index-map", "data-testid": "index-map" });
  const legend = el("p", { class: "legend" });
  const chartStamp = el("div", {});
  const mapStamp = el("div", {});
  const cardStamp = el("div", {});
  // The index was asked for by the shell (questions.ts), or is now, while the base layer loads.
  const first = asked ?? askIndex(month());
  first.catch(() => undefined);
  const { note, ...layer } = await loadBasemap();
  const figures = el(
    "div",
    { class: "figures" },
    el("figure", { "data-testid": "figure-chart" }, chart, el("figcaption", {}, chartStamp)),
    el("figure", { "data-testid": "figure-map" }, el("h2", {}, t("indexMap")), mapBox, legend, note, el("figcaption", {}, mapStamp)),
  );
  root.replaceChildren(
    el("h1", {}, t("dashboard")),
    el("p", { class: "print-only", "data-testid": "print-heading" }, `${t("title")} · ${t("printedAt")} ${dateTime(new Date().toISOString())} WIB`),
    form,
    status,
    figures,
    el("div", { class: "split" }, el("section", {}, cardStamp, cards), side),
  );
  form.querySelector("#print")?.addEventListener("click", () => window.print());
  indexMapFor(mapBox, layer); // the map starts while the agent answers

  function month(): string {
    return String(new FormData(form).get("month"));
  }

  function scope(): Scope {
    return indexScope(month());
  }

  async function show(pending: Promise<Answer> = askIndex(month())): Promise<void> {
    status.textContent = t("loading");
    cards.replaceChildren();
    side.replaceChildren();
    try {
      const answer = await pending;
      const order = { city: 0, kota: 1, kecamatan: 2 } as const;
      const rows = [...answer.result].sort((a, b) => order[a.level] - order[b.level] || a.name.localeCompare(b.name, "id"));
      cards.replaceChildren(...rows.map(card));
      side.replaceChildren(factsPanel(answer));
      for (const box of [chartStamp, mapStamp, cardStamp]) box.replaceChildren(stamp(answer));
      seriesChart(chart, answer.series ?? []);
      await indexMap(mapBox, legend, layer, rows);
      status.textContent = `${monthName(String(new FormData(form).get("month")))}: ${num(rows.length)} ${t("areas")}`;
    } catch (e) {
      status.textContent = "";
      if (e instanceof Refused) side.replaceChildren(problemPanel(e.problem));
      else throw e;
    }
    root.dataset.ready = "true";
  }

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    delete root.dataset.ready;
    void show();
  });
  form.querySelector("#export-csv")?.addEventListener("click", () => {
    const month = String(new FormData(form).get("month"));
    securityIndexCsv(scope()).then(
      ({ csv }) => download(csv, `indeks-keamanan-${month}.csv`),
      (e: unknown) => {
        if (e instanceof Refused) side.replaceChildren(problemPanel(e.problem));
      },
    );
  });
  await show(first);
}
