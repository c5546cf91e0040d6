// Runs against a live agent: tests/e2e/test_agent_typescript.py starts the federation and the
// agent, then passes where it is and how to call it in the environment.

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { AgentProblem, GerbangAgent, OPERATIONS } from "../src/agent.js";
import type { QueryRequest } from "../src/types.js";

function env(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === "") throw new Error(`${name} is not set: run via pytest`);
  return value;
}

const agent = new GerbangAgent({
  url: env("GERBANG_AGENT_URL"),
  token: env("GERBANG_AGENT_TOKEN"),
  idToken: () => env("GERBANG_AGENT_ID_TOKEN"),
});
const traffic: QueryRequest = {
  dataset: "incidents",
  fields: ["kecamatan"],
  filters: [
    { field: "occurred_at", op: "ge", values: [{ time: "2026-08-01T00:00:00Z" }] },
    { field: "occurred_at", op: "lt", values: [{ time: "2026-11-01T00:00:00Z" }] },
  ],
  aggregation: { group_by: [{ field: "kecamatan" }] },
  purpose: "traffic_planning",
  legal_basis: env("GERBANG_TRAFFIC_BASIS"),
};

describe("the Gerbang agent over HTTP", () => {
  it("serves an OpenAPI 3.1 document naming every operation this client calls", async () => {
    const response = await fetch(new URL("/openapi.json", env("GERBANG_AGENT_URL")));
    const doc = (await response.json()) as { openapi: string; paths: Record<string, unknown> };
    assert.equal(doc.openapi, "3.1.0");
    for (const path of OPERATIONS) assert.ok(path in doc.paths, path);
  });

  it("answers a query as JSON, with the period, k and the audit receipt", async () => {
    const answer = await agent.query(traffic);
    assert.equal(answer.operation, "query");
    assert.deepEqual(answer.period, { start: "2026-08-01T00:00:00.000000Z", end: "2026-11-01T00:00:00.000000Z" });
    assert.equal(answer.privacy.mechanism, "discrete_laplace");
    assert.equal(answer.privacy.k, 10);
    assert.ok(answer.audit_receipt.leaf_index >= 0);
    assert.equal(answer.adapters.length, 2);
    assert.ok(answer.result.length > 0);
    for (const row of answer.result) assert.ok(typeof row["count"] === "number" && row["count"] >= 10);
  });

  it("answers the same query as CSV", async () => {
    const text = await agent.csv("query", traffic);
    const [header, ...rows] = text.trim().split("\r\n");
    assert.equal(header, "kecamatan,count");
    assert.ok(rows.length > 0);
  });

  it("streams early warnings as server-sent events", async () => {
    const commandCentre = new GerbangAgent({
      url: env("GERBANG_WARNING_AGENT_URL"),
      token: env("GERBANG_WARNING_AGENT_TOKEN"),
      idToken: () => env("GERBANG_WARNING_ID_TOKEN"),
    });
    const days: string[] = [];
    for await (const day of commandCentre.watchWarnings({
      purpose: "public_order_early_warning",
      legal_basis: env("GERBANG_WARNING_BASIS"),
      start: "2026-10-30T00:00:00+07:00",
      end: "2026-11-01T00:00:00+07:00",
    })) {
      assert.ok(day.audit_receipt.leaf_index >= 0);
      days.push(day.result.day ?? "");
    }
    assert.deepEqual(days, ["2026-10-30", "2026-10-31"]);
  });

  it("gets a policy denial as a problem naming the rule, with the receipt", async () => {
    await assert.rejects(
      agent.query({ ...traffic, aggregation: null, fields: ["incident_id"] }),
      (error: unknown) => {
        assert.ok(error instanceof AgentProblem);
        assert.equal(error.problem.status, 403);
        assert.ok(error.problem.reasons.some((r) => r.includes("aggregate")));
        assert.ok(error.problem.audit_receipt !== null);
        return true;
      },
    );
  });

  it("is refused without a valid API token", async () => {
    const stranger = new GerbangAgent({ url: env("GERBANG_AGENT_URL"), token: "gat_wrong", idToken: () => env("GERBANG_AGENT_ID_TOKEN") });
    await assert.rejects(stranger.query(traffic), (error: unknown) => {
      assert.ok(error instanceof AgentProblem);
      assert.equal(error.problem.status, 401);
      return true;
    });
  });
});
