"""A policy server the gateway can trust (issue 12, ADR 0018), against the real OPA.

Regression: the OPA server engine spoke plain HTTP on loopback, and after its first bundle
check obeyed whatever answered on OPA's port. Now the link is mTLS under its own CA, and
every decision carries the revision that made it (OPA's provenance of the staged bundle).

- the engine alone: an impostor on the port (with a certificate from another CA, or plain
  HTTP) is refused; a decision by another revision is a denial naming that revision;
- through the gateway (real processes): the policy server stopped, slow (beyond the decision
  deadline) or replaced by an impostor each end in UNAVAILABLE, with exactly one audit entry
  whose decision is "error", not a policy denial; a revision mismatch is a denial, audited
  with the revision that decided; the log verifies afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import pytest

from gateway.audit.store import AuditStore
from gateway.client import GerbangClient, QueryRefused
from gateway.oversight.verify import verify_log
from gateway.policy import (
    OpaServerEngine,
    OpaServerProcess,
    init_policy_link,
    load_bundle,
)
from gateway.protocol.model import Aggregation, Bucket, GroupBy, Query
from gateway.protocol.pki import init_pki
from tests.conftest import month_window, require_opa
from tests.support.audit_log import entry, log_size
from tools.city import seed_city
from tools.federation import AdapterSpec, LocalFederation
from tools.policy_corpus import purpose_bases

pytestmark = pytest.mark.opa

POLICIES = Path("policies")
REVISION = load_bundle(POLICIES).revision
OTHER_REVISION = "ab" * 32
PURPOSES = json.loads((POLICIES / "registry/purposes/data.json").read_text())
ALLOW_ALL = {"allow": True, "reasons": [], "obligations": {}}


def allowed_input() -> dict[str, Any]:
    return dict(purpose_bases()["traffic/hourly"])


class _Impostor(BaseHTTPRequestHandler):
    """Answers every request "allow", as the genuine revision: what an impostor would say."""

    def _answer(self) -> None:
        body = json.dumps(
            {"result": ALLOW_ALL, "provenance": {"bundles": {"b": {"revision": REVISION}}}}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:
        return


@contextmanager
def impostor(port: int, certificate_dir: Path | None) -> Iterator[None]:
    """An HTTP(S) server on `port` answering "allow"; TLS with a certificate from another
    CA when `certificate_dir` (a link of its own) is given."""
    server = ThreadingHTTPServer(("127.0.0.1", port), _Impostor)
    if certificate_dir is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certificate_dir / "opa.pem", certificate_dir / "opa.key")
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# --- the engine alone ------------------------------------------------------------------


@pytest.mark.parametrize("impostor_tls", [True, False], ids=["other-ca", "plain-http"])
async def test_an_impostor_on_the_port_is_refused(tmp_path: Path, impostor_tls: bool) -> None:
    doc = allowed_input()
    opa = OpaServerProcess(POLICIES, binary=require_opa())
    engine = OpaServerEngine(POLICIES, opa.url, tls=opa.tls, timeout=5)
    try:
        opa.start()
        first = await engine.decide(doc)
        assert first.allow
        assert first.revision == REVISION
        opa.stop()  # the genuine server goes; something else takes its port
        other = init_policy_link(tmp_path / "other") if impostor_tls else None
        with impostor(opa.port, None if other is None else other.directory):
            decision = await engine.decide(doc)
    finally:
        await engine.close()
        opa.close()
    assert not decision.allow
    assert decision.failed, "an impostor's answer must be no decision, not a policy denial"
    assert decision.reasons[0].startswith("policy engine error: OPA request failed")


async def test_a_decision_by_another_revision_is_a_denial_naming_it() -> None:
    doc = allowed_input()
    opa = OpaServerProcess(POLICIES, binary=require_opa())
    opa.restage()
    # Same files, another revision stamped: what a server that moved on would report.
    (opa.staged / ".manifest").write_text(json.dumps({"revision": OTHER_REVISION}))
    engine = OpaServerEngine(POLICIES, opa.url, tls=opa.tls, timeout=5)
    try:
        opa.start()
        decision = await engine.decide(doc)
        with pytest.raises(Exception, match="policy revision mismatch"):
            await engine.evaluate(doc)
    finally:
        await engine.close()
        opa.close()
    assert not decision.allow
    assert not decision.failed
    assert decision.revision == OTHER_REVISION
    assert decision.reasons[0].startswith(
        f"policy revision mismatch: the policy server decided with revision {OTHER_REVISION}"
    )


async def test_a_server_without_the_revision_stamp_gives_no_decision(tmp_path: Path) -> None:
    opa = OpaServerProcess(POLICIES, binary=require_opa())
    opa.restage()
    (opa.staged / ".manifest").unlink()
    engine = OpaServerEngine(POLICIES, opa.url, tls=opa.tls, timeout=5)
    try:
        opa.start()
        decision = await engine.decide(allowed_input())
    finally:
        await engine.close()
        opa.close()
    assert decision.failed
    assert "names no single bundle revision" in decision.reasons[0]


def test_opa_refuses_a_client_without_the_links_certificate() -> None:
    """OPA's side: only the gateway's certificate may ask for decisions."""
    import urllib.error
    import urllib.request

    with OpaServerProcess(POLICIES, binary=require_opa()) as opa:
        anonymous = ssl.create_default_context(cafile=str(opa.tls.ca))
        with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
            urllib.request.urlopen(f"{opa.url}/v1/policies", timeout=5, context=anonymous)  # noqa: S310
        with urllib.request.urlopen(  # noqa: S310
            f"{opa.url}/v1/policies", timeout=5, context=opa.tls.client_context()
        ) as answer:
            assert answer.status == 200


# --- through the gateway -----------------------------------------------------------------


def traffic_query() -> Query:
    return Query(
        "incidents",
        ("kecamatan", "occurred_at"),
        month_window(2025, 11, 2),
        Aggregation((GroupBy("kecamatan"), GroupBy("occurred_at", Bucket.HOUR_OF_DAY))),
        "traffic_planning",
        str(PURPOSES["traffic_planning"]["legal_basis"]),
    )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalFederation, Any]]:
    work = tmp_path_factory.mktemp("policy-link")
    init_pki(work / "pki", adapters=("t1",))
    url = f"sqlite:///{work / 't1.db'}"
    seed_city(url, incidents=300, seed=3, kota=("Jakarta Pusat",))
    opa = OpaServerProcess(POLICIES, binary=require_opa())
    opa.start()
    try:
        with LocalFederation(
            work,
            [AdapterSpec("t1", url)],
            engine="opa",
            opa_url=opa.url,
            extra_gateway_args=["--opa-tls", str(opa.tls.directory)],
        ) as fed:
            yield fed, opa
    finally:
        opa.close()


@pytest.fixture
async def client(stack: tuple[LocalFederation, Any]) -> AsyncIterator[GerbangClient]:
    fed, _ = stack
    async with GerbangClient.connect(fed.address, fed.pki, "dishub-atcs") as c:
        yield c


async def refused_once(
    fed: LocalFederation, client: GerbangClient
) -> tuple[QueryRefused, dict[str, object]]:
    """Ask once; the refusal, and the one audit entry it added."""
    before = log_size(fed)
    with pytest.raises(QueryRefused) as refused:
        await client.query(traffic_query())
    assert log_size(fed) == before + 1, "exactly one audit entry per request"
    assert refused.value.audit_index == before
    return refused.value, entry(fed, before)


def assert_unavailable(refused: QueryRefused, e: dict[str, object], cause: str) -> None:
    assert refused.code is grpc.StatusCode.UNAVAILABLE, refused
    assert "policy decision point unavailable" in refused.message
    assert cause in refused.message
    assert e["decision"] == "error"
    assert e["status"] == "UNAVAILABLE"
    assert e["policy_revision"] == REVISION


async def test_gateway_decides_through_the_link(
    stack: tuple[LocalFederation, Any], client: GerbangClient
) -> None:
    fed, _ = stack
    result = await client.query(traffic_query())
    assert result.policy_revision == REVISION
    assert entry(fed, result.receipt.leaf_index)["decision"] == "allow"


async def test_policy_server_slow_is_unavailable_and_audited_once(
    stack: tuple[LocalFederation, Any], client: GerbangClient
) -> None:
    fed, opa = stack
    pid = opa._process.pid
    os.kill(pid, signal.SIGSTOP)  # alive, port open, no answer: past the decision deadline
    try:
        refused, e = await refused_once(fed, client)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert_unavailable(refused, e, "no decision within")


async def test_policy_server_stopped_is_unavailable_and_audited_once(
    stack: tuple[LocalFederation, Any], client: GerbangClient
) -> None:
    fed, opa = stack
    opa.stop()
    try:
        refused, e = await refused_once(fed, client)
    finally:
        opa.start()
    assert_unavailable(refused, e, "OPA request failed")
    await client.query(traffic_query())  # back, and obeyed again


async def test_policy_server_replaced_by_an_impostor_is_unavailable_and_audited_once(
    stack: tuple[LocalFederation, Any], client: GerbangClient, tmp_path: Path
) -> None:
    fed, opa = stack
    other = init_policy_link(tmp_path / "other")
    opa.stop()
    try:
        with impostor(opa.port, other.directory):
            refused, e = await refused_once(fed, client)
    finally:
        opa.start()
    assert_unavailable(refused, e, "OPA request failed")


async def test_policy_server_with_another_revision_is_denied_and_audited_with_it(
    stack: tuple[LocalFederation, Any], client: GerbangClient
) -> None:
    fed, opa = stack
    opa.stop()
    (opa.staged / ".manifest").write_text(json.dumps({"revision": OTHER_REVISION}))
    try:
        opa.start()
        refused, e = await refused_once(fed, client)
    finally:
        opa.stop()
        opa.restage()
        opa.start()
    assert refused.code is grpc.StatusCode.PERMISSION_DENIED
    assert e["decision"] == "deny"
    assert e["status"] == "PERMISSION_DENIED"
    assert e["policy_revision"] == OTHER_REVISION  # the revision that decided
    reasons = e["reasons"]
    assert isinstance(reasons, list)
    assert any("policy revision mismatch" in str(r) for r in reasons)
    await client.query(traffic_query())


def test_log_verifies_after_the_policy_faults(stack: tuple[LocalFederation, Any]) -> None:
    fed, _ = stack
    store = AuditStore(fed.audit_url)
    try:
        verified = verify_log(store.scan(), store.head())
    finally:
        store.close()
    assert verified.size >= 7


async def test_the_cli_makes_the_link_and_the_staged_bundle(tmp_path: Path) -> None:
    from gateway.cli import main as gerbang
    from gateway.policy import PolicyLinkTls

    assert gerbang(["pki", "policy-link", str(tmp_path / "link")]) == 0
    assert gerbang(["policy", "stage", str(tmp_path / "staged")]) == 0
    manifest = json.loads((tmp_path / "staged" / ".manifest").read_text())
    assert manifest == {"revision": REVISION}
    assert oct((tmp_path / "link" / "opa.key").stat().st_mode & 0o777) == "0o600"
    link = PolicyLinkTls.load(tmp_path / "link")
    with OpaServerProcess(POLICIES, binary=require_opa(), tls=link) as opa:
        engine = OpaServerEngine(POLICIES, opa.url, tls=link, timeout=5)
        try:
            decision = await engine.decide(allowed_input())
        finally:
            await engine.close()
    assert decision.allow
    assert decision.revision == REVISION
