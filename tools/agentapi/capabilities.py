"""The agent's `/v1/capabilities` path: purposes, datasets, operations, budget left, limits."""

from __future__ import annotations

from typing import Any

from tools.agentapi.schemas import OBJECT, problem_responses


def capability_paths() -> dict[str, Any]:
    """`/v1/capabilities`: what this organisation may ask, from the live policy."""
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
    capabilities = {
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
    return {
        "/v1/capabilities": {
            "get": {
                "operationId": "capabilities",
                "summary": "What this organisation may ask, from the live policy",
                "responses": {
                    "200": {
                        "description": "purposes, datasets, operations, budget left, limits",
                        "content": {"application/json": {"schema": capabilities}},
                    },
                    **problem_responses("401", "503"),
                },
            }
        }
    }
