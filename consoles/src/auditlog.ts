// The oversight console's calls: the agent's /v1/audit/* endpoints (gateway/agent/oversight.py),
// which read the gateway's AuditService as the oversight body. Types follow openapi.json.
import { Refused, type Problem } from "./api";
import { credentials } from "./session";

export interface AuditSettings {
  log_key: string | null;
  witnesses: string[];
  details: { allowed: boolean; reason: string | null };
}

export interface EntrySummary {
  index: number;
  leaf_hash: string;
  time: string;
  kind: string;
  caller: string;
  purpose: string;
  dataset: string;
  decision: string;
  status: string;
  reasons: string[];
  row_count: number;
  sealed_details: boolean;
}

export interface EntryPage {
  size: number;
  entries: EntrySummary[];
  scanned: number;
  next_before: number | null;
}

export interface Count {
  requests: number;
  denials: number;
}

export interface Statistics {
  size: number;
  scanned: number;
  complete: boolean;
  by_caller: (Count & { caller: string })[];
  by_purpose: (Count & { purpose: string })[];
  by_week: (Count & { week: string })[];
}

export interface LatestCheckpoint {
  size: number;
  checkpoint_size: number;
  root_hash: string;
  note: string;
}

export interface InclusionProof {
  leaf_index: number;
  tree_size: number;
  leaf: string; // base64 of the leaf bytes
  proof: string[]; // base64 hashes
  checkpoint: string; // the signed (and cosigned) checkpoint note of tree_size
}

export interface OpenedDetails {
  index: number;
  details: unknown;
  sha256: string;
}

export interface EntryFilter {
  caller?: string;
  purpose?: string;
  dataset?: string;
  decision?: string;
  from?: string;
  to?: string;
  before?: number;
  limit?: number;
}

async function call<T>(method: "GET" | "POST", path: string): Promise<T> {
  const c = credentials();
  const h = new Headers({ Accept: "application/json" });
  if (c !== null) {
    h.set("Authorization", `Bearer ${c.token}`);
    h.set("Gerbang-End-User", c.idToken);
  }
  const r = await fetch(path, { method, headers: h });
  if (r.ok) return (await r.json()) as T;
  if ((r.headers.get("content-type") ?? "").startsWith("application/problem+json")) throw new Refused((await r.json()) as Problem);
  throw new Refused({ type: "about:blank", title: r.statusText, status: r.status, detail: `HTTP ${r.status}`, reasons: [], request_id: "" });
}

function query(f: EntryFilter): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(f)) if (v !== undefined && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}

export const auditSettings = (): Promise<AuditSettings> => call("GET", "/v1/audit/settings");
export const auditEntries = (f: EntryFilter): Promise<EntryPage> => call("GET", `/v1/audit/entries${query(f)}`);
export const auditStatistics = (f: EntryFilter): Promise<Statistics> => call("GET", `/v1/audit/statistics${query(f)}`);
export const latestCheckpoint = (): Promise<LatestCheckpoint> => call("GET", "/v1/audit/checkpoint");
export const inclusionProof = (index: number): Promise<InclusionProof> => call("GET", `/v1/audit/entries/${index}/proof`);
export const openDetails = (index: number): Promise<OpenedDetails> => call("POST", `/v1/audit/entries/${index}/details`);
