// A small client of the Gerbang agent: plain HTTP with fetch, no gRPC, no cryptography.
// The agent signs, verifies, opens and merges; this client only names who asks.

import type {
  Answer,
  CellCount,
  GeoJsonFeatureCollection,
  HeatmapRequest,
  PatrolPlanRequest,
  PatternsRequest,
  Problem,
  QueryRequest,
  RiskScoresRequest,
  Row,
  Scope,
  WarningDay,
  WatchWarningsRequest,
} from "./types.js";

/** The agent refused: its RFC 9457 problem document, as sent. */
export class AgentProblem extends Error {
  readonly problem: Problem;
  readonly retryAfter: number | null;

  constructor(problem: Problem, retryAfter: number | null) {
    super(`${problem.status} ${problem.title}: ${problem.detail}`);
    this.name = "AgentProblem";
    this.problem = problem;
    this.retryAfter = retryAfter;
  }
}

export interface AgentOptions {
  /** e.g. http://127.0.0.1:8480 */
  url: string;
  /** This system's API token. */
  token: string;
  /** The end user's OIDC ID token, for every request. */
  idToken: () => string;
}

/** The operations this client calls, as the agent's OpenAPI document names them. */
export const OPERATIONS = [
  "/v1/query",
  "/v1/heatmap",
  "/v1/patterns",
  "/v1/risk-scores",
  "/v1/patrol-plan",
  "/v1/security-index",
  "/v1/watch-warnings",
  "/v1/evidence/{request_id}",
] as const;

export interface ServerSentEvent { event: string; id: string; data: string }

export class GerbangAgent {
  constructor(private readonly options: AgentOptions) {}

  private headers(accept: string): Record<string, string> {
    return {
      Authorization: `Bearer ${this.options.token}`,
      "Gerbang-End-User": this.options.idToken(),
      "Content-Type": "application/json",
      Accept: accept,
    };
  }

  private async post(path: string, body: unknown, accept: string): Promise<Response> {
    const response = await fetch(new URL(path, this.options.url), {
      method: "POST",
      headers: this.headers(accept),
      body: JSON.stringify(body),
    });
    if (!response.ok) throw await problemOf(response);
    return response;
  }

  private async json<T>(path: string, body: unknown): Promise<Answer<T>> {
    return (await (await this.post(path, body, "application/json")).json()) as Answer<T>;
  }

  query(request: QueryRequest): Promise<Answer<Row[]>> {
    return this.json("/v1/query", request);
  }

  heatmap(request: HeatmapRequest): Promise<Answer<CellCount[]>> {
    return this.json("/v1/heatmap", request);
  }

  patterns(request: PatternsRequest): Promise<Answer<Record<string, unknown>>> {
    return this.json("/v1/patterns", request);
  }

  riskScores(request: RiskScoresRequest): Promise<Answer<Row[]>> {
    return this.json("/v1/risk-scores", request);
  }

  patrolPlan(request: PatrolPlanRequest): Promise<Answer<Record<string, unknown>>> {
    return this.json("/v1/patrol-plan", request);
  }

  securityIndex(request: Scope): Promise<Answer<Row[]>> {
    return this.json("/v1/security-index", request);
  }

  async csv(operation: string, request: unknown): Promise<string> {
    return (await this.post(`/v1/${operation}`, request, "text/csv")).text();
  }

  async geojson(operation: string, request: unknown): Promise<GeoJsonFeatureCollection> {
    const response = await this.post(`/v1/${operation}`, request, "application/geo+json");
    return (await response.json()) as GeoJsonFeatureCollection;
  }

  /** The early-warning stream: one answer per day scanned, until the agent ends it. */
  async *watchWarnings(request: WatchWarningsRequest): AsyncGenerator<Answer<WarningDay>> {
    const response = await this.post("/v1/watch-warnings", request, "text/event-stream");
    for await (const event of serverSentEvents(response)) {
      if (event.event === "day") yield JSON.parse(event.data) as Answer<WarningDay>;
      else if (event.event === "problem") throw new AgentProblem(JSON.parse(event.data) as Problem, null);
      else if (event.event === "end") return;
    }
  }

  async evidence(path: string): Promise<Record<string, unknown>> {
    const response = await fetch(new URL(path, this.options.url), { headers: this.headers("application/json") });
    if (!response.ok) throw await problemOf(response);
    return (await response.json()) as Record<string, unknown>;
  }
}

async function problemOf(response: Response): Promise<AgentProblem> {
  const retry = response.headers.get("retry-after");
  const type = response.headers.get("content-type") ?? "";
  if (!type.startsWith("application/problem+json")) {
    const text = await response.text();
    return new AgentProblem(
      { type: "about:blank", title: response.statusText, status: response.status, detail: text.slice(0, 200),
        reasons: [], request_id: "", audit_receipt: null },
      retry === null ? null : Number(retry),
    );
  }
  return new AgentProblem((await response.json()) as Problem, retry === null ? null : Number(retry));
}

/** Parse a text/event-stream body (HTML Living Standard, section 9.2.6), event by event. */
export async function* serverSentEvents(response: Response): AsyncGenerator<ServerSentEvent> {
  if (response.body === null) return;
  const decoder = new TextDecoder();
  let buffer = "";
  let event: ServerSentEvent = { event: "message", id: "", data: "" };
  let data: string[] = [];
  for await (const chunk of response.body) {
    buffer += decoder.decode(chunk as Uint8Array, { stream: true });
    let newline: number;
    while ((newline = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, newline).replace(/\r$/, "");
      buffer = buffer.slice(newline + 1);
      if (line === "") {
        if (data.length > 0) yield { ...event, data: data.join("\n") };
        event = { event: "message", id: "", data: "" };
        data = [];
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") event.event = value;
      else if (field === "id") event.id = value;
      else if (field === "data") data.push(value);
    }
  }
}
