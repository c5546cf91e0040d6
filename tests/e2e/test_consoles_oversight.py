"""The oversight console in a real browser (issue 15): Kompolnas's agent reads the audit log
through the gateway's AuditService, and the page verifies what it is given.

Real processes: a gateway, one adapter, the transport agency's and the spatial planners' agents
(whose requests, allowed and denied, fill the log) and Kompolnas's agent with its [oversight]
pins, the log key and its witness's key, and its details key for the client "komisioner" only.
A real witness round (the Kompolnas witness, over mTLS) cosigns the checkpoint first. The
page's verification (consoles/src/verify.ts) is also run under `node --test` against the
published vectors and a checkpoint the gateway's Python code signed and cosigned.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from playwright.sync_api import Browser, Page, Route

from gateway.cli.audit import witness_via_gateway
from gateway.protocol.pki import init_pki
from gateway.protocol.tls import TlsFiles
from gateway.tlog.checkpoint import Checkpoint, cosign, format_cosigner_key, sign_checkpoint
from gateway.tlog.merkle import leaf_hash
from gateway.tlog.note import generate_signer_key, parse_signer_key
from gateway.tlog.subtrees import MemoryNodeStore, inclusion_proof, root_at
from gerbang.v1 import audit_pb2, audit_pb2_grpc
from tests.conftest import require
from tests.e2e.test_consoles_browser import CHROMIUM, SHOTS, shot, signed_in
from tests.support.agent_support import TRAFFIC, conforms, post, running_agents
from tests.support.audit_log import entries
from tests.support.axe import assert_accessible
from tests.support.conventions import assert_conventions
from tools.agent_federation import LocalAgent
from tools.city import seed_city
from tools.federation import AdapterSpec, LocalFederation

ROOT = Path(__file__).resolve().parents[2]
CONSOLES = ROOT / "consoles"
VECTORS = ROOT.parent / "shared" / "vectors"
OVERSIGHT = "kompolnas-oversight"
WITNESS = "kompolnas.go.id/witness"
SPATIAL = {
    "purpose": "spatial_planning",
    "legal_basis": json.loads((ROOT / "policies/registry/purposes/data.json").read_text())[
        "spatial_planning"
    ]["legal_basis"],
    "start": "2026-10-01T00:00:00+07:00",
    "end": "2026-11-01T00:00:00+07:00",
    "resolution": 7,
}


def cosign_head(federation: LocalFederation, kompolnas: LocalAgent) -> None:
    """Wait until the checkpointer has signed the whole log, then a Kompolnas witness round."""
    size = len(entries(federation))
    h = {"Authorization": f"Bearer {kompolnas.token}", "Gerbang-End-User": kompolnas.id_token()}
    deadline = time.monotonic() + 30
    while True:  # the checkpointer signs the grown log within its interval
        cp = httpx.get(kompolnas.url + "/v1/audit/checkpoint", headers=h, timeout=30)
        if cp.json()["checkpoint_size"] >= size or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    witness_via_gateway(
        federation.address,
        federation.pki,
        OVERSIGHT,
        federation.witness_key(),
        federation.workdir / "witness-state.json",
        federation.log_key_path.with_suffix(".pub").read_text().strip(),
    )


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    require(CHROMIUM.exists(), "no /usr/bin/chromium (apt-get install chromium)")
    work = tmp_path_factory.mktemp("oversight")
    init_pki(work / "pki", adapters=("h1",))
    url = f"sqlite:///{work / 'h1.db'}"
    seed_city(url, incidents=8_000, seed=73, persons=100)
    with LocalFederation(work, [AdapterSpec("h1", url)]) as fed:
        yield fed


@pytest.fixture(scope="module")
def agents(federation: LocalFederation) -> Iterator[dict[str, LocalAgent]]:
    """The callers' agents make the log's traffic; Kompolnas's reads it, cosigned."""
    with running_agents(federation, ("dishub-atcs", "citata-spatial")) as callers:
        for _ in range(3):
            assert post(callers["dishub-atcs"], "/v1/query", TRAFFIC).status_code == 200
        records = TRAFFIC | {"aggregation": None, "fields": ["incident_id", "kecamatan"]}
        assert post(callers["dishub-atcs"], "/v1/query", records).status_code == 403
        assert post(callers["citata-spatial"], "/v1/heatmap", SPATIAL).status_code == 200
        kompolnas = LocalAgent(
            federation, OVERSIGHT, client="komisioner", oversight=True, other_clients=("staf",)
        )
        kompolnas.start()
        try:
            cosign_head(federation, kompolnas)
            yield {**callers, OVERSIGHT: kompolnas}
        finally:
            kompolnas.stop()


