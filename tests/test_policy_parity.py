"""Both policy engines decide every input of the parity corpus identically.

A real `opa run --server` serves policies/ and the embedded engine (rego-cpp) compiles the
same bundle; each corpus document goes to both, and the raw decision documents must be
equal (a difference fails with a diff), as must the typed decisions and the revisions.
Without an OPA binary the comparison is skipped, except under CI=true where it fails.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from gateway.policy import (
    Decision,
    EmbeddedEngine,
    OpaServerEngine,
    OpaServerProcess,
    PolicyEngineError,
)
from gateway.policy.engine import decision_from_engine
from tests.conftest import require_opa
from tools.policy_corpus import parity_corpus

POLICIES = Path(__file__).resolve().parent.parent / "policies"
CORPUS = parity_corpus()
PURPOSES = sorted(json.loads((POLICIES / "registry/purposes/data.json").read_text()))

# The OPA engine's HTTP session belongs to one event loop: share the module's.
module_loop = pytest.mark.asyncio(loop_scope="module")


def _require_opa() -> Path:
    return require_opa()


@pytest.fixture(scope="module")
def opa_server() -> Iterator[OpaServerProcess]:
    with OpaServerProcess(POLICIES, binary=_require_opa()) as server:
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def engines(
    opa_server: OpaServerProcess,
) -> AsyncIterator[tuple[EmbeddedEngine, OpaServerEngine]]:
    # Generous timeouts: parity is about answers, not speed, on a loaded CI machine.
    embedded = EmbeddedEngine(POLICIES, timeout=10)
    opa = OpaServerEngine(POLICIES, opa_server.url, tls=opa_server.tls, timeout=10)
    try:
        yield embedded, opa
    finally:
        await embedded.close()
        await opa.close()


def _canonical(value: object) -> object:
    """JSON values as JSON compares them: 1 and 1.0 alike, true never equal to 1."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    return value


async def _answer(
    engine: EmbeddedEngine | OpaServerEngine, doc: dict[str, object], errors: list[str]
) -> tuple[str, Decision]:
    """The engine's answer as comparable text, and the decision it stands for."""
    try:
        raw = await engine.evaluate(doc)
    except PolicyEngineError as e:  # compared by kind; the message differs per engine
        errors.append(f"{type(engine).__name__}: {e}")
        text = json.dumps({"engine error": type(e).__name__})
        return text, Decision.engine_error("(compared by kind)", revision=engine.revision)
    text = json.dumps({"document": _canonical(raw)}, indent=1, sort_keys=True, ensure_ascii=False)
    return text, decision_from_engine(raw, engine.revision)


def test_corpus_is_large_deterministic_and_named_uniquely() -> None:
    assert len(CORPUS) >= 300
    assert len({name for name, _ in CORPUS}) == len(CORPUS)
    assert parity_corpus() == CORPUS


@module_loop
async def test_corpus_allows_and_denies_for_every_purpose() -> None:
    engine = EmbeddedEngine(POLICIES)
    outcomes: dict[str, set[bool]] = {p: set() for p in PURPOSES}
    try:
        for _, doc in CORPUS:
            request = doc.get("request")
            purpose = request.get("purpose") if isinstance(request, dict) else None
            if isinstance(purpose, str) and purpose in outcomes:
                outcomes[purpose].add((await engine.decide(doc)).allow)
    finally:
        await engine.close()
    assert outcomes == {p: {True, False} for p in PURPOSES}


@module_loop
@pytest.mark.opa
async def test_engines_report_one_revision(
    engines: tuple[EmbeddedEngine, OpaServerEngine],
) -> None:
    embedded, opa = engines
    assert embedded.revision == opa.revision
    assert (await embedded.decide(CORPUS[0][1])) == (await opa.decide(CORPUS[0][1]))


@module_loop
@pytest.mark.opa
@pytest.mark.parametrize(("name", "doc"), CORPUS, ids=[name for name, _ in CORPUS])
async def test_engines_agree(
    engines: tuple[EmbeddedEngine, OpaServerEngine], name: str, doc: dict[str, object]
) -> None:
    embedded, opa = engines
    errors: list[str] = []
    (mine, my_decision), (theirs, their_decision) = (
        await _answer(embedded, doc, errors),
        await _answer(opa, doc, errors),
    )
    if mine != theirs:
        diff = "\n".join(
            difflib.unified_diff(
                mine.splitlines(),
                theirs.splitlines(),
                "embedded (rego-cpp)",
                "OPA server",
                lineterm="",
            )
        )
        pytest.fail(f"the engines disagree on {name}:\n{diff}\n{chr(10).join(errors)}")
    assert my_decision == their_decision
