"""The oversight console's paths of the agent's OpenAPI document (gateway/agent/oversight.py)."""

from __future__ import annotations

from typing import Any

from tools.agentapi.schemas import problem_responses

TEXT = {"type": "string"}
INT = {"type": "integer", "minimum": 0}
COUNT = {
    "type": "object",
    "required": ["requests", "denials"],
    "properties": {"requests": INT, "denials": INT},
}


def _keyed(key: str) -> dict[str, Any]:
    return {"allOf": [COUNT, {"required": [key], "properties": {key: TEXT}}]}


ENTRY = {
    "type": "object",
    "description": "An entry's clear fields (the leaf itself comes with its proof).",
    "required": ["index", "leaf_hash", "time", "caller", "decision", "sealed_details"],
    "properties": {
        "index": INT,
        "leaf_hash": {"type": "string", "description": "hex, as the agent computed it"},
        "time": TEXT,
        "kind": TEXT,
        "caller": TEXT,
        "purpose": TEXT,
        "dataset": TEXT,
        "decision": TEXT,
        "status": TEXT,
        "reasons": {"type": "array", "items": TEXT},
        "row_count": INT,
        "sealed_details": {"type": "boolean"},
    },
}

FILTERS = [
    {"name": name, "in": "query", "required": False, "schema": schema, "description": text}
    for name, schema, text in (
        ("caller", TEXT, "the caller's SPIFFE ID, exactly"),
        ("purpose", TEXT, "exactly"),
        ("dataset", TEXT, "exactly"),
        ("decision", {"enum": ["allow", "deny", "error"]}, "exactly"),
        ("from", {"type": "string", "format": "date-time"}, "entries at or after"),
        ("to", {"type": "string", "format": "date-time"}, "entries before"),
    )
]
INDEX = [{"name": "index", "in": "path", "required": True, "schema": INT}]


def _get(op: str, summary: str, schema: Any, errors: dict[str, Any], **more: Any) -> Any:
    return {
        "operationId": op,
        "summary": summary,
        **more,
        "responses": {
            "200": {"description": summary, "content": {"application/json": {"schema": schema}}},
            **errors,
        },
    }


def oversight_paths() -> dict[str, Any]:
    """`/v1/audit/...`: read as the oversight body through the gateway's AuditService."""
    read = problem_responses("400", "401", "403", "502", "503")
    settings = {
        "type": "object",
        "required": ["log_key", "witnesses", "details"],
        "properties": {
            "log_key": {"type": ["string", "null"], "description": "pinned in [oversight]"},
            "witnesses": {"type": "array", "items": TEXT},
            "details": {
                "type": "object",
                "required": ["allowed", "reason"],
                "properties": {
                    "allowed": {"type": "boolean"},
                    "reason": {"type": ["string", "null"]},
                },
            },
        },
    }
    page = {
        "type": "object",
        "required": ["size", "entries", "scanned", "next_before"],
        "properties": {
            "size": INT,
            "entries": {"type": "array", "items": ENTRY},
            "scanned": INT,
            "next_before": {
                "type": ["integer", "null"],
                "description": "`before` of the next page",
            },
        },
    }
    stats = {
        "type": "object",
        "required": ["size", "scanned", "complete", "by_caller", "by_purpose", "by_week"],
        "properties": {
            "size": INT,
            "scanned": INT,
            "complete": {"type": "boolean"},
            "by_caller": {"type": "array", "items": _keyed("caller")},
            "by_purpose": {"type": "array", "items": _keyed("purpose")},
            "by_week": {"type": "array", "items": _keyed("week")},
        },
    }
    checkpoint = {
        "type": "object",
        "required": ["size", "checkpoint_size", "root_hash", "note"],
        "properties": {
            "size": INT,
            "checkpoint_size": INT,
            "root_hash": TEXT,
            "note": {"type": "string", "description": "C2SP signed note with cosignatures"},
        },
    }
    proof = {
        "type": "object",
        "required": ["leaf_index", "tree_size", "leaf", "proof", "checkpoint"],
        "properties": {
            "leaf_index": INT,
            "tree_size": INT,
            "leaf": {"type": "string", "contentEncoding": "base64"},
            "proof": {"type": "array", "items": {"type": "string", "contentEncoding": "base64"}},
            "checkpoint": {"type": "string", "description": "the signed note of tree_size"},
        },
    }
    details = {
        "type": "object",
        "required": ["index", "details", "sha256"],
        "properties": {"index": INT, "details": {"type": "object"}, "sha256": TEXT},
    }
    paths: dict[str, Any] = {
        "/v1/audit/settings": {
            "get": _get(
                "audit_settings",
                "The pinned log and witness keys, and whether this client may open details",
                settings,
                problem_responses("401"),
            )
        },
        "/v1/audit/entries": {
            "get": _get(
                "audit_entries",
                "Audit entries, newest first, filtered on their clear fields",
                page,
                read,
                parameters=[
                    *FILTERS,
                    {"name": "before", "in": "query", "schema": INT},
                    {"name": "limit", "in": "query", "schema": {**INT, "maximum": 200}},
                ],
            )
        },
        "/v1/audit/statistics": {
            "get": _get(
                "audit_statistics",
                "Requests and denials per caller, purpose and ISO week (WIB)",
                stats,
                read,
                parameters=[p for p in FILTERS if p["name"] in ("from", "to")],
            )
        },
        "/v1/audit/checkpoint": {
            "get": _get("audit_checkpoint", "The latest signed checkpoint", checkpoint, read)
        },
        "/v1/audit/entries/{index}/proof": {
            "get": _get(
                "audit_proof",
                "An entry's leaf and its inclusion proof in the latest signed checkpoint",
                proof,
                problem_responses("400", "401", "403", "404", "502", "503"),
                parameters=INDEX,
            )
        },
        "/v1/audit/entries/{index}/details": {
            "post": _get(
                "audit_details",
                "An entry's sealed details, opened with the oversight body's key",
                details,
                problem_responses("400", "401", "403", "404", "422", "502", "503"),
                parameters=INDEX,
            )
        },
    }
    return paths
