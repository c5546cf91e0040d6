// The agent's HTTP API as the consoles use it: types written from gateway/agent/openapi.json
// (components Facts, Receipt, Problem, FeatureCollection; the heatmap and security-index
// answers) and one function per call. Credentials travel as the headers every client sends.
import { credentials } from "./session";

export interface Receipt {
  leaf_index: number;
  entry_hash: string;
  leaf_hash: string;
}

export interface Privacy {
  mechanism: "exact" | "discrete_laplace";
  epsilon: number | null;
  k: number | null;
  interval_level?: number | null;
  budget_period?: string | null;
  budget_remaining?: number | null;
  epsilon_charged?: number | null;
  held?: boolean | null;
  budget_spent?: number | null;
  budget_limit?: number | null;
  held_until?: string | null;
}

export interface Facts {
  operation: string;
  request_id: string;
  period: { start: string | null; end: string | null };
  privacy: Privacy;
  audit_receipt: Receipt;
  adapters?: string[];
  policy_revision?: string;
  suppressed_groups?: number;
  evidence?: string;
}

/** RFC 9457 problem details with Gerbang's members (components/schemas/Problem). */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  reasons: string[];
  request_id: string;
  audit_receipt?: { leaf_index: number } | null;
}

export interface Scope {
  purpose: string;
  legal_basis: string;
  start?: string;
  end?: string;
  kota?: string[];
  kecamatan?: string[];
  categories?: string[];
}

export interface HeatmapCell {
  count: number;
  low: number;
  high: number;
}

export interface HeatmapFeature {
  type: "Feature";
  id: string;
  geometry: { type: "Polygon"; coordinates: number[][][] };
  properties: HeatmapCell;
}

export interface HeatmapGeoJson {
  type: "FeatureCollection";
  features: HeatmapFeature[];
  gerbang: Facts;
}

/** One row of the security index (gateway/analytics/index.py: AreaIndex). */
export interface AreaIndex {
  name: string;
  level: "kecamatan" | "kota" | "city";
  kota: string | null;
  population: number;
  incidents: number;
  rate_per_100k: number;
  clearance_rate: number | null;
  solved_rate: number | null;
  trend: number | null;
  trend_low: number | null;
  trend_high: number | null;
  vs_city: number | null;
}

/** Reported incidents per month of one area, summed from the index's noisy monthly counts. */
export interface Series {
  level: "kecamatan" | "kota" | "city";
  name: string;
  months: string[];
  incidents: number[];
}

export type SecurityIndexAnswer = Facts & { result: AreaIndex[]; series?: Series[] };

/** A refusal of the agent or the policy: the problem document it answered. */
export class Refused extends Error {
  constructor(readonly problem: Problem) {
    super(problem.detail);
  }
}

function headers(accept: string): Headers {
  const c = credentials();
  const h = new Headers({ "Content-Type": "application/json", Accept: accept });
  if (c !== null) {
    h.set("Authorization", `Bearer ${c.token}`);
    h.set("Gerbang-End-User", c.idToken);
  }
  return h;
}

async function post(path: string, body: object, accept: string): Promise<Response> {
  const r = await fetch(path, { method: "POST", headers: headers(accept), body: JSON.stringify(body) });
  return checked(r);
}

async function checked(r: Response): Promise<Response> {
  if (r.ok) return r;
  const type = r.headers.get("content-type") ?? "";
  if (type.startsWith("application/problem+json")) throw new Refused((await r.json()) as Problem);
  throw new Refused({
    type: "about:blank",
    title: r.statusText,
    status: r.status,
    detail: `HTTP ${r.status}`,
    reasons: [],
    request_id: "",
  });
}

export async function heatmap(scope: Scope, resolution: number): Promise<HeatmapGeoJson> {
  const r = await post("/v1/heatmap?format=geojson", { ...scope, resolution }, "application/geo+json");
  return (await r.json()) as HeatmapGeoJson;
}

export async function securityIndex(scope: Scope): Promise<SecurityIndexAnswer> {
  const r = await post("/v1/security-index", scope, "application/json");
  return (await r.json()) as SecurityIndexAnswer;
}

/** The same question as CSV: the body and the facts the agent sends as Gerbang-* headers. */
export async function securityIndexCsv(scope: Scope): Promise<{ csv: Blob; receipt: string }> {
  const r = await post("/v1/security-index?format=csv", scope, "text/csv");
  return { csv: await r.blob(), receipt: r.headers.get("Gerbang-Audit-Receipt") ?? "" };
}

/** One alert of the early-warning stream (gateway/analytics/warning.py: Alert), named by the agent. */
export interface Alert {
  id: string;
  area: string;
  day: string;
  window_days: number;
  statistic: number;
  baseline: number;
  threshold: number;
  p_value: number;
  acknowledged?: { by: string | null; at: string } | null;
}

export type WarningDay = Facts & { result: { day: string | null; alerts: Alert[] } };

/** The warning stream (Server-Sent Events over a POST, so the credentials travel as headers):
 * `onDay` for each day as it arrives; resolves at the `end` event, throws Refused on a problem. */
export async function watchWarnings(scope: Scope & { interval_seconds?: number }, onDay: (d: WarningDay) => void, signal?: AbortSignal): Promise<void> {
  const r = await fetch("/v1/watch-warnings", {
    method: "POST",
    headers: headers("text/event-stream"),
    body: JSON.stringify(scope),
    ...(signal ? { signal } : {}),
  });
  await checked(r);
  if (r.body === null) return;
  const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let cut: number;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const fields = new Map<string, string>();
      for (const line of block.split("\n")) {
        const at = line.indexOf(": ");
        if (at > 0) fields.set(line.slice(0, at), line.slice(at + 2));
      }
      const event = fields.get("event");
      const data = JSON.parse(fields.get("data") ?? "{}") as unknown;
      if (event === "day") onDay(data as WarningDay);
      else if (event === "problem") throw new Refused(data as Problem);
      else if (event === "end") return;
    }
  }
}

export interface Acknowledgement {
  alert: string;
  acknowledged_by: string | null;
  acknowledged_at: string;
  request_id: string;
  audit_entry: number;
}

export async function acknowledge(alert: string): Promise<Acknowledgement> {
  const r = await post("/v1/acknowledge", { alert }, "application/json");
  return (await r.json()) as Acknowledgement;
}

/** A cell's relative risk (gateway/analytics/risk.py: RiskScore). */
export interface RiskScore {
  unit: string;
  score: number;
  low: number;
  high: number;
  rate: number;
  factors: Record<string, number>;
  contributions: Record<string, number>;
}

export interface PatrolPlanAnswer extends Facts {
  result: {
    assignments: { cell: string; area: string; expected: number }[];
    expected_coverage: number;
    per_area: Record<string, number>;
    scores: RiskScore[];
  };
}

export async function patrolPlan(scope: Scope, units: number, cap: number, resolution: number): Promise<PatrolPlanAnswer> {
  const body = { ...scope, units, cap_per_area: cap, resolution };
  const r = await post("/v1/patrol-plan", body, "application/json");
  return (await r.json()) as PatrolPlanAnswer;
}

/** What the live policy lets this organisation ask (GET /v1/capabilities). */
export interface Capabilities {
  caller: string;
  organisation: string;
  purposes: { name: string; legal_basis: string; operations?: string[] }[];
  policy_revision: string;
}

export async function capabilities(): Promise<Capabilities> {
  const r = await checked(await fetch("/v1/capabilities", { headers: headers("application/json") }));
  return (await r.json()) as Capabilities;
}
