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

export type SecurityIndexAnswer = Facts & { result: AreaIndex[] };

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

async function post(path: string, body: Scope & { resolution?: number }, accept: string): Promise<Response> {
  const r = await fetch(path, { method: "POST", headers: headers(accept), body: JSON.stringify(body) });
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
