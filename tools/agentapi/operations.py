"""The agent's operation paths: the query and the analytics (one schema each, in a loop), the
early-warning stream, acknowledgements and evidence bundles.
"""

from __future__ import annotations

from typing import Any

from tools.agentapi.schemas import OBJECT, ROWS, nullable, problem_responses, ref

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


def operation_paths() -> dict[str, Any]:
    """The query, the analytics, the warning stream, acknowledgements and evidence."""
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
    return paths
