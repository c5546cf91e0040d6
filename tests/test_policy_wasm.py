"""The Wasm engine: OPA's own compilation of the policy, run in-process, held to OPA's answers.

- The committed `policies/compiled/` is current, and OPA rebuilds it byte for byte.
- Every parity-corpus document gets the same decision document from the Wasm engine as from
  a real `opa run --server` (and the same typed decision and revision).
- The host's `sprintf` formats as OPA's Go `sprintf` does, checked against a real OPA server
  on generated templates and arguments, through the compiled module.
- Stale, tampered or missing artefacts are refused; reloads take new registry data and
  refuse uncompiled Rego; aborts, host errors and timeouts are denials, and the instance
  recovers.
- Decision latency of the embedded (rego-cpp), Wasm and OPA server engines, measured in one
  run and printed (`pytest -s tests/test_policy_wasm.py -k latency`); no assertion on time.

Tests that need OPA skip without the binary, and fail under CI=true.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import ssl
import statistics
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import wasmtime
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.errors import ConfigurationError
from gateway.policy import (
    EmbeddedEngine,
    OpaServerEngine,
    OpaServerProcess,
    PolicyEngineError,
    engine_from_config,
    find_opa_binary,
    load_bundle,
)
from gateway.policy.engine import input_json
from gateway.policy.wasm import (
    COMPILED_DIR,
    MODULE_FILE,
    SprintfError,
    WasmEngine,
    _I32Export,
    load_compiled,
    sprintf,
)
from tests.conftest import require_opa
from tools import policywasm
from tools.policy_corpus import parity_corpus, purpose_bases

POLICIES = Path(__file__).resolve().parent.parent / "policies"
CORPUS = parity_corpus()
ALLOWED = purpose_bases()["traffic/hourly"]
SECONDS = float(os.environ.get("GERBANG_POLICY_LATENCY_SECONDS", "1.0"))

module_loop = pytest.mark.asyncio(loop_scope="module")


def _opa() -> Path:
    return require_opa()


def _canonical(value: object) -> object:
    """JSON values as JSON compares them: 1 and 1.0 alike, true never equal to 1."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    return value


def _copy_policies(root: Path) -> Path:
    target = root / "policies"
    shutil.copytree(POLICIES, target)
    return target


def _scratch_bundle(root: Path, authz: str) -> Path:
    """The real registry with `authz` as the only Rego module, compiled to Wasm with OPA."""
    target = root / "policies"
    shutil.copytree(POLICIES / "registry", target / "registry")
    (target / "gerbang").mkdir()
    (target / "gerbang" / "authz.rego").write_text(authz)
    policywasm.write(_opa(), target)
    return target


# --- the committed artefact ----------------------------------------------------------------


def test_committed_module_matches_the_rego() -> None:
    assert load_compiled(load_bundle(POLICIES))


@pytest.mark.opa
def test_opa_rebuilds_the_committed_module_byte_for_byte() -> None:
    opa = _opa()
    assert policywasm.check(opa, POLICIES) == 0
    assert policywasm.compile_module(opa, load_bundle(POLICIES)) == load_compiled(
        load_bundle(POLICIES)
    )


def test_edited_rego_is_refused_until_recompiled(tmp_path: Path) -> None:
    bundle = _copy_policies(tmp_path)
    with (bundle / "gerbang" / "rules.rego").open("a") as f:
        f.write("\n# an edit\n")
    with pytest.raises(ConfigurationError, match=r"compiled from other Rego .*make policy-wasm"):
        WasmEngine(bundle)


def test_edited_tests_need_no_recompiling(tmp_path: Path) -> None:
    bundle = _copy_policies(tmp_path)
    with (bundle / "gerbang" / "authz_test.rego").open("a") as f:
        f.write("\n# an edit\n")
    WasmEngine(bundle)


def test_tampered_module_is_refused(tmp_path: Path) -> None:
    bundle = _copy_policies(tmp_path)
    module = bundle / COMPILED_DIR / MODULE_FILE
    data = bytearray(module.read_bytes())
    data[-1] ^= 1
    module.write_bytes(bytes(data))
    with pytest.raises(ConfigurationError, match="does not match the SHA-256"):
        WasmEngine(bundle)