def rows(page: Page) -> list[dict[str, str]]:
    out = []
    for r in page.locator("[data-testid=entry]").all():
        cells = r.locator("td").all_inner_texts()
        out.append(
            {
                "index": cells[0],
                "caller": cells[2],
                "decision": r.get_attribute("data-decision") or "",
            }
        )
    return out


def show(page: Page) -> None:
    page.evaluate("document.getElementById('view').removeAttribute('data-ready')")
    page.click("form.controls button[type=submit]")
    page.wait_for_selector("#view[data-ready=true]")


def test_oversight_view_shows_the_log_its_cosigned_checkpoint_and_statistics(
    federation: LocalFederation, agents: dict[str, LocalAgent], browser: Browser
) -> None:
    page = signed_in(browser, agents[OVERSIGHT], "pengawasan")
    # Signing in asked Capabilities, itself an entry: cosign the log as it is now, then show
    # again, which verifies the latest checkpoint afresh.
    cosign_head(federation, agents[OVERSIGHT])
    show(page)
    log = entries(federation)
    shown = rows(page)
    assert len(shown) == len(log)  # fewer than a page: every entry, newest first
    assert [r["index"] for r in shown] == [f"#{i}" for i in reversed(range(len(log)))]
    # The latest checkpoint verified in the browser, with the Kompolnas witness's cosignature.
    box = page.locator("[data-testid=checkpoint]")
    assert box.get_attribute("data-verified") == "true"
    assert "\N{CHECK MARK}" in box.locator("[data-testid=log-signature] dd").inner_text()
    cos = box.locator(f"[data-testid=cosignature][data-witness='{WITNESS}']")
    assert cos.get_attribute("data-valid") == "true"
    # Statistics from the log's clear fields, as the store holds them.
    requests = Counter(e["caller"] for e in log if e["kind"] != "policy_reload")
    denials = Counter(
        e["caller"] for e in log if e["kind"] != "policy_reload" and e["decision"] != "allow"
    )
    table = page.locator("[data-testid=by-caller]")
    for caller, n in requests.items():
        cells = table.locator(f"tr[data-key='{caller}'] td").all_inner_texts()
        assert cells == [str(n), str(denials[caller])], (caller, cells)
    assert requests["spiffe://gerbang.jakarta.go.id/dishub/atcs"] == 4
    assert denials["spiffe://gerbang.jakarta.go.id/dishub/atcs"] == 1
    purposes = page.locator("[data-testid=by-purpose] tbody tr").evaluate_all(
        "rs => rs.map(r => r.dataset.key)"
    )
    assert {"traffic_planning", "spatial_planning"} <= set(purposes)
    assert page.locator("[data-testid=by-week] tbody tr").count() >= 1
    assert_conventions(page, "id")
    shot(page, "oversight")
    assert_accessible(page, "oversight", SHOTS)
    page.click("#lang")  # English on request, the checks run again
    page.wait_for_selector("#view[data-ready=true]")
    assert page.locator("h1").inner_text() == "Oversight console"
    page.wait_for_selector("[data-testid=checkpoint][data-verified=true]")
    assert_conventions(page, "en")
    assert (
        "valid, checked in the browser" in box.locator("[data-testid=log-signature]").inner_text()
    )
    shot(page, "oversight-en")


def test_oversight_filters_by_decision_caller_and_time(
    federation: LocalFederation, agents: dict[str, LocalAgent], browser: Browser
) -> None:
    page = signed_in(browser, agents[OVERSIGHT], "pengawasan")
    log = entries(federation)
    page.select_option("#decision", "deny")
    show(page)
    denied = rows(page)
    assert [r["index"] for r in denied] == [
        f"#{e['index']}" for e in reversed(log) if e["decision"] == "deny"
    ]
    assert denied
    assert {r["decision"] for r in denied} == {"deny"}
    shot(page, "oversight-filtered")
    page.select_option("#decision", "")
    page.select_option("#caller", "spiffe://gerbang.jakarta.go.id/citata/spatial")
    show(page)
    assert {r["caller"] for r in rows(page)} == {"citata/spatial"}
    assert len(rows(page)) == sum(e["caller"].endswith("citata/spatial") for e in log)
    page.select_option("#caller", "")
    page.fill("#to", "01/01/2026")  # day first; before every entry of this log
    show(page)
    assert rows(page) == []
    assert page.locator("[data-testid=status]").get_attribute("data-count") == "0"


