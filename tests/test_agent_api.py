"""The organisation's agent over HTTP, against real processes (issue 14).

Two adapters and the gateway as in test_analytics_rpc.py, and three agents as
`gerbang agent serve` processes (the transport agency, the patrol directorate, the city
command centre), each with an API token and a local OIDC issuer. Every operation is asked over
HTTP as JSON, CSV and (where it has cells) GeoJSON, and every answer is checked against the
checked-in OpenAPI document.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
import io
import json
import math
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate

from gateway.agent.auth import COMMITMENT_DOMAIN
from gateway.agent.issuer import LocalIssuer
from gateway.protocol.evidence import verify_bundle
from gateway.protocol.keys import KeyRegistry
from gateway.protocol.pki import init_pki
from tests.agent_support import (
    AUG,
    END,
    NOV,
    OPENAPI,
    PURPOSES,
    TRAFFIC,
    audit_entry,
    basis,
    conforms,
    headers,
    post,
    running_agents,
    schema_at,
)
from tools.agent_federation import AUDIENCE, ISSUER, LocalAgent
from tools.city import seed_city
from tools.federation import AdapterSpec, LocalFederation, gerbang_command

REGIONS = {"h1": ("Jakarta Pusat", "Jakarta Barat"), "h2": ("Jakarta Selatan",)}
AGENTS = ("dishub-atcs", "samapta", "jsc-command-centre", "citata-spatial")


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    work = tmp_path_factory.mktemp("agent")
    init_pki(work / "pki", adapters=tuple(REGIONS))
    specs = []
    for i, (name, kota) in enumerate(REGIONS.items()):
        url = f"sqlite:///{work / f'{name}.db'}"
        seed_city(url, incidents=6000, seed=31 + i, kota=kota, persons=200)
        specs.append(AdapterSpec(name, url))
    with LocalFederation(work, specs) as fed:
        yield fed


@pytest.fixture(scope="module")
def agents(federation: LocalFederation) -> Iterator[dict[str, LocalAgent]]:
    with running_agents(federation, AGENTS) as started:
        yield started


# --- the document ---------------------------------------------------------------------------


def test_openapi_document_validates_and_is_current() -> None:
    validate(OPENAPI)
    from tools.agentapi import document

    assert document() == OPENAPI, "run python -m tools.agentapi"


def test_openapi_paths_are_the_running_agents_routes(agents: dict[str, LocalAgent]) -> None:
    from gateway.agent.routes import Agent, routes

    declared = {(p, m.upper()) for p, item in OPENAPI["paths"].items() for m in item}
    served = {
        (r.path, m)
        for r in routes(Agent(None, None, False, False, None))  # type: ignore[arg-type]
        for m in (r.methods or ())
        if r.path.startswith("/v1/") and m != "HEAD"
    }
    assert declared == served
    # Every declared operation exists on the running agent (401 without a token, not 404/405),
    # and nothing undeclared under /v1/ does.
    a = agents["dishub-atcs"]
    for path, method in sorted(declared):
        url = a.url + path.replace("{request_id}", "0" * 32)
        r = httpx.request(method, url, json={} if method == "POST" else None)
        assert r.status_code == 401, (path, method, r.status_code)
        conforms(path, r, method.lower())
    for method, path in (("GET", "/v1/query"), ("POST", "/v1/records"), ("DELETE", "/v1/heatmap")):
        r = httpx.request(method, a.url + path)
        assert r.status_code in (404, 405), (method, path)
        assert r.headers["content-type"] == "application/problem+json"
    assert httpx.get(a.url + "/openapi.json").json() == OPENAPI
    page = httpx.get(a.url + "/docs")
    assert page.status_code == 200
    assert "/docs/docs.js" in page.text
    assert "http" not in page.text.split("<body>")[1].replace("http-equiv", "")
    assert httpx.get(a.url + "/docs/docs.js").status_code == 200


# --- answers ---------------------------------------------------------------------------------


def test_query_as_json_and_csv_with_the_user_committed(
    agents: dict[str, LocalAgent], federation: LocalFederation
) -> None:
    a = agents["dishub-atcs"]
    r = post(a, "/v1/query", TRAFFIC)
    assert r.status_code == 200, r.text
    conforms("/v1/query", r)
    doc = r.json()
    assert doc["period"] == {"start": AUG, "end": NOV}
    assert doc["privacy"]["mechanism"] == "discrete_laplace"
    assert doc["privacy"]["k"] == 10
    # 00:00 UTC on 1 November is 07:00 WIB: the window reads seven hours of November's data.
    assert doc["privacy"]["budget_period"] == "2026-08..2026-11"
    assert len(doc["adapters"]) == 2
    assert {row["kecamatan"] for row in doc["result"]} >= {"Menteng", "Tebet"}
    assert all(row["count"] >= 10 for row in doc["result"])
    entry = audit_entry(federation, doc["audit_receipt"]["leaf_index"])
    assert entry["decision"] == "allow"

    # The journal names the client and the person, beside the commitment that went upstream.
    line = [json.loads(x) for x in a.journal.read_text().splitlines()][-1]
    key = (federation.keys_dir / "dishub-atcs" / "user-commitment.key").read_bytes()
    message = COMMITMENT_DOMAIN
    for part in (ISSUER.encode(), b"nip-198501012010011001"):
        message += len(part).to_bytes(4, "big") + part
    assert line["user"] == {
        "iss": ISSUER,
        "sub": "nip-198501012010011001",
        "commitment": hmac.new(key, message, hashlib.sha256).hexdigest(),
    }
    assert (line["client"], line["operation"], line["status"]) == ("sip", "query", 200)
    assert line["audit_entry"] == doc["audit_receipt"]["leaf_index"]
    # The gateway's audit entry records that same commitment, and nothing more of the person.
    assert entry["user_commitment"] == line["user"]["commitment"]
    assert "nip-198501012010011001" not in json.dumps(entry)
    # The organisation opens the commitment from its journal (oversight).
    opened = subprocess.run(
        [
            *gerbang_command(),
            "agent",
            "journal",
            "open",
            str(a.journal),
            line["user"]["commitment"],
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.splitlines()
    assert opened
    assert all(json.loads(x)["user"]["sub"] == "nip-198501012010011001" for x in opened)

    r = post(a, "/v1/query?format=csv", TRAFFIC)
    assert r.status_code == 200
    conforms("/v1/query", r)
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert rows[0].keys() == {"kecamatan", "count"}
    assert {x["kecamatan"] for x in rows} == {x["kecamatan"] for x in doc["result"]}
    assert r.headers["gerbang-mechanism"] == "discrete_laplace"
    assert r.headers["gerbang-k"] == "10"
    assert r.headers["gerbang-period"] == f"{AUG}/{NOV}"
    receipt = int(r.headers["gerbang-audit-receipt"].split(";")[0])
    assert receipt > doc["audit_receipt"]["leaf_index"]


def test_query_grouped_by_h3_cells_as_geojson(agents: dict[str, LocalAgent]) -> None:
    a = agents["samapta"]
    body = TRAFFIC | {
        "fields": [],
        "aggregation": {"group_by": [{"field": "location", "bucket": "h3", "h3_resolution": 7}]},
        "purpose": "patrol_planning",
        "legal_basis": basis("patrol_planning"),
    }
    r = post(a, "/v1/query?format=geojson", body)
    assert r.status_code == 200, r.text
    conforms("/v1/query", r)
    fc = r.json()
    assert fc["features"]
    assert {f["properties"]["count"] >= 5 for f in fc["features"]} == {True}
    assert all(len(f["id"]) == 15 for f in fc["features"])


def test_heatmap_as_geojson_polygons(agents: dict[str, LocalAgent]) -> None:
    a = agents["samapta"]
    scope = {
        "purpose": "patrol_planning",
        "legal_basis": basis("patrol_planning"),
        "start": (END - dt.timedelta(days=180)).isoformat(),
        "end": END.isoformat(),
    }
    r = post(a, "/v1/heatmap", scope | {"resolution": 8}, Accept="application/geo+json")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/geo+json"
    conforms("/v1/heatmap", r)
    fc = r.json()
    assert len(fc["features"]) > 10
    for f in fc["features"]:
        ring = f["geometry"]["coordinates"][0]
        assert ring[0] == ring[-1]
        assert len(ring) >= 7
        assert all(106 < lon < 107.2 and -6.5 < lat < -5.9 for lon, lat in ring)
        p = f["properties"]
        assert p["low"] <= p["count"] <= p["high"]
        assert p["count"] >= 5  # k = 5 on the noisy counts
    privacy = fc["gerbang"]["privacy"]
    epsilon = PURPOSES["patrol_planning"]["epsilon"]
    assert (privacy["mechanism"], privacy["epsilon"], privacy["k"]) == (
        "discrete_laplace",
        epsilon,
        5,
    )
    assert privacy["epsilon_charged"] in (0.0, epsilon)

    r = post(a, "/v1/heatmap?format=csv", scope | {"resolution": 8})
    assert r.text.splitlines()[0] == "cell,count,low,high"


def test_private_heatmap_names_epsilon_and_intervals_then_spent_budget_is_403(
    agents: dict[str, LocalAgent], federation: LocalFederation
) -> None:
    a = agents["citata-spatial"]
    scope = {
        "purpose": "spatial_planning",
        "legal_basis": basis("spatial_planning"),
        "start": (END - dt.timedelta(days=365)).isoformat(),
        "end": END.isoformat(),
    }
    r = post(a, "/v1/heatmap?format=geojson", scope | {"resolution": 8})
    assert r.status_code == 200, r.text
    conforms("/v1/heatmap", r)
    fc = r.json()
    privacy = fc["gerbang"]["privacy"]
    assert (privacy["mechanism"], privacy["epsilon"], privacy["k"]) == ("discrete_laplace", 1.0, 10)
    assert privacy["interval_level"] == 0.9
    budget = PURPOSES["spatial_planning"]["privacy_budget"]
    assert privacy["budget_remaining"] == pytest.approx(budget["per_caller"] - 1.0)
    assert privacy["budget_period"] == "2025-11..2026-10"
    assert (privacy["epsilon_charged"], privacy["held"]) == (1.0, False)
    # Two parts of scale 1/epsilon: each within ln(2/0.1) with probability 1 - 0.1/2.
    margin = 2 * math.log(2 / 0.1)
    for f in fc["features"]:
        p = f["properties"]
        assert p["low"] == max(0, math.floor(p["count"] - margin))
        assert p["high"] == math.ceil(p["count"] + margin)

    # The same question again: the held release, charged nothing.
    r = post(a, "/v1/heatmap", scope | {"resolution": 8})
    assert r.status_code == 200, r.text
    assert r.json()["privacy"]["held"] is True
    # Other questions over the same months: the months' accounts run out.
    for resolution in (7, 6):
        r = post(a, "/v1/heatmap", scope | {"resolution": resolution})
    assert r.status_code == 403, r.text
    conforms("/v1/heatmap", r)
    problem = r.json()
    assert any("privacy budget spent" in reason for reason in problem["reasons"])
    entry = audit_entry(federation, problem["audit_receipt"]["leaf_index"])
    assert (entry["decision"], entry["request"]["operation"]) == ("deny", "heatmap")


@pytest.mark.parametrize(
    ("path", "slug", "purpose", "extra", "cells"),
    [
        ("/v1/patterns", "samapta", "patrol_planning", {"kind": "hour_weekday"}, False),
        ("/v1/patterns", "samapta", "patrol_planning", {"kind": "modus"}, False),
        ("/v1/risk-scores", "samapta", "patrol_planning", {"unit": "h3"}, True),
        ("/v1/risk-scores", "samapta", "patrol_planning", {"unit": "kecamatan"}, False),
        ("/v1/patrol-plan", "samapta", "patrol_planning", {"units": 4, "cap_per_area": 1}, True),
        ("/v1/security-index", "jsc-command-centre", "security_indicators", {}, False),
    ],
)
def test_every_analytics_operation_as_json_csv_and_geojson(
    agents: dict[str, LocalAgent],
    path: str,
    slug: str,
    purpose: str,
    extra: dict[str, Any],
    cells: bool,
) -> None:
    a = agents[slug]
    body = {"purpose": purpose, "legal_basis": basis(purpose), "end": END.isoformat()} | extra
    if path == "/v1/patterns":
        body["start"] = (END - dt.timedelta(days=180)).isoformat()
    r = post(a, path, body)
    assert r.status_code == 200, r.text
    conforms(path, r)
    assert r.json()["result"]
    assert r.json()["period"]["end"] is not None
    r = post(a, path + "?format=csv", body)
    assert r.status_code == 200
    conforms(path, r)
    assert len(r.text.splitlines()) > 1
    r = post(a, path + "?format=geojson", body)
    if cells:
        assert r.status_code == 200, r.text
        assert r.json()["features"]
    else:
        assert r.status_code == 406
        assert r.headers["content-type"] == "application/problem+json"
    conforms(path, r)


def test_warnings_stream_as_server_sent_events(agents: dict[str, LocalAgent]) -> None:
    a = agents["jsc-command-centre"]
    body = {
        "purpose": "public_order_early_warning",
        "legal_basis": basis("public_order_early_warning"),
        "start": (END - dt.timedelta(days=3)).isoformat(),
        "end": END.isoformat(),
    }
    events = []
    with httpx.stream(
        "POST",
        a.url + "/v1/watch-warnings",
        json=body,
        headers=headers(a, Accept="text/event-stream"),
        timeout=120,
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        event: dict[str, str] = {}
        for line in r.iter_lines():
            if not line:
                events.append(event)
                event = {}
                continue
            name, _, value = line.partition(": ")
            event[name] = value
    assert [e["event"] for e in events] == ["day", "day", "day", "end"]
    days = [json.loads(e["data"]) for e in events[:3]]
    assert [d["result"]["day"] for d in days] == ["2026-10-29", "2026-10-30", "2026-10-31"]
    assert [e["id"] for e in events[:3]] == ["2026-10-29", "2026-10-30", "2026-10-31"]
    for d in days:
        schema_at("/components/schemas/Facts").validate(d)
        assert d["audit_receipt"]["leaf_index"] >= 0


def test_evidence_bundle_downloads_and_verifies(
    agents: dict[str, LocalAgent], federation: LocalFederation
) -> None:
    a = agents["dishub-atcs"]
    answer = post(a, "/v1/query", TRAFFIC).json()
    r = httpx.get(a.url + answer["evidence"], headers=headers(a), timeout=30)
    assert r.status_code == 200, r.text
    assert "attachment" in r.headers["content-disposition"]
    conforms("/v1/evidence/{request_id}", r, "get")
    summary = verify_bundle(
        r.json(),
        KeyRegistry.load(federation.keys_dir / "registry.json"),
        federation.log_key_path.with_suffix(".pub").read_text().strip(),
    )
    assert summary.leaf_index == answer["audit_receipt"]["leaf_index"]
    # Kept on disk: after a restart of the agent the bundle is still there for its client.
    a.stop()
    a.start()
    again = httpx.get(a.url + answer["evidence"], headers=headers(a), timeout=30)
    assert again.status_code == 200
    assert again.json() == r.json()
    # Another agent's client cannot fetch it; an unknown id is a 404 problem.
    other = agents["samapta"]
    r = httpx.get(other.url + answer["evidence"], headers=headers(other), timeout=30)
    assert r.status_code == 404
    conforms("/v1/evidence/{request_id}", r, "get")


# --- refusals --------------------------------------------------------------------------------


def test_without_a_valid_api_token_401(agents: dict[str, LocalAgent]) -> None:
    a = agents["dishub-atcs"]
    user = {"Gerbang-End-User": a.id_token()}
    for auth in ({}, {"Authorization": "Bearer gat_wrong"}, {"Authorization": "Basic eDp5"}):
        r = httpx.post(a.url + "/v1/query", json=TRAFFIC, headers=user | auth)
        assert r.status_code == 401
        assert r.headers["content-type"] == "application/problem+json"
        assert r.headers["www-authenticate"].startswith("Bearer")
        conforms("/v1/query", r)


def test_invalid_or_expired_id_token_401(agents: dict[str, LocalAgent], tmp_path: Path) -> None:
    a = agents["dishub-atcs"]
    token = {"Authorization": f"Bearer {a.token}"}
    forger = LocalIssuer.init(tmp_path / "forger", ISSUER)  # same issuer name, another key
    bad = {
        "missing": None,
        "expired": a.issuer.mint("nip-1", AUDIENCE, issued_at=0, lifetime=60),
        "forged": forger.mint("nip-1", AUDIENCE),
        "wrong audience": a.issuer.mint("nip-1", "another-agent"),
        "garbage": "not-a-jwt",
    }
    journal_before = a.journal.read_text()
    for why, id_token in bad.items():
        h = token | ({"Gerbang-End-User": id_token} if id_token else {})
        r = httpx.post(a.url + "/v1/query", json=TRAFFIC, headers=h)
        assert r.status_code == 401, why
        conforms("/v1/query", r)
    assert (
        "expired"
        in httpx.post(
            a.url + "/v1/query",
            json=TRAFFIC,
            headers=token | {"Gerbang-End-User": bad["expired"] or ""},
        ).json()["detail"]
    )
    # Refused before the gateway, and journalled for the organisation: the client, no user.
    added = a.journal.read_text().removeprefix(journal_before).splitlines()
    assert len(added) == len(bad) + 1
    for line in map(json.loads, added):
        assert (line["client"], line["user"], line["status"]) == ("sip", None, 401)
        assert line["operation"] == "/v1/query"
        assert line["request_id"] == ""


def test_policy_denial_is_403_naming_the_rule_with_the_receipt(
    agents: dict[str, LocalAgent], federation: LocalFederation
) -> None:
    a = agents["dishub-atcs"]
    records = TRAFFIC | {"aggregation": None, "fields": ["incident_id", "kecamatan"]}
    r = post(a, "/v1/query", records)
    assert r.status_code == 403, r.text
    conforms("/v1/query", r)
    problem = r.json()
    assert problem["type"].endswith("/denied")
    assert any("aggregate" in reason for reason in problem["reasons"]), problem
    assert problem["request_id"]
    entry = audit_entry(federation, problem["audit_receipt"]["leaf_index"])
    assert entry["decision"] == "deny"
    assert entry["reasons"] == problem["reasons"]
    line = json.loads(a.journal.read_text().splitlines()[-1])
    assert (line["status"], line["audit_entry"]) == (403, problem["audit_receipt"]["leaf_index"])


def test_bad_bodies_are_400_and_unknown_formats_406(agents: dict[str, LocalAgent]) -> None:
    a = agents["dishub-atcs"]
    for body in (
        b"{",
        b"[]",
        json.dumps(TRAFFIC | {"filters": [{"field": "x", "op": "like", "values": [1]}]}).encode(),
    ):
        r = httpx.post(a.url + "/v1/query", content=body, headers=headers(a))
        assert r.status_code == 400, body
        conforms("/v1/query", r)
    r = post(a, "/v1/query?format=xml", TRAFFIC)
    assert r.status_code == 406
    r = post(a, "/v1/query", TRAFFIC, Accept="application/xml")
    assert r.status_code == 406


def test_capabilities_come_from_the_live_policy(agents: dict[str, LocalAgent]) -> None:
    a = agents["dishub-atcs"]
    r = httpx.get(a.url + "/v1/capabilities", headers=headers(a), timeout=60)
    assert r.status_code == 200
    conforms("/v1/capabilities", r, "get")
    doc = r.json()
    assert doc["caller"] == "spiffe://gerbang.jakarta.go.id/dishub/atcs"
    (traffic,) = [p for p in doc["purposes"] if p["name"] == "traffic_planning"]
    purposes = json.loads(Path("policies/registry/purposes/data.json").read_text())
    assert traffic["legal_basis"] == purposes["traffic_planning"]["legal_basis"]
    assert traffic["privacy_budget"]["epsilon"] == purposes["traffic_planning"]["epsilon"]
    assert doc["audit_index"] >= 0
