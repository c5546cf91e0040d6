"""Write the agent's OpenAPI 3.1 document, `gateway/agent/openapi.json` (`--check`: fail if stale).

The document is built here, with loops where the operations repeat, and committed; the agent
serves the committed file and tests/e2e/test_agent_api.py checks it against the running agent.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tools.agentapi_oversight import oversight_paths

OUT = Path("gateway/agent/openapi.json")


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(kind: str) -> dict[str, Any]:
    return {"type": [kind, "null"]}


STRINGS = {"type": "array", "items": {"type": "string"}, "maxItems": 100}

SCHEMAS: dict[str, Any] = {
    "Scope": {
        "type": "object",
        "description": "Purpose, legal basis, window [start, end) and the areas and categories.",
        "required": ["purpose", "legal_basis"],
        "properties": {
            "purpose": {"type": "string", "examples": ["traffic_planning"]},
            "legal_basis": {"type": "string"},
            "start": {"type": "string", "format": "date-time"},
            "end": {"type": "string", "format": "date-time"},
            "kota": STRINGS,
            "kecamatan": STRINGS,
            "categories": STRINGS,
        },
    },
    "FilterValue": {
        "oneOf": [
            {"type": "string"},
            {"type": "number"},
            {"type": "boolean"},
            {
                "type": "object",
                "required": ["time"],
                "additionalProperties": False,
                "properties": {"time": {"type": "string", "format": "date-time"}},
            },
        ]
    },
    "QueryRequest": {
        "type": "object",
        "required": ["dataset", "purpose", "legal_basis"],
        "properties": {
            "dataset": {"type": "string", "examples": ["incidents"]},
            "fields": STRINGS,
            "filters": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["field", "op", "values"],
                    "properties": {
                        "field": {"type": "string"},
                        "op": {
                            "enum": ["eq", "ne", "lt", "le", "gt", "ge", "in", "not_in"],
                        },
                        "values": {"type": "array", "items": ref("FilterValue")},
                    },
                },
            },
            "aggregation": {
                "type": "object",
                "properties": {
                    "group_by": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["field"],
                            "properties": {
                                "field": {"type": "string"},
                                "bucket": {
                                    "enum": [
                                        "none",
                                        "hour_of_day",
                                        "day_of_week",
                                        "day",
                                        "week",
                                        "month",
                                        "h3",
                                    ]
                                },
                                "h3_resolution": {"type": "integer", "minimum": 0, "maximum": 15},
                            },
                        },
                    },
                    "measure": {"enum": ["count", "exists"]},
                },
            },
            "purpose": {"type": "string"},
            "legal_basis": {"type": "string"},
            "case_reference": {"type": "string"},
            "limit": {"type": "integer", "minimum": 0},
        },
    },
    "HeatmapRequest": {
        "allOf": [
            ref("Scope"),
            {"properties": {"resolution": {"type": "integer", "minimum": 0, "maximum": 15}}},
        ]
    },
    "PatternsRequest": {
        "allOf": [ref("Scope"), {"properties": {"kind": {"enum": ["hour_weekday", "modus"]}}}]
    },
    "RiskScoresRequest": {
        "allOf": [
            ref("Scope"),
            {
                "properties": {
                    "unit": {"enum": ["kecamatan", "h3"]},
                    "resolution": {"type": "integer", "minimum": 0, "maximum": 15},
                }
            },
        ]
    },
    "PatrolPlanRequest": {
        "allOf": [
            ref("Scope"),
            {
                "properties": {
                    "units": {"type": "integer", "minimum": 1},
                    "cap_per_area": {"type": "integer", "minimum": 1},
                    "resolution": {"type": "integer", "minimum": 0, "maximum": 15},
                    "previous": STRINGS | {"maxItems": 1000},
                }
            },
        ]
    },
    "SecurityIndexRequest": ref("Scope"),
    "WatchWarningsRequest": {
        "allOf": [
            ref("Scope"),
            {"properties": {"interval_seconds": {"type": "integer", "minimum": 0}}},
        ]
    },
    "Receipt": {
        "type": "object",
        "required": ["leaf_index", "entry_hash", "leaf_hash"],
        "properties": {
            "leaf_index": {"type": "integer"},
            "entry_hash": {"type": "string"},
            "leaf_hash": {"type": "string"},
        },
    },
    "Facts": {
        "type": "object",
        "description": "What every answer names: period, mechanism, epsilon, k and receipt.",
        "required": ["operation", "request_id", "period", "privacy", "audit_receipt"],
        "properties": {
            "operation": {"type": "string"},
            "request_id": {"type": "string"},
            "period": {
                "type": "object",
                "required": ["start", "end"],
                "properties": {"start": nullable("string"), "end": nullable("string")},
            },
            "privacy": {
                "type": "object",
                "required": ["mechanism", "epsilon", "k"],
                "properties": {
                    "mechanism": {"enum": ["exact", "discrete_laplace"]},
                    "epsilon": nullable("number"),
                    "k": nullable("integer"),
                    "interval_level": nullable("number"),
                    "budget_period": nullable("string"),
                    "budget_remaining": nullable("number"),
                    "epsilon_charged": nullable("number"),
                    "held": nullable("boolean"),
                    "budget_spent": nullable("number"),
                    "budget_limit": nullable("number"),
                    "held_until": nullable("string"),
                },
            },
            "audit_receipt": ref("Receipt"),
            "adapters": STRINGS,
            "policy_revision": {"type": "string"},
            "granted_fields": STRINGS,
            "suppressed_groups": {"type": "integer"},
            "evidence": {"type": "string", "description": "where to download the bundle"},
        },
    },
    "Problem": {
        "type": "object",
        "description": "RFC 9457 problem details, with Gerbang's members.",
        "required": ["type", "title", "status", "detail", "reasons", "request_id"],
        "properties": {
            "type": {"type": "string", "format": "uri"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "reasons": STRINGS,
            "request_id": {"type": "string"},
            "audit_receipt": {
                "oneOf": [
                    {"type": "null"},
                    {
                        "type": "object",
                        "required": ["leaf_index"],
                        "properties": {"leaf_index": {"type": "integer"}},
                    },
                ]
            },
            "adapter": {"type": "string", "description": "the adapter whose part was refused"},
            "adapters": STRINGS | {"description": "every adapter that failed"},
        },
    },
    "FeatureCollection": {
        "type": "object",
        "description": "RFC 7946; each H3 cell a polygon, its count and interval as properties.",
        "required": ["type", "features", "gerbang"],
        "properties": {
            "type": {"const": "FeatureCollection"},
            "features": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["type", "id", "geometry", "properties"],
                    "properties": {
                        "type": {"const": "Feature"},
                        "id": {"type": "string"},
                        "geometry": {
                            "type": "object",
                            "required": ["type", "coordinates"],
                            "properties": {"type": {"const": "Polygon"}},
                        },
                        "properties": {"type": "object"},
                    },
                },
            },
            "gerbang": ref("Facts"),
        },
    },
}

# Each operation: (path, summary, request schema, result schema, has H3 cells)
COUNT_ROW = {
    "type": "object",
    "required": ["cell", "count", "low", "high"],
    "properties": {
        "cell": {"type": "string"},
        "count": {"type": "integer"},
        "low": {"type": "integer"},
        "high": {"type": "integer"},
    },
}
OBJECT = {"type": "object"}
ROWS = {"type": "array", "items": OBJECT}
OPERATIONS: list[tuple[str, str, str, Any, bool]] = [
    ("query", "QueryService.Query: records or counts", "QueryRequest", ROWS, True),
    (
        "heatmap",
        "Counts per H3 cell",
        "HeatmapRequest",
        {"type": "array", "items": COUNT_ROW},
        True,
    ),
    ("patterns", "Time or modus patterns per kecamatan", "PatternsRequest", OBJECT, False),
    ("risk-scores", "Risk scores, highest first", "RiskScoresRequest", ROWS, True),
    ("patrol-plan", "Patrol units over H3 cells", "PatrolPlanRequest", OBJECT, True),
    ("security-index", "Security index per area", "SecurityIndexRequest", ROWS, False),
]
ERRORS = {
    "400": "The body is malformed",
    "401": "No or unknown API token, or no, invalid or expired ID token",
    "403": "Denied by policy: the reasons name the rule; the audit receipt records it",
    "406": "The asked format is not available for this answer",
    "429": "A limit was reached",
    "502": "An adapter's part or the answer does not verify: nothing is released",
    "500": "The agent failed: nothing is released",
    "503": "The gateway is unavailable: retry after the Retry-After seconds",
}


def problem_responses(*codes: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for code in codes:
        out[code] = {
            "description": ERRORS.get(code, "problem"),
            "content": {"application/problem+json": {"schema": ref("Problem")}},
        }
        if code == "503":
            out[code]["headers"] = {"Retry-After": {"schema": {"type": "integer"}}}
    return out


def operation(name: str, summary: str, request: str, result: Any, cells: bool) -> dict[str, Any]:
    answer = {"allOf": [ref("Facts"), {"required": ["result"], "properties": {"result": result}}]}
    content: dict[str, Any] = {
        "application/json": {"schema": answer},
        "text/csv": {"schema": {"type": "string"}},
    }
    if cells:
        content["application/geo+json"] = {"schema": ref("FeatureCollection")}
    return {
        "post": {
            "operationId": name.replace("-", "_"),
            "summary": summary,
            "parameters": [
                {
                    "name": "format",
                    "in": "query",
                    "required": False,
                    "schema": {"enum": ["json", "csv", "geojson"]},
                    "description": "overrides the Accept header",
                }
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": ref(request)}},
            },
            "responses": {
                "200": {"description": "the answer, opened and verified", "content": content},
                **problem_responses("400", "401", "403", "406", "429", "500", "502", "503"),
            },
        }
    }


# The security index's answer also carries its monthly series (gateway/agent/service.py).
SERIES = {
    "type": "array",
    "description": "reported incidents per month and area, summed from the noisy monthly "
    "counts the index read (no further privacy budget)",
    "items": {
        "type": "object",
        "required": ["level", "name", "months", "incidents"],
        "properties": {
            "level": {"enum": ["kecamatan", "kota", "city"]},
            "name": {"type": "string"},
            "months": {"type": "array", "items": {"type": "string", "pattern": "^\\d{4}-\\d{2}$"}},
            "incidents": {"type": "array", "items": {"type": "integer"}},
        },
    },
}


def document() -> dict[str, Any]:
    paths: dict[str, Any] = {
        f"/v1/{name}": operation(name, summary, request, result, cells)
        for name, summary, request, result, cells in OPERATIONS
    }
    index_json = paths["/v1/security-index"]["post"]["responses"]["200"]["content"]
    index_json["application/json"]["schema"]["allOf"].append(
        {"required": ["series"], "properties": {"series": SERIES}}
    )
    paths["/v1/watch-warnings"] = {
        "post": {
            "operationId": "watch_warnings",
            "summary": "The early-warning stream, as Server-Sent Events",
            "description": "Events `day` (data: Facts plus `result` {day, alerts}), then `end`; "
            "a failure mid-stream is a `problem` event carrying a Problem document. Each alert "
            "carries its `id` (day/window_days/kecamatan, for /v1/acknowledge) and "
            "`acknowledged` ({by, at} once acknowledged, else null).",
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": ref("WatchWarningsRequest")}},
            },
            "responses": {
                "200": {
                    "description": "one event per day scanned",
                    "content": {"text/event-stream": {"schema": {"type": "string"}}},
                },
                **problem_responses("400", "401", "403", "406", "429", "500", "502", "503"),
            },
        }
    }
    paths["/v1/acknowledge"] = {
        "post": {
            "operationId": "acknowledge",
            "summary": "Acknowledge an early-warning alert this client was sent",
            "description": "The journal records who acknowledged which alert, when, and the "
            "answer (request id, audit entry) that released it. Acknowledgements are read back "
            "from the journal when the agent restarts.",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["alert"],
                            "properties": {
                                "alert": {
                                    "type": "string",
                                    "description": "the alert's id: day/window_days/kecamatan",
                                    "maxLength": 200,
                                }
                            },
                        }
                    }
                },
            },
            "responses": {
                "200": {
                    "description": "the acknowledgement as journalled",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["alert", "acknowledged_at", "request_id"],
                                "properties": {
                                    "alert": {"type": "string"},
                                    "acknowledged_by": nullable("string"),
                                    "acknowledged_at": {"type": "string", "format": "date-time"},
                                    "client": {"type": "string"},
                                    "request_id": {"type": "string"},
                                    "audit_entry": {"type": "integer"},
                                },
                            }
                        }
                    },
                },
                **problem_responses("400", "401", "404", "503"),
            },
        }
    }
    paths["/v1/evidence/{request_id}"] = {
        "get": {
            "operationId": "evidence",
            "summary": "The evidence bundle of an answer this client received",
            "parameters": [
                {"name": "request_id", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "responses": {
                "200": {
                    "description": "signed request, plans, attestations, audit inclusion proof",
                    "content": {"application/json": {"schema": OBJECT}},
                },
                **problem_responses("401", "404", "503"),
            },
        }
    }
    budget = {
        "type": ["object", "null"],
        "required": ["epsilon", "period", "current_period", "remaining", "per_caller"],
        "properties": {
            "epsilon": {"type": "number", "description": "spent by one release"},
            "period": {"enum": ["day", "week", "month"], "description": "data period"},
            "current_period": {"type": "string"},
            "remaining": {"type": "number", "description": "left on the current data period"},
            "per_caller": {"type": "number"},
            "per_purpose": {"type": "number"},
            "hold": {"enum": ["hour", "day", "week", "month"]},
        },
    }
    purpose = {
        "type": "object",
        "required": ["name", "legal_basis", "aggregate_only", "datasets", "privacy_budget"],
        "properties": {
            "name": {"type": "string"},
            "description": {"type": "string"},
            "legal_basis": {"type": "string", "description": "to be sent exactly"},
            "aggregate_only": {"type": "boolean"},
            "case_reference_required": {"type": "boolean"},
            "requires_user": {"type": "boolean"},
            "operations": {"type": "array", "items": {"type": "string"}},
            "datasets": {"type": "array", "items": OBJECT},
            "generalisation": OBJECT,
            "limits": OBJECT,
            "privacy_budget": budget,
        },
    }
    CAPABILITIES = {
        "type": "object",
        "required": ["caller", "organisation", "purposes", "policy_revision", "audit_index"],
        "properties": {
            "caller": {"type": "string"},
            "organisation": {"type": "string"},
            "system": {"type": "string"},
            "purposes": {"type": "array", "items": purpose},
            "policy_revision": {"type": "string"},
            "audit_index": {"type": "integer"},
        },
    }
    paths["/v1/capabilities"] = {
        "get": {
            "operationId": "capabilities",
            "summary": "What this organisation may ask, from the live policy",
            "responses": {
                "200": {
                    "description": "purposes, datasets, operations, budget left, limits",
                    "content": {"application/json": {"schema": CAPABILITIES}},
                },
                **problem_responses("401", "503"),
            },
        }
    }
    paths |= oversight_paths(problem_responses)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Gerbang agent",
            "version": "1.0.0",
            "description": "The organisation's agent: Gerbang over local HTTP/JSON. It signs, "
            "verifies, opens and merges on the caller's behalf; every request names the end "
            "user by an OIDC ID token, which leaves the organisation only as a keyed commitment.",
        },
        "servers": [{"url": "http://127.0.0.1:8480"}],
        "security": [{"apiToken": [], "endUser": []}, {"clientCertificate": [], "endUser": []}],
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "apiToken": {"type": "http", "scheme": "bearer"},
                "clientCertificate": {"type": "mutualTLS"},
                "endUser": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Gerbang-End-User",
                    "description": "the end user's OIDC ID token (a JWT)",
                },
            },
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    text = json.dumps(document(), indent=1, ensure_ascii=False) + "\n"
    if args.check:
        if OUT.read_text() != text:
            print(f"{OUT} is stale: run python -m tools.agentapi", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
