// The agent's API types, as its OpenAPI document (gateway/agent/openapi.json) declares them.

export interface Scope {
  purpose: string;
  legal_basis: string;
  start?: string; // RFC 3339 with an offset
  end?: string;
  kota?: string[];
  kecamatan?: string[];
  categories?: string[];
}

export type FilterValue = string | number | boolean | { time: string };

export interface QueryRequest {
  dataset: string;
  fields?: string[];
  filters?: { field: string; op: "eq" | "ne" | "lt" | "le" | "gt" | "ge" | "in" | "not_in"; values: FilterValue[] }[];
  aggregation?: {
    group_by: { field: string; bucket?: "none" | "hour_of_day" | "day_of_week" | "day" | "week" | "month" | "h3" | "spans"; h3_resolution?: number; boundaries?: string[] }[];
    measure?: "count" | "exists";
  } | null;
  purpose: string;
  legal_basis: string;
  case_reference?: string;
  limit?: number;
}

export interface HeatmapRequest extends Scope { resolution?: number }
export interface PatternsRequest extends Scope { kind?: "hour_weekday" | "modus" }
export interface RiskScoresRequest extends Scope { unit?: "kecamatan" | "h3"; resolution?: number }
export interface PatrolPlanRequest extends Scope {
  units?: number;
  cap_per_area?: number;
  resolution?: number;
  previous?: string[];
}
export interface WatchWarningsRequest extends Scope { interval_seconds?: number }

export interface Receipt { leaf_index: number; entry_hash: string; leaf_hash: string }

/** What every answer names: the period, the privacy mechanism and the audit receipt. */
export interface Facts {
  operation: string;
  request_id: string;
  period: { start: string | null; end: string | null };
  privacy: {
    mechanism: "exact" | "discrete_laplace";
    epsilon: number | null;
    k: number | null;
    interval_level?: number | null;
    budget_period?: string | null;
    budget_remaining?: number | null;
  };
  audit_receipt: Receipt;
  adapters: string[];
  policy_revision: string;
  granted_fields: string[];
  suppressed_groups: number;
  evidence: string;
}

export interface Answer<T> extends Facts { result: T }

export type Row = Record<string, string | number | boolean | null>;
export interface CellCount { cell: string; count: number; low: number; high: number }
export interface WarningDay { day: string | null; alerts: Row[] }

/** RFC 9457 problem details, with Gerbang's members. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  reasons: string[];
  request_id: string;
  audit_receipt: { leaf_index: number } | null;
  adapter?: string;
  adapters?: string[];
}

export interface GeoJsonFeatureCollection {
  type: "FeatureCollection";
  features: {
    type: "Feature";
    id: string;
    geometry: { type: "Polygon"; coordinates: [number, number][][] };
    properties: Record<string, unknown>;
  }[];
  gerbang: Facts;
}