def test_missing_module_is_refused(tmp_path: Path) -> None:
    bundle = _copy_policies(tmp_path)
    shutil.rmtree(bundle / COMPILED_DIR)
    with pytest.raises(ConfigurationError, match="no usable compiled policy"):
        WasmEngine(bundle)


def test_opa_does_not_take_the_artefact_for_bundle_files() -> None:
    # `opa run --bundle policies/` would load policy.wasm, *.manifest and data.json files.
    names = {p.name for p in (POLICIES / COMPILED_DIR).iterdir()}
    assert names == {MODULE_FILE, "decision.toml"}


# --- parity with the OPA server ------------------------------------------------------------


@pytest.fixture(scope="module")
def opa_server() -> Iterator[OpaServerProcess]:
    with OpaServerProcess(POLICIES, binary=_opa()) as server:
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def engines(
    opa_server: OpaServerProcess,
) -> AsyncIterator[tuple[WasmEngine, OpaServerEngine]]:
    wasm = WasmEngine(POLICIES, timeout=10)
    opa = OpaServerEngine(POLICIES, opa_server.url, tls=opa_server.tls, timeout=10)
    try:
        yield wasm, opa
    finally:
        await wasm.close()
        await opa.close()


async def _document(engine: WasmEngine | OpaServerEngine, doc: dict[str, Any]) -> object:
    try:
        return _canonical(await engine.evaluate(doc))
    except PolicyEngineError:  # compared by kind; the message differs per engine
        return "engine error"


@module_loop
@pytest.mark.opa
async def test_wasm_and_opa_agree_on_the_whole_corpus(
    engines: tuple[WasmEngine, OpaServerEngine],
) -> None:
    wasm, opa = engines
    assert wasm.revision == opa.revision
    disagreements = []
    for name, doc in CORPUS:
        mine, theirs = await _document(wasm, doc), await _document(opa, doc)
        if mine != theirs:
            disagreements.append(f"{name}:\n  wasm: {mine}\n  opa:  {theirs}")
    assert not disagreements, f"{len(disagreements)} of {len(CORPUS)} differ:\n" + "\n".join(
        disagreements[:10]
    )


@module_loop
@pytest.mark.opa
async def test_wasm_and_opa_give_equal_typed_decisions(
    engines: tuple[WasmEngine, OpaServerEngine],
) -> None:
    wasm, opa = engines
    for _, doc in CORPUS[::50]:
        assert await wasm.decide(doc) == await opa.decide(doc)


# --- sprintf -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "args", "expected"),
    [
        ("caller '%s' at %d", '["a", 5]', "caller 'a' at 5"),
        ("%d", "[9.0]", "%!d(float64=9)"),
        ("%s", "[5]", "%!s(int64=5)"),
        ("%d", '["x"]', "%!d(string=x)"),
        ("%v %v %v", "[1e21, 1e-05, 123456.5]", "1e+21 1e-05 123456.5"),
        ("%v", "[1234567.0]", "1.234567e+06"),
        ("%v", "[-0.0]", "-0"),
        ("%d %s", "[99999999999999999999, 99999999999999999999]", f"{'9' * 20} {'9' * 20}"),
        ("%s %s %s", "[true, null, false]", "true null false"),
        ("%s and %d", '["a"]', "a and %!d(MISSING)"),
        ("100%% %s", '["a", 1, 2.5, "b"]', "100% a%!(EXTRA int64=1, float64=2.5, string=b)"),
        ("%d", "[1e400]", "%!d(string=1e400)"),
    ],
)
def test_sprintf_formats_as_go_does(template: str, args: str, expected: str) -> None:
    assert sprintf(template, args) == expected


@pytest.mark.parametrize(
    ("template", "args"),
    [("%x", "[1]"), ("%5d", "[1]"), ("%.2v", "[1.5]"), ("100%", "[]"), ("%s", "[[1]]")],
)
def test_sprintf_refuses_what_it_does_not_reproduce(template: str, args: str) -> None:
    with pytest.raises(SprintfError):
        sprintf(template, args)


def test_the_policy_uses_only_supported_sprintf_formats() -> None:
    import re

    templates = re.findall(
        r'sprintf\("((?:[^"\\]|\\.)*)"',
        "".join(m.source for m in load_bundle(POLICIES).policy_modules),
    )
    assert templates
    for template in templates:
        assert re.fullmatch(r"(?:[^%]|%[sdv%])*", template), template