def _tamper_leaf(route: Route) -> None:
    answer = route.fetch()
    doc = answer.json()
    leaf = base64.b64decode(doc["leaf"]).replace(b'"allow"', b'"deny"', 1)
    route.fulfill(response=answer, json=doc | {"leaf": base64.b64encode(leaf).decode()})


def _tamper_proof(route: Route) -> None:
    answer = route.fetch()
    doc = answer.json()
    first = bytearray(base64.b64decode(doc["proof"][0]))
    first[0] ^= 1
    route.fulfill(
        response=answer, json=doc | {"proof": [base64.b64encode(first).decode(), *doc["proof"][1:]]}
    )


def test_a_proof_verifies_in_the_browser_and_a_tampered_one_fails_visibly(
    agents: dict[str, LocalAgent], browser: Browser
) -> None:
    page = signed_in(browser, agents[OVERSIGHT], "pengawasan")
    allowed = page.locator("[data-testid=entry][data-decision=allow]").nth(1)
    allowed.locator("[data-testid=check]").click()
    proof = page.locator("[data-testid=proof]")
    page.wait_for_selector("[data-testid=proof][data-verified]")
    assert proof.get_attribute("data-verified") == "true"
    assert "\N{CHECK MARK}" in proof.locator("[data-testid=proof-result]").inner_text()
    assert proof.locator("[data-testid=leaf-decision] dd").inner_text() == "allow"
    shot(page, "oversight-proof")
    # The agent (or anything between) alters the leaf: the page's own hashing catches it.
    page.route("**/v1/audit/entries/*/proof", _tamper_leaf)
    allowed.locator("[data-testid=check]").click()
    page.wait_for_selector("[data-testid=proof][data-verified=false]")
    assert "GAGAL" in proof.locator("[data-testid=proof-result]").inner_text()
    assert proof.locator("[data-testid=leaf-decision]").count() == 0
    shot(page, "oversight-proof-tampered")
    page.unroute("**/v1/audit/entries/*/proof")
    page.route("**/v1/audit/entries/*/proof", _tamper_proof)
    allowed.locator("[data-testid=check]").click()
    page.wait_for_selector("[data-testid=proof][data-verified=false]")
    assert "root" in proof.locator("[data-testid=proof-result]").inner_text()


def test_sealed_details_open_for_the_commissioner_and_not_for_staff(
    agents: dict[str, LocalAgent], browser: Browser
) -> None:
    kompolnas = agents[OVERSIGHT]
    page = signed_in(browser, kompolnas, "pengawasan")
    page.locator("[data-testid=entry][data-decision=deny] [data-testid=check]").first.click()
    page.wait_for_selector("[data-testid=proof][data-verified=true]")
    page.click("[data-testid=open-details]")
    details = page.wait_for_selector("[data-testid=details]")
    assert details is not None
    opened = json.loads(details.inner_text())
    # The filter values in clear, which the leaf holds only as commitments.
    assert {
        "field": "occurred_at",
        "op": "ge",
        "values": ["2026-08-01T00:00:00.000000Z"],
    } in opened["filters"]
    shot(page, "oversight-details")
    assert_accessible(page, "oversight-details", SHOTS)

    staff = signed_in(browser, kompolnas, "pengawasan", token=kompolnas.tokens["staf"])
    staff.locator("[data-testid=entry][data-decision=deny] [data-testid=check]").first.click()
    staff.wait_for_selector("[data-testid=proof][data-verified=true]")
    assert "details_clients" in staff.locator("[data-testid=details-role]").inner_text()
    staff.click("[data-testid=open-details]")
    problem = staff.wait_for_selector("[data-testid=details-box] [data-testid=problem]")
    assert problem is not None
    assert "403" in problem.inner_text()
    assert "'staf'" in staff.locator("[data-testid=details-box] [data-testid=reasons]").inner_text()
    assert staff.locator("[data-testid=details]").count() == 0
    shot(staff, "oversight-details-refused")
    journal = [json.loads(x) for x in kompolnas.journal.read_text().splitlines()]
    opened_by = [(x["client"], x["status"]) for x in journal if x["operation"] == "audit-details"]
    assert opened_by == [("komisioner", 200), ("staf", 403)]


