// Command centre (public order early warning): the agent's warning stream, live, day by day
// as the gateway releases it; each alert with its evidence (observed, expected, threshold,
// window, p) and an acknowledge action the agent journals with the person signed in.
import { acknowledge, Refused, watchWarnings, type Alert, type WarningDay } from "./api";
import { dayField, el, select } from "./dom";
import { factsPanel, problemPanel } from "./facts";
import { date, dateTime, num, scientific, t } from "./i18n";
import { REGISTRY } from "./registry";

const PURPOSE = "public_order_early_warning";
const DAY = 86_400_000;

/** "YYYY-MM-DD" `days` before the day "YYYY-MM-DD". */
function dayBefore(day: string, days: number): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) - days * DAY).toISOString().slice(0, 10);
}

function wib(day: string): string {
  return `${day}T00:00:00+07:00`;
}

function p(x: number): string {
  return x < 0.0001 ? scientific(x) : num(x, 4);
}

function evidence(a: Alert): HTMLElement {
  const first = dayBefore(a.day, a.window_days - 1);
  const row = (label: string, value: string, name: string): HTMLElement =>
    el("div", { class: "metric", "data-evidence": name }, el("span", { class: "label" }, label), el("span", { class: "value" }, value));
  return el(
    "div",
    { class: "evidence" },
    row(t("observed"), num(a.statistic), "observed"),
    row(t("expected"), num(a.baseline, 1), "expected"),
    row(t("threshold"), num(a.threshold), "threshold"),
    row(t("window"), `${a.window_days} ${t("days")}: ${date(wib(first))} – ${date(wib(a.day))}`, "window"),
    row("p", p(a.p_value), "p"),
  );
}

function alertCard(a: Alert, live: HTMLElement): HTMLElement {
  const button = el("button", { type: "button", "data-testid": "acknowledge" }, t("acknowledge"));
  const state = el("p", { class: "ack", "data-testid": "ack-state" });
  const card = el(
    "article",
    { class: "card alert", "data-testid": "alert", "data-alert": a.id, "aria-label": `${t("alert")}: ${a.area}` },
    el("h3", {}, `${a.area}`),
    el("p", { class: "sub" }, `${t("alert")} · ${date(wib(a.day))}`),
    evidence(a),
    button,
    state,
  );
  const seen = (by: string | null, at: string, entry: string): void => {
    card.dataset.acknowledged = "true";
    state.textContent = `${t("acknowledgedBy")} ${by ?? "?"} · ${dateTime(at)} WIB${entry}`;
    button.remove();
  };
  if (a.acknowledged) seen(a.acknowledged.by, a.acknowledged.at, "");
  button.addEventListener("click", () => {
    button.disabled = true;
    acknowledge(a.id).then(
      (ack) => {
        seen(ack.acknowledged_by, ack.acknowledged_at, ` · ${t("entry")} #${ack.audit_entry}`);
        live.textContent = `${t("acknowledged")}: ${a.area}`;
      },
      (e: unknown) => {
        button.disabled = false;
        if (e instanceof Refused) state.replaceChildren(problemPanel(e.problem));
      },
    );
  });
  return card;
}

export async function commandCentre(root: HTMLElement): Promise<void> {
  const end = REGISTRY.data_end;
  const start = dayField("start", t("fromDay"), dayBefore(end, 3), true);
  const last = dayField("end", t("toDay"), dayBefore(end, 1), true);
  const form = el(
    "form",
    { class: "controls", "aria-label": t("commandCentre") },
    start.field,
    last.field,
    select("pace", t("pace"), [["0", t("asFast")], ["1", `1 ${t("secondsPerDay")}`], ["5", `5 ${t("secondsPerDay")}`]], "0"),
    el("button", { type: "submit" }, t("watch")),
  );
  const status = el("div", { class: "status", "aria-live": "polite", "data-testid": "status" });
  const alerts = el("div", { class: "cards", "data-testid": "alerts", "aria-live": "polite" });
  const days = el("ol", { class: "days", "data-testid": "days" });
  const side = el("aside", { class: "side", "data-testid": "facts" });
  root.replaceChildren(
    el("h1", {}, t("commandCentre")),
    form,
    status,
    el("div", { class: "split" }, el("section", { "aria-labelledby": "alerts-heading" }, el("h2", { id: "alerts-heading" }, t("alertsHeading")), alerts, el("h2", {}, t("daysScanned")), days), side),
  );
  let running: AbortController | null = null;

  async function watch(): Promise<void> {
    running?.abort();
    const controller = new AbortController();
    running = controller;
    alerts.replaceChildren();
    days.replaceChildren();
    side.replaceChildren();
    delete root.dataset.ended;
    status.textContent = t("live");
    root.dataset.ready = "true";
    let count = 0;
    const onDay = (d: WarningDay): void => {
      const n = d.result.alerts.length;
      count += n;
      days.append(
        el("li", { "data-day": d.result.day ?? "" }, `${date(wib(d.result.day ?? ""))}: ${num(n)} ${t("alerts")} · ${t("entry")} #${d.audit_receipt.leaf_index}`),
      );
      for (const a of d.result.alerts) alerts.prepend(alertCard(a, status));
      side.replaceChildren(factsPanel(d));
      status.textContent = `${t("live")} · ${num(count)} ${t("alerts")}`;
    };
    try {
      await watchWarnings(
        {
          purpose: PURPOSE,
          legal_basis: REGISTRY.purposes[PURPOSE].legal_basis,
          start: wib(start.day()),
          end: wib(dayBefore(last.day(), -1)),
          interval_seconds: Number(new FormData(form).get("pace") ?? 0),
        },
        onDay,
        controller.signal,
      );
      status.textContent = `${t("streamEnded")} · ${num(count)} ${t("alerts")}`;
      if (count === 0) alerts.append(el("p", {}, t("noAlerts")));
    } catch (e) {
      if (controller.signal.aborted) return;
      status.textContent = "";
      if (e instanceof Refused) side.replaceChildren(problemPanel(e.problem));
      else throw e;
    }
    root.dataset.ended = "true";
  }

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    void watch();
  });
  window.addEventListener("hashchange", () => running?.abort(), { once: true });
  await watch();
}