SPRINTF_REGO = """package gerbang.authz

decision := sprintf(input.template, input.args)
"""

_strings = st.text(st.characters(exclude_categories=["Cs"]), max_size=8)
_args = st.lists(
    st.one_of(
        _strings,
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        st.booleans(),
        st.none(),
    ),
    max_size=4,
)
_templates = st.lists(st.sampled_from(["%s", "%d", "%v", "%%", "a", " ", "é", "'"])).map("".join)


@pytest.fixture(scope="module")
def sprintf_servers(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[WasmEngine, str, ssl.SSLContext]]:
    root = tmp_path_factory.mktemp("sprintf")
    bundle = _scratch_bundle(root, SPRINTF_REGO)
    engine = WasmEngine(bundle)
    with OpaServerProcess(bundle, binary=_opa()) as server:
        yield engine, f"{server.url}/v1/data/gerbang/authz/decision", server.tls.client_context()
    asyncio.run(engine.close())


@pytest.mark.opa
@settings(max_examples=150, deadline=None)
@given(template=_templates, args=_args)
def test_sprintf_through_the_module_agrees_with_opa(
    sprintf_servers: tuple[WasmEngine, str, ssl.SSLContext], template: str, args: list[object]
) -> None:
    engine, url, context = sprintf_servers
    doc = {"template": template, "args": args}
    body = ('{"input": ' + input_json(doc) + "}").encode("utf-8")
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=10, context=context) as answer:  # noqa: S310
        theirs = json.loads(answer.read())["result"]
    mine = asyncio.run(engine.evaluate(doc))
    assert mine == theirs


# --- failures are denials, and the instance recovers ---------------------------------------

FAILING_REGO = """package gerbang.authz

default decision := "quiet"

decision := sprintf("%s", [input.arg]) if input.arg

decision := "busy" if {
	some i in numbers.range(1, input.n)
	some j in numbers.range(1, input.n)
	i * j == -1
}

decision := "conflict" if input.conflict
"""


@pytest.fixture(scope="module")
def failing_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _scratch_bundle(tmp_path_factory.mktemp("failing"), FAILING_REGO)


async def test_a_host_error_is_an_engine_error_and_the_next_decision_works(
    failing_bundle: Path,
) -> None:
    engine = WasmEngine(failing_bundle)
    try:
        with pytest.raises(PolicyEngineError, match="not supported by the Wasm engine"):
            await engine.evaluate({"arg": [1]})
        assert await engine.evaluate({"arg": "fine"}) == "fine"
    finally:
        await engine.close()


async def test_an_abort_is_an_engine_error_and_the_next_decision_works(
    failing_bundle: Path,
) -> None:
    engine = WasmEngine(failing_bundle)
    try:
        with pytest.raises(PolicyEngineError, match=r"aborted: .*var assignment conflict"):
            await engine.evaluate({"arg": "x", "conflict": True})
        assert await engine.evaluate({}) == "quiet"
    finally:
        await engine.close()


async def test_a_decision_past_its_timeout_is_interrupted(failing_bundle: Path) -> None:
    engine = WasmEngine(failing_bundle, timeout=0.2)
    try:
        decision = await engine.decide({"n": 100_000})
        assert not decision.allow
        assert decision.reasons == ("policy engine error: no decision within 0.2 s",)
        # Were the first evaluation still running, this one would queue behind it and time out.
        start = time.monotonic()
        assert await engine.evaluate({"n": 2}) == "quiet"
        assert time.monotonic() - start < 0.2
    finally:
        await engine.close()


async def test_input_that_is_not_json_is_a_denial() -> None:
    engine = WasmEngine(POLICIES)
    try:
        decision = await engine.decide({"time": float("nan")})
    finally:
        await engine.close()
    assert not decision.allow
    assert decision.reasons[0].startswith("policy engine error: the input is not a JSON")


async def test_a_closed_engine_denies() -> None:
    engine = WasmEngine(POLICIES)
    await engine.close()
    decision = await engine.decide(ALLOWED)
    assert not decision.allow
    assert decision.reasons[0].startswith("policy engine error: the engine is closed")


