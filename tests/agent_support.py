"""Helpers of the agent's API tests: the OpenAPI document as a contract, requests, the log."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from gateway.analytics import operations as ops
from gateway.audit.store import AuditStore
from tools.agent_federation import LocalAgent
from tools.federation import LocalFederation

OPENAPI = json.loads(Path("gateway/agent/openapi.json").read_text())
PURPOSES = json.loads(Path("policies/registry/purposes/data.json").read_text())
END = dt.datetime(2026, 11, 1, tzinfo=ops.WIB)
AUG, NOV = "2026-08-01T00:00:00.000000Z", "2026-11-01T00:00:00.000000Z"


def basis(purpose: str) -> str:
    return str(PURPOSES[purpose]["legal_basis"])


def headers(agent: LocalAgent, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {agent.token}", "Gerbang-End-User": agent.id_token()} | extra


def post(agent: LocalAgent, path: str, body: dict[str, Any], **extra: str) -> httpx.Response:
    return httpx.post(agent.url + path, json=body, headers=headers(agent, **extra), timeout=120)


def schema_at(pointer: str) -> jsonschema.protocols.Validator:
    """A validator for the schema at `pointer` of the OpenAPI document (JSON Schema 2020-12)."""
    registry: Registry[Any] = Registry().with_resource(
        "urn:gerbang-agent", Resource.from_contents(OPENAPI, default_specification=DRAFT202012)
    )
    root = {"$ref": "urn:gerbang-agent#" + pointer}
    return jsonschema.Draft202012Validator(root, registry=registry)


def conforms(path: str, response: httpx.Response, method: str = "post") -> None:
    """The response is one the document declares for this path, and matches its schema."""
    media = response.headers["content-type"].split(";")[0]
    escaped = path.replace("~", "~0").replace("/", "~1")
    declared = OPENAPI["paths"][path][method]["responses"]
    assert str(response.status_code) in declared, (path, response.status_code)
    assert media in declared[str(response.status_code)]["content"], (path, media)
    if media.endswith("json"):
        media_ptr = media.replace("/", "~1")
        schema_at(
            f"/paths/{escaped}/{method}/responses/{response.status_code}/content/{media_ptr}/schema"
        ).validate(response.json())


TRAFFIC = {
    "dataset": "incidents",
    "fields": ["kecamatan"],
    "filters": [
        {"field": "occurred_at", "op": "ge", "values": [{"time": "2026-08-01T00:00:00Z"}]},
        {"field": "occurred_at", "op": "lt", "values": [{"time": "2026-11-01T00:00:00Z"}]},
    ],
    "aggregation": {"group_by": [{"field": "kecamatan"}]},
    "purpose": "traffic_planning",
    "legal_basis": basis("traffic_planning"),
}


def audit_entry(federation: LocalFederation, index: int) -> dict[str, Any]:
    store = AuditStore(federation.audit_url)
    try:
        return store.entries(index, index + 1)[0].fields()
    finally:
        store.close()


@contextlib.contextmanager
def running_agents(
    federation: LocalFederation, slugs: Sequence[str]
) -> Iterator[dict[str, LocalAgent]]:
    """One started agent per caller slug, stopped again on the way out."""
    started = {slug: LocalAgent(federation, slug) for slug in slugs}
    try:
        for a in started.values():
            a.start()
        yield started
    finally:
        for a in started.values():
            a.stop()
