"""The agent's OpenAPI 3.1 document, `gateway/agent/openapi.json`, built here and committed.

`python -m tools.agentapi` writes it (`--check`: fail if stale); the agent serves the committed
file and tests/e2e/test_agent_api.py checks it against the running agent. The document is built
with loops where the operations repeat: `schemas` (components, problem responses),
`operations` (the query, the analytics, warnings, acknowledgements, evidence), `capabilities`
and `oversight` (the oversight console's audit paths) each give their paths.
"""

from __future__ import annotations

from typing import Any

from tools.agentapi.capabilities import capability_paths
from tools.agentapi.operations import operation_paths
from tools.agentapi.oversight import oversight_paths
from tools.agentapi.schemas import SCHEMAS

__all__ = ["document"]


def document() -> dict[str, Any]:
    """The whole document; its paths in a fixed order, so the JSON written is stable."""
    paths = operation_paths() | capability_paths() | oversight_paths()
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