def test_direct_export_calls_match_wasmtime_calls() -> None:
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    module = wasmtime.Module(
        engine,
        """(module (func (export "sub") (param i32 i32) (result i32)
                       (i32.sub (local.get 0) (local.get 1))))""",
    )
    sub = wasmtime.Instance(store, module, []).exports(store)["sub"]
    assert isinstance(sub, wasmtime.Func)
    direct = _I32Export(store, sub, "sub")
    for a, b in [(7, 3), (0, 1), (-(2**31), 1), (2**31 - 1, -1)]:
        assert direct(a, b) == sub(store, a, b)


# --- reloading -----------------------------------------------------------------------------


async def test_reload_takes_new_registry_data_without_recompiling(tmp_path: Path) -> None:
    bundle = _copy_policies(tmp_path)
    engine = WasmEngine(bundle)
    try:
        before = await engine.decide(ALLOWED)
        assert before.allow
        assert before.obligations is not None
        assert before.obligations.max_rows == 5000
        purposes = bundle / "registry" / "purposes" / "data.json"
        registry = json.loads(purposes.read_text())
        registry["traffic_planning"]["max_rows"] = 4000
        purposes.write_text(json.dumps(registry, ensure_ascii=False, indent=2))
        revision = await engine.reload()
        assert revision == engine.revision == load_bundle(bundle).revision != before.revision
        after = await engine.decide(ALLOWED)
        assert after.revision == revision
        assert after.obligations is not None
        assert after.obligations.max_rows == 4000
    finally:
        await engine.close()


async def test_reload_refuses_uncompiled_rego_and_keeps_deciding(tmp_path: Path) -> None:
    bundle = _copy_policies(tmp_path)
    engine = WasmEngine(bundle)
    try:
        revision = engine.revision
        with (bundle / "gerbang" / "rules.rego").open("a") as f:
            f.write("\n# an edit\n")
        with pytest.raises(ConfigurationError, match="make policy-wasm"):
            await engine.reload()
        assert engine.revision == revision
        assert (await engine.decide(ALLOWED)).allow
    finally:
        await engine.close()


def test_engine_from_config_builds_the_wasm_engine() -> None:
    engine = engine_from_config("wasm", POLICIES)
    assert isinstance(engine, WasmEngine)
    asyncio.run(engine.close())


# --- latency -------------------------------------------------------------------------------


def _latency_inputs() -> dict[str, list[dict[str, Any]]]:
    denials = [d for n, d in CORPUS if "/caller/unknown" in n or "/fields/add-nik" in n]
    return {"allowed": list(purpose_bases().values()), "denied": denials}


async def _measure(engine: EmbeddedEngine | WasmEngine | OpaServerEngine) -> list[str]:
    lines = []
    for kind, docs in _latency_inputs().items():
        for doc in docs:  # warm up: connection pool, caches, the OPA bundle check
            await engine.decide(doc)
        latencies: list[float] = []
        end = time.perf_counter() + SECONDS
        i = 0
        while time.perf_counter() < end:
            t0 = time.perf_counter()
            await engine.decide(docs[i % len(docs)])
            latencies.append(time.perf_counter() - t0)
            i += 1
        q = statistics.quantiles(latencies, n=100)
        lines.append(
            f"{type(engine).__name__:16} {kind:7} p50 {q[49] * 1e6:7.0f} µs   "
            f"p99 {q[98] * 1e6:7.0f} µs   n={len(latencies)}"
        )
    return lines


async def test_latency_of_each_engine_in_one_run(capsys: pytest.CaptureFixture[str]) -> None:
    lines: list[str] = []
    engines: list[EmbeddedEngine | WasmEngine] = [EmbeddedEngine(POLICIES), WasmEngine(POLICIES)]
    for engine in engines:
        try:
            lines += await _measure(engine)
        finally:
            await engine.close()
    binary = find_opa_binary()
    if binary is not None:
        with OpaServerProcess(POLICIES, binary=binary) as server:
            opa = OpaServerEngine(POLICIES, server.url, tls=server.tls)
            try:
                lines += await _measure(opa)
            finally:
                await opa.close()
    with capsys.disabled():
        print("\n" + "\n".join(lines))
