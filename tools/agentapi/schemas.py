"""The agent's OpenAPI components: the request and answer schemas, and the problem responses
every path shares (RFC 9457 problem details).
"""

from __future__ import annotations

from typing import Any


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
                                        "spans",
                                    ]
                                },
                                "h3_resolution": {"type": "integer", "minimum": 0, "maximum": 15},
                                "boundaries": {
                                    "description": (
                                        "spans only (ADR 0032): 2 to 64 Monday 00:00 WIB "
                                        "instants, strictly increasing, the first and last "
                                        "the window's ge and lt filters; each row's value is "
                                        "its span, YYYY-MM-DD/PnW"
                                    ),
                                    "type": "array",
                                    "minItems": 2,
                                    "maxItems": 64,
                                    "items": {"type": "string", "format": "date-time"},
                                },
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

OBJECT = {"type": "object"}
ROWS = {"type": "array", "items": OBJECT}
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
