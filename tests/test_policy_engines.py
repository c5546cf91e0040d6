"""Both policy engines, for real: decisions, failing closed, refusing bad bundles, reloading.

Each test runs against the embedded engine and against a real OPA server (skipped without
the OPA binary, failing under CI=true). Broken policies and registries are real bundles
written to a temporary directory, never stand-ins for the engines.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from gateway.errors import ConfigurationError
from gateway.policy import (
    EmbeddedEngine,
    OpaServerEngine,
    OpaServerProcess,
    engine_from_config,
    init_policy_link,
    load_bundle,
)
from tests.conftest import require_opa
from tools.policy_corpus import purpose_bases

POLICIES = Path(__file__).resolve().parent.parent / "policies"
ALLOWED = purpose_bases()["traffic/hourly"]
ATCS = "spiffe://gerbang.jakarta.go.id/dishub/atcs"
ENGINE_ERROR = "policy engine error: "

Engine = EmbeddedEngine | OpaServerEngine


def _opa_binary() -> Path:
    return require_opa()


KINDS = ["regopy", pytest.param("opa", marks=pytest.mark.opa)]  # wasm: tests/test_policy_wasm.py


# The OPA server behind each running engine, so a test can restage its bundle.
_SERVERS: dict[int, OpaServerProcess] = {}


@asynccontextmanager
async def running(
    kind: str,
    bundle: Path,
    *,
    timeout: float = 5.0,
    served: Path | None = None,
    watch: bool = False,
) -> AsyncIterator[Engine]:
    """An engine of `kind` for `bundle`; for "opa", a server serving `served` (default: bundle)."""
    if kind == "regopy":
        engine: Engine = EmbeddedEngine(bundle, timeout=timeout)
        try:
            yield engine
        finally:
            await engine.close()
        return
    with OpaServerProcess(served or bundle, binary=_opa_binary(), watch=watch) as server:
        engine = OpaServerEngine(bundle, server.url, tls=server.tls, timeout=timeout)
        _SERVERS[id(engine)] = server
        try:
            yield engine
        finally:
            del _SERVERS[id(engine)]
            await engine.close()


def copy_policies(root: Path, authz: str | None = None) -> Path:
    """A copy of policies/ under `root`, with gerbang/authz.rego replaced if `authz` is given."""
    if authz is None:
        shutil.copytree(POLICIES, root)
        return root
    shutil.copytree(POLICIES / "registry", root / "registry")
    (root / "gerbang").mkdir()
    (root / "gerbang" / "authz.rego").write_text(authz)
    return root


def edit_json(path: Path, change: Callable[[Any], None]) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=2))


# --- decisions ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_decision_carries_the_bundle_revision(kind: str) -> None:
    async with running(kind, POLICIES) as engine:
        decision = await engine.decide(ALLOWED)
    assert decision.allow, decision.reasons
    assert decision.revision == load_bundle(POLICIES).revision == engine.revision
    assert decision.obligations.min_cell_count == 10
    assert decision.obligations.row_filters[0]["values"] == [
        "Jakarta Barat",
        "Jakarta Pusat",
        "Jakarta Selatan",
        "Jakarta Timur",
        "Jakarta Utara",
    ]


# --- failing closed -------------------------------------------------------------------

MALFORMED = {
    "allow-without-obligations": '{"allow": true, "reasons": [], "obligations": {}}',
    "missing-keys": '{"allow": true}',
    "allow-not-boolean": '{"allow": "yes", "reasons": [], "obligations": {}}',
    "deny-without-reason": '{"allow": false, "reasons": [], "obligations": {}}',
    "not-an-object": '["allow"]',
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("document", MALFORMED.values(), ids=MALFORMED.keys())
async def test_malformed_decision_is_a_denial(kind: str, document: str, tmp_path: Path) -> None:
    bundle = copy_policies(tmp_path / "p", f"package gerbang.authz\n\ndecision := {document}\n")
    async with running(kind, bundle) as engine:
        decision = await engine.decide(ALLOWED)
    assert not decision.allow
    assert decision.reasons[0].startswith(f"{ENGINE_ERROR}malformed decision document")
    assert decision.revision == engine.revision


@pytest.mark.parametrize("kind", KINDS)
async def test_undefined_decision_is_a_denial(kind: str, tmp_path: Path) -> None:
    authz = 'package gerbang.authz\n\ndecision := {"allow": true} if input.never_sent\n'
    async with running(kind, copy_policies(tmp_path / "p", authz)) as engine:
        decision = await engine.decide(ALLOWED)
    assert not decision.allow
    assert decision.reasons == (f"{ENGINE_ERROR}the decision is undefined",)


@pytest.mark.parametrize("kind", KINDS)
async def test_evaluation_error_is_a_denial(kind: str, tmp_path: Path) -> None:
    # Two values for one complete rule: a conflict error at evaluation time in both engines.
    authz = (
        "package gerbang.authz\n\n"
        'decision := {"allow": true, "reasons": [], "obligations": {}} if input.request\n\n'
        'decision := {"allow": false, "reasons": ["no"], "obligations": {}} if input.request\n'
    )
    async with running(kind, copy_policies(tmp_path / "p", authz)) as engine:
        decision = await engine.decide(ALLOWED)
    assert not decision.allow
    assert decision.reasons[0].startswith(ENGINE_ERROR)


@pytest.mark.parametrize("kind", KINDS)
async def test_timeout_is_a_denial(kind: str) -> None:
    async with running(kind, POLICIES, timeout=1e-6) as engine:
        await engine.reload()  # the OPA engine checks what the server serves, unhurried
        decision = await engine.decide(ALLOWED)
    assert not decision.allow
    assert decision.reasons[0].startswith(ENGINE_ERROR)
    assert "within" in decision.reasons[0]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "bad",
    [float("nan"), "\ud800", {1, 2}],
    ids=["nan", "lone-surrogate", "python-set"],
)
async def test_input_that_is_not_json_is_a_denial(kind: str, bad: object) -> None:
    doc = json.loads(json.dumps(ALLOWED))
    doc["request"]["fields"] = [bad]
    async with running(kind, POLICIES) as engine:
        decision = await engine.decide(doc)
    assert not decision.allow
    assert decision.reasons[0].startswith(f"{ENGINE_ERROR}the input is not a JSON document")


async def test_opa_unreachable_is_a_denial(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    link = init_policy_link(tmp_path / "link")
    engine = OpaServerEngine(POLICIES, f"https://127.0.0.1:{port}", tls=link, timeout=1)
    try:
        decision = await engine.decide(ALLOWED)
    finally:
        await engine.close()
    assert not decision.allow
    assert decision.reasons[0].startswith(ENGINE_ERROR)
    assert "cannot read the policies OPA serves" in decision.reasons[0]


@pytest.mark.opa
async def test_opa_serving_another_bundle_is_a_denial(tmp_path: Path) -> None:
    served = copy_policies(tmp_path / "served")
    local = copy_policies(tmp_path / "local")
    edit_json(
        local / "registry/purposes/data.json", lambda d: d["traffic_planning"].update(max_rows=10)
    )
    async with running("opa", local, served=served) as engine:
        decision = await engine.decide(ALLOWED)
        assert not decision.allow
        assert "serves other registry data" in decision.reasons[0]
        with pytest.raises(ConfigurationError, match="serves other registry data"):
            await engine.reload()


async def test_closed_embedded_engine_denies() -> None:
    engine = EmbeddedEngine(POLICIES)
    await engine.close()
    decision = await engine.decide(ALLOWED)
    assert not decision.allow
    assert decision.reasons[0].startswith(f"{ENGINE_ERROR}the engine is closed")


# --- refusing a bad bundle; reloading -------------------------------------------------


def _unknown_purpose(root: Path) -> None:
    edit_json(
        root / "registry/callers/data.json", lambda d: d[ATCS].update(purposes=["trafic_planning"])
    )


def _field_without_class(root: Path) -> None:
    edit_json(
        root / "registry/datasets/data.json",
        lambda d: d["incidents"]["fields"]["kota"].pop("class"),
    )


def _caller_without_jurisdiction(root: Path) -> None:
    edit_json(root / "registry/callers/data.json", lambda d: d[ATCS].pop("jurisdiction"))


def _identifier_in_aggregate_purpose(root: Path) -> None:
    def grant(d: Any) -> None:
        d["traffic_planning"]["datasets"]["persons"] = {
            "fields": ["nik"],
            "pseudonymised_fields": [],
            "row_filters": [],
        }

    edit_json(root / "registry/purposes/data.json", grant)


def _case_ending_before_start(root: Path) -> None:
    edit_json(
        root / "registry/cases/data.json",
        lambda d: d["LP/B/1234/XI/2026/SPKT/POLDA METRO JAYA"].update(
            valid_until="2026-01-01T00:00:00Z"
        ),
    )


def _invalid_json(root: Path) -> None:
    path = root / "registry/callers/data.json"
    path.write_text(path.read_text()[:-10])


def _duplicate_key(root: Path) -> None:
    path = root / "registry/cases/data.json"
    path.write_text(path.read_text().replace('"unit"', '"unit": "x", "unit"', 1))


def _yaml_data(root: Path) -> None:
    (root / "registry/extra").mkdir()
    (root / "registry/extra/data.yaml").write_text("a: 1\n")


def _data_outside_registry(root: Path) -> None:
    (root / "gerbang/data.json").write_text("{}")


BREAKAGES: dict[str, tuple[Callable[[Path], None], str]] = {
    "unknown-purpose": (
        _unknown_purpose,
        f"caller '{ATCS}': permits unknown purpose 'trafic_planning'",
    ),
    "field-without-class": (
        _field_without_class,
        "dataset 'incidents' field 'kota': missing or unknown sensitivity class",
    ),
    "caller-without-jurisdiction": (
        _caller_without_jurisdiction,
        f"caller '{ATCS}': has no jurisdiction",
    ),
    "identifier-in-aggregate-purpose": (
        _identifier_in_aggregate_purpose,
        "purpose 'traffic_planning' dataset 'persons': the purpose is aggregate-only but grants",
    ),
    "case-ending-before-start": (
        _case_ending_before_start,
        "valid_from must come before valid_until",
    ),
    "invalid-json": (_invalid_json, "policy data registry/callers/data.json"),
    "duplicate-key": (_duplicate_key, "key 'unit' appears twice"),
    "yaml-data": (_yaml_data, "registry/extra/data.yaml is not supported"),
    "data-outside-registry": (_data_outside_registry, "data must live under registry/"),
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("breakage", BREAKAGES.values(), ids=BREAKAGES.keys())
async def test_bad_bundle_is_refused_and_previous_revision_stays(
    kind: str, breakage: tuple[Callable[[Path], None], str], tmp_path: Path
) -> None:
    bundle = copy_policies(tmp_path / "p")
    break_it, message = breakage
    async with running(kind, bundle) as engine:
        before = engine.revision
        assert (await engine.decide(ALLOWED)).allow
        break_it(bundle)
        with pytest.raises(ConfigurationError) as refused:
            await engine.reload()
        assert message in str(refused.value)
        assert engine.revision == before
        decision = await engine.decide(ALLOWED)
        assert decision.allow
        assert decision.revision == before
    with pytest.raises(ConfigurationError):  # and a fresh engine refuses it outright
        engine_from_config("regopy", bundle)


async def test_rego_that_does_not_compile_is_refused_by_embedded_reload(tmp_path: Path) -> None:
    bundle = copy_policies(tmp_path / "p")
    async with running("regopy", bundle) as engine:
        before = engine.revision
        (bundle / "gerbang/rules.rego").write_text(
            "package gerbang.authz\n\nreasons contains if {\n"
        )
        with pytest.raises(ConfigurationError, match="rego-cpp cannot compile"):
            await engine.reload()
        assert engine.revision == before
        assert (await engine.decide(ALLOWED)).allow


async def _reload_when_served(engine: Engine, kind: str) -> str:
    """Reload; an OPA server watching the files may take a moment to serve the change."""
    for _ in range(100):
        try:
            return await engine.reload()
        except ConfigurationError:
            if kind == "regopy":
                raise
            await asyncio.sleep(0.1)
    return await engine.reload()


@pytest.mark.parametrize("kind", KINDS)
async def test_reload_puts_a_new_revision_in_force(kind: str, tmp_path: Path) -> None:
    bundle = copy_policies(tmp_path / "p")
    async with running(kind, bundle, watch=True) as engine:
        before = engine.revision
        assert (await engine.decide(ALLOWED)).allow
        assert await engine.reload() == before  # nothing changed: same revision
        edit_json(
            bundle / "registry/callers/data.json",
            lambda d: d[ATCS].update(purposes=["stolen_vehicle_check"]),
        )
        if kind == "opa":  # OPA watches the staged copy (with its revision), not the source
            _SERVERS[id(engine)].restage()
        after = await _reload_when_served(engine, kind)
        assert after != before
        assert engine.revision == after == load_bundle(bundle).revision
        decision = await engine.decide(ALLOWED)
        # OPA's watcher may still finish a reload it began on an earlier file event: until it
        # serves the staged manifest, its decisions name another revision and are denials.
        for _ in range(100):
            if decision.revision == after:
                break
            assert not decision.allow
            await asyncio.sleep(0.1)
            decision = await engine.decide(ALLOWED)
    assert not decision.allow
    assert decision.revision == after
    assert f"caller '{ATCS}' is not permitted to use purpose 'traffic_planning'" in decision.reasons


# --- configuration --------------------------------------------------------------------


def test_engine_from_config_builds_each_engine(tmp_path: Path) -> None:
    assert isinstance(engine_from_config("regopy", POLICIES), EmbeddedEngine)
    init_policy_link(tmp_path / "link")
    opa = engine_from_config("opa", POLICIES, "https://127.0.0.1:8181", opa_tls=tmp_path / "link")
    assert isinstance(opa, OpaServerEngine)


@pytest.mark.parametrize(
    ("kind", "url", "timeout", "message"),
    [
        ("regorus", None, 0.5, "unknown policy engine 'regorus'"),
        ("opa", None, 0.5, "needs the OPA server's URL"),
        ("opa", "127.0.0.1:8181", 0.5, "must look like https://"),
        # Plain HTTP trusted whatever answered on the port (issue 12): mTLS only.
        ("opa", "http://127.0.0.1:8181", 0.5, "the link is mTLS only"),
        ("opa", "https://127.0.0.1:8181/v1/data", 0.5, "must not have a path"),
        ("regopy", None, 0, "timeout must be positive"),
    ],
)
def test_engine_from_config_refuses_bad_settings(
    kind: str, url: str | None, timeout: float, message: str, tmp_path: Path
) -> None:
    init_policy_link(tmp_path / "link")
    with pytest.raises(ConfigurationError, match=message):
        engine_from_config(kind, POLICIES, opa_url=url, timeout=timeout, opa_tls=tmp_path / "link")


def test_opa_engine_without_its_tls_link_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="needs its mTLS link"):
        engine_from_config("opa", POLICIES, opa_url="https://127.0.0.1:8181")
    with pytest.raises(ConfigurationError, match=r"lacks ca\.pem, gateway\.pem, gateway\.key"):
        engine_from_config("opa", POLICIES, opa_url="https://127.0.0.1:8181", opa_tls=tmp_path)


def test_missing_policies_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="is not a directory"):
        engine_from_config("regopy", tmp_path / "nowhere")