def test_a_caller_that_is_no_oversight_body_sees_the_gateways_reason(
    agents: dict[str, LocalAgent], browser: Browser
) -> None:
    page = signed_in(browser, agents["dishub-atcs"], "pengawasan")
    problem = page.locator("#view > [data-testid=problem]")
    assert "403" in problem.locator("h2").inner_text()
    # The AuditService's refusal carries no google.rpc reasons: its status text is the detail.
    assert "is not an oversight identity" in problem.inner_text()
    assert page.locator("[data-testid=entry]").count() == 0
    shot(page, "oversight-denied")
    assert_accessible(page, "oversight-denied", SHOTS)


def _signed_fixture(path: Path) -> None:
    """A checkpoint over five leaves, signed by a fresh log key and cosigned by a witness,
    made by the gateway's own code; plus what the node test alters."""
    leaves = [json.dumps({"decision": "allow", "index": i}).encode() for i in range(5)]
    tree = MemoryNodeStore()
    tree.append([leaf_hash(x) for x in leaves])
    origin = "test.gerbang.example/audit"
    skey, vkey = generate_signer_key(origin)
    _, other_vkey = generate_signer_key(origin)
    checkpoint = Checkpoint(origin, 5, root_at(5, tree))
    note = sign_checkpoint(checkpoint, [parse_signer_key(skey)]).decode()
    witness = Ed25519PrivateKey.generate()
    line = cosign(checkpoint.to_text(), witness, "witness.example", 1_700_000_000)
    forged = cosign(
        checkpoint.to_text(), Ed25519PrivateKey.generate(), "witness.example", 1_700_000_000
    )
    cosigned = note + line
    path.write_text(
        json.dumps(
            {
                "note": cosigned,
                "log_key": vkey,
                "other_log_key": other_vkey,
                "witness_key": format_cosigner_key("witness.example", witness.public_key()),
                "witness_name": "witness.example",
                "timestamp": 1_700_000_000,
                "cosignature_b64": line.split()[-1],
                # Another key's signature under the witness's key ID.
                "forged_cosignature_b64": base64.b64encode(
                    base64.b64decode(line.split()[-1])[:4]
                    + base64.b64decode(forged.split()[-1])[4:]
                ).decode(),
                "size": 5,
                "index": 3,
                "leaf": leaves[3].decode(),
                "proof": [base64.b64encode(h).decode() for h in inclusion_proof(3, 5, tree)],
            }
        )
    )


