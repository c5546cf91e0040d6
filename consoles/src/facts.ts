// What every figure carries: its period, privacy mechanism (ε, k), what it cost of the budget
// and its audit receipt; and a refusal with the policy's reasons.
import type { Facts, Problem } from "./api";
import { el } from "./dom";
import { date, num, periods, t } from "./i18n";
import { signOut } from "./session";

function row(label: string, value: string, testid: string): HTMLElement {
  return el("div", { class: "fact", "data-testid": testid }, el("dt", {}, label), el("dd", {}, value));
}

/** The period [start, end) shown as its first and last day (WIB). */
export function period(p: Facts["period"]): string {
  const last = p.end === null ? null : new Date(Date.parse(p.end) - 1).toISOString();
  return `${date(p.start)} – ${date(last)}`;
}

export function factsPanel(f: Facts): HTMLElement {
  const p = f.privacy;
  const rows = [
    row(t("period"), period(f.period), "period"),
    row(t("mechanism"), p.mechanism === "discrete_laplace" ? "Laplace diskret / discrete Laplace" : p.mechanism, "mechanism"),
    row(t("epsilon"), p.epsilon === null ? "–" : num(p.epsilon, 2), "epsilon"),
    row(t("k"), p.k === null ? "–" : num(p.k), "k"),
  ];
  if (p.budget_remaining !== undefined && p.budget_remaining !== null) {
    const limit = p.budget_limit === undefined || p.budget_limit === null ? "" : ` / ${num(p.budget_limit, 2)}`;
    const where = p.budget_period ? ` (${periods(p.budget_period)})` : "";
    rows.push(row(t("budgetLeft"), `${num(p.budget_remaining, 2)}${limit}${where}`, "budget"));
  }
  if (p.held) rows.push(row(t("charged"), `0 – ${t("heldRelease")}`, "charged"));
  else if (p.epsilon_charged !== undefined && p.epsilon_charged !== null)
    rows.push(row(t("charged"), `ε ${num(p.epsilon_charged, 2)}`, "charged"));
  const r = f.audit_receipt;
  rows.push(row(t("receipt"), `${t("entry")} #${r.leaf_index} · ${r.entry_hash.slice(0, 16)}…`, "receipt"));
  return el("dl", { class: "facts", "aria-label": t("receipt") }, ...rows);
}

export function problemPanel(p: Problem): HTMLElement {
  const reasons = el("ul", { "data-testid": "reasons" }, ...p.reasons.map((r) => el("li", {}, r)));
  const receipt = p.audit_receipt ? `${t("receipt")}: ${t("entry")} #${p.audit_receipt.leaf_index}` : "";
  return el(
    "section",
    { class: "problem", role: "alert", "data-testid": "problem" },
    el("h2", {}, `${t("denied")} (${p.status}): ${p.title}`),
    el("p", {}, p.detail),
    p.reasons.length ? el("h3", {}, t("reasons")) : null,
    p.reasons.length ? reasons : null,
    receipt ? el("p", { class: "receipt" }, receipt) : null,
    p.status === 401 ? signInAgain() : null,
  );
}

/** The agent did not accept the tokens (unknown, expired): back to the sign-in form. */
function signInAgain(): HTMLElement {
  const b = el("button", { type: "button", "data-testid": "sign-in-again" }, t("signInAgain"));
  b.addEventListener("click", () => {
    signOut();
    location.reload();
  });
  return b;
}