def test_the_page_verifier_passes_the_published_vectors_under_node(tmp_path: Path) -> None:
    node = shutil.which("node")
    esbuild = CONSOLES / "node_modules" / ".bin" / "esbuild"
    require(node and esbuild.exists(), "no node or consoles/node_modules (cd consoles && npm ci)")
    require(VECTORS.exists(), f"no published vectors at {VECTORS}")
    bundle = tmp_path / "verify.mjs"
    subprocess.run(
        [str(esbuild), str(CONSOLES / "src" / "verify.ts"), "--bundle", "--format=esm",
         f"--outfile={bundle}"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    _signed_fixture(tmp_path / "checkpoint.json")
    env = os.environ | {
        "GERBANG_VERIFY_JS": bundle.as_uri(),
        "GERBANG_VECTORS": str(VECTORS),
        "GERBANG_CHECKPOINT_JSON": str(tmp_path / "checkpoint.json"),
    }
    run = subprocess.run(
        [str(node), "--test", str(CONSOLES / "test" / "verify.test.mjs")],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "# pass 3" in run.stdout, run.stdout
    assert "# fail 0" in run.stdout, run.stdout


def test_the_audit_endpoints_answer_as_the_openapi_document_declares(
    agents: dict[str, LocalAgent],
) -> None:
    kompolnas, dishub = agents[OVERSIGHT], agents["dishub-atcs"]

    def call(agent: LocalAgent, method: str, path: str, token: str | None = None) -> httpx.Response:
        h = {
            "Authorization": f"Bearer {token or agent.token}",
            "Gerbang-End-User": agent.id_token(),
        }
        return httpx.request(method, agent.url + path, headers=h, timeout=60)

    for path in ("/v1/audit/settings", "/v1/audit/checkpoint", "/v1/audit/statistics"):
        r = call(kompolnas, "GET", path)
        assert r.status_code == 200, r.text
        conforms(path, r, "get")
    r = call(kompolnas, "GET", "/v1/audit/entries?limit=2&decision=allow")
    conforms("/v1/audit/entries", r, "get")
    page = r.json()
    assert [e["decision"] for e in page["entries"]] == ["allow", "allow"]
    assert page["next_before"] == page["entries"][-1]["index"]
    older = call(kompolnas, "GET", f"/v1/audit/entries?limit=2&before={page['next_before']}")
    assert all(e["index"] < page["next_before"] for e in older.json()["entries"])
    conforms(
        "/v1/audit/entries/{index}/proof",
        call(kompolnas, "GET", "/v1/audit/entries/0/proof"),
        "get",
    )
    conforms("/v1/audit/entries", call(kompolnas, "GET", "/v1/audit/entries?from=yesterday"), "get")
    opened = call(kompolnas, "POST", "/v1/audit/entries/0/details")
    conforms("/v1/audit/entries/{index}/details", opened, "post")
    refused = call(kompolnas, "POST", "/v1/audit/entries/0/details", kompolnas.tokens["staf"])
    assert refused.status_code == 403
    conforms("/v1/audit/entries/{index}/details", refused, "post")
    denied = call(dishub, "GET", "/v1/audit/entries")
    assert denied.status_code == 403
    conforms("/v1/audit/entries", denied, "get")
    assert call(kompolnas, "GET", "/v1/audit/entries", "gat_not-a-token").status_code == 401


def test_get_sealed_details_hands_the_blob_to_oversight_only(
    federation: LocalFederation, agents: dict[str, LocalAgent]
) -> None:
    log = entries(federation)

    def ask(identity: str, index: int) -> audit_pb2.GetSealedDetailsResponse:
        creds = TlsFiles.load(federation.pki, identity).channel_credentials()
        with grpc.secure_channel(federation.address, creds) as ch:
            stub = audit_pb2_grpc.AuditServiceStub(ch)
            answer: audit_pb2.GetSealedDetailsResponse = stub.GetSealedDetails(
                audit_pb2.GetSealedDetailsRequest(index=index), timeout=10
            )
            return answer

    got = ask(OVERSIGHT, 0)
    assert hashlib.sha256(got.blob).hexdigest() == log[0]["details"]["sha256"]
    with pytest.raises(grpc.RpcError) as err:
        ask(OVERSIGHT, len(log) + 100)
    assert err.value.code() is grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as err:
        ask("dishub-atcs", 0)
    assert err.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert "not an oversight identity" in str(err.value.details())


def test_the_oversight_table_is_parsed_and_a_wrong_key_stops_the_agent(tmp_path: Path) -> None:
    from gateway.agent.config import load_config
    from gateway.errors import ConfigurationError
    from gateway.oversight.witness import WitnessKey
    from tests.e2e.test_agent_config import BASE

    _, vkey = generate_signer_key("gerbang.jakarta.go.id/gerbang/audit")
    witness = WitnessKey.load_or_create(tmp_path / "w.json", "kompolnas.go.id/witness")
    path = tmp_path / "agent.toml"
    table = (
        f"\n[oversight]\nlog_key = {json.dumps(vkey)}\n"
        f"witnesses = [{json.dumps(witness.verifier_key)}]\n"
        'details_key = "oversight.x25519"\ndetails_clients = ["komisioner"]\n'
    )
    path.write_text(BASE + table)
    o = load_config(path, env={}).oversight
    assert o is not None
    assert (o.log_key, o.witnesses) == (vkey, (witness.verifier_key,))
    assert o.details_key == tmp_path / "oversight.x25519"
    assert o.details_clients == frozenset({"komisioner"})
    # A details key file that is not there stops the agent: it is never made up.
    from gateway.agent.oversight import oversight_routes

    with pytest.raises(ConfigurationError, match="does not exist"):
        oversight_routes(None, o, None)  # type: ignore[arg-type]
    assert load_config(None, env={"GERBANG_AGENT_IDENTITY": "x"} | _env()).oversight is None
    for wrong, words in (
        (table.replace(vkey, witness.verifier_key), "only Ed25519"),
        (table.replace(witness.verifier_key, vkey), "cosignature/v1"),
        (table + "extra = 1\n", "unknown key"),
        (table.replace('["komisioner"]', '"komisioner"'), "list of strings"),
    ):
        path.write_text(BASE + wrong)
        with pytest.raises(ConfigurationError, match=words):
            load_config(path, env={})


def _env() -> dict[str, str]:
    return {
        "GERBANG_AGENT_PKI": "pki",
        "GERBANG_AGENT_KEYS": "keys",
        "GERBANG_AGENT_GATEWAY": "127.0.0.1:7443",
        "GERBANG_AGENT_TOKENS": "sip:" + "ab" * 32,
        "GERBANG_AGENT_USERS_REQUIRED": "false",
    }


def test_a_newer_checkpoint_shows_the_witness_that_has_not_cosigned_it(
    federation: LocalFederation, agents: dict[str, LocalAgent], browser: Browser
) -> None:
    """Last in this module: it grows the log past the cosigned checkpoint."""
    assert post(agents["dishub-atcs"], "/v1/query", TRAFFIC).status_code == 200
    size = len(entries(federation))
    kompolnas = agents[OVERSIGHT]
    h = {"Authorization": f"Bearer {kompolnas.token}", "Gerbang-End-User": kompolnas.id_token()}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        cp = httpx.get(kompolnas.url + "/v1/audit/checkpoint", headers=h, timeout=30).json()
        if cp["checkpoint_size"] >= size:
            break
        time.sleep(0.2)
    page = signed_in(browser, kompolnas, "pengawasan")
    box = page.locator("[data-testid=checkpoint]")
    assert box.get_attribute("data-verified") == "true"
    # At least the grown log: opening the console asks Capabilities, itself an entry.
    assert int(box.locator("[data-testid=checkpoint-size] dd").inner_text()) >= size
    witness = box.locator(f"[data-testid=cosignature][data-witness='{WITNESS}']")
    assert witness.get_attribute("data-valid") == "missing"
    assert "belum menandatangani" in witness.inner_text()


def test_the_checkpoint_panel_shows_the_checkpoint_the_proof_was_checked_against(
    federation: LocalFederation, agents: dict[str, LocalAgent], browser: Browser
) -> None:
    """Last in this module: the log grows while the page is open, so the gateway proves the
    entry against a newer checkpoint than the one the panel opened with; the panel follows,
    and both say which tree size they show."""
    kompolnas = agents[OVERSIGHT]
    page = signed_in(browser, kompolnas, "pengawasan")
    box = page.locator("[data-testid=checkpoint]")
    opened = int(box.locator("[data-testid=checkpoint-size] dd").inner_text().replace(".", ""))
    assert post(agents["dishub-atcs"], "/v1/query", TRAFFIC).status_code == 200
    size = len(entries(federation))
    h = {"Authorization": f"Bearer {kompolnas.token}", "Gerbang-End-User": kompolnas.id_token()}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        cp = httpx.get(kompolnas.url + "/v1/audit/checkpoint", headers=h, timeout=30).json()
        if cp["checkpoint_size"] >= size:
            break
        time.sleep(0.2)
    assert size > opened
    page.locator("[data-testid=entry] [data-testid=check]").first.click()
    page.wait_for_selector("[data-testid=proof][data-verified=true]")
    proven = int(page.locator("[data-testid=proof]").get_attribute("data-size") or 0)
    assert proven >= size
    assert box.get_attribute("data-size") == str(proven)
    assert box.locator("[data-testid=checkpoint-size] dd").inner_text() == f"{proven:,}".replace(
        ",", "."
    )
    assert f"{proven:,}".replace(",", ".") in box.locator("h2").first.inner_text()
    said = page.locator("[data-testid=proof-checkpoint]").inner_text()
    assert said == f"diperiksa terhadap checkpoint ukuran pohon {proven:,}".replace(",", ".")
    shot(page, "oversight-proof-latest")
