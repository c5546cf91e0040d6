"""The caller's library fails closed on answers and evidence it cannot check (issue 12).

Regressions:
- an allowed answer with no adapter results was accepted as "no data";
- `verify_bundle` raised `JSONDecodeError`, `KeyError` and others on malformed bundles,
  which a caller catching the project's errors would not catch.

Both start from a real answer and a real bundle from a federation of real processes,
then take them apart.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.client import GerbangClient
from gateway.errors import GerbangError, UntrustedInputError
from gateway.protocol.evidence import verify_bundle
from gateway.protocol.keys import KeyRegistry
from gateway.protocol.model import Aggregation, GroupBy, Query
from gateway.protocol.pki import init_pki
from tests.conftest import month_window
from tools.city import seed_city
from tools.federation import AdapterSpec, LocalFederation

PURPOSES = json.loads(Path("policies/registry/purposes/data.json").read_text())
TRAFFIC = Query(
    "incidents",
    ("kecamatan",),
    month_window(2026, 10),
    Aggregation((GroupBy("kecamatan"),)),
    "traffic_planning",
    str(PURPOSES["traffic_planning"]["legal_basis"]),
)


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    work = tmp_path_factory.mktemp("failclosed")
    init_pki(work / "pki", adapters=("c1",))
    url = f"sqlite:///{work / 'c1.db'}"
    seed_city(url, incidents=500, seed=5, kota=("Jakarta Pusat",))
    with LocalFederation(work, [AdapterSpec("c1", url)]) as fed:
        yield fed


async def test_allowed_answer_with_no_parts_is_refused(federation: LocalFederation) -> None:
    async with GerbangClient.connect(federation.address, federation.pki, "dishub-atcs") as c:
        request, canonical, signature = c.signed_request(TRAFFIC)
        response = await c.query_raw(request)
        assert response.results  # the real answer opens
        c.open_response(response, canonical, signature)
        response.ClearField("results")
        with pytest.raises(UntrustedInputError, match="no adapter results"):
            c.open_response(response, canonical, signature)


@pytest.fixture(scope="module")
def evidence(federation: LocalFederation) -> tuple[dict[str, Any], KeyRegistry, str]:
    import asyncio

    async def make() -> dict[str, Any]:
        async with GerbangClient.connect(federation.address, federation.pki, "dishub-atcs") as c:
            result = await c.query(TRAFFIC)
            bundle: dict[str, Any] = await c.evidence(result)
            return bundle

    bundle = asyncio.run(make())
    registry = KeyRegistry.load(federation.keys_dir / "registry.json")
    log_key = federation.log_key_path.with_suffix(".pub").read_text().strip()
    verify_bundle(bundle, registry, log_key)  # the real bundle verifies
    return bundle, registry, log_key


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path to a value in a JSON document."""
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, (*prefix, i))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=5,
)


@st.composite
def mutations(draw: st.DrawFn, bundle: dict[str, Any]) -> dict[str, Any]:
    """The bundle with one value replaced, deleted, or one of its strings changed."""
    doc = copy.deepcopy(bundle)
    paths = [p for p in _paths(doc) if p]
    path = draw(st.sampled_from(paths))
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    action = draw(st.sampled_from(["replace", "delete", "edit"]))
    if action == "delete":
        del parent[key]
    elif action == "edit" and isinstance(parent[key], str) and parent[key]:
        text: str = parent[key]
        i = draw(st.integers(0, len(text) - 1))
        parent[key] = text[:i] + draw(st.text(min_size=0, max_size=3)) + text[i + 1 :]
    else:
        parent[key] = draw(JSON)
    return doc


def test_malformed_bundles_raise_only_typed_errors(
    evidence: tuple[dict[str, Any], KeyRegistry, str],
) -> None:
    bundle, registry, log_key = evidence

    @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
    @given(mutations(bundle))
    def check(changed: dict[str, Any]) -> None:
        try:
            verify_bundle(changed, registry, log_key)
        except GerbangError:
            return
        # Accepted: only if nothing that matters changed (e.g. an equal value re-written).
        assert verify_bundle(changed, registry, log_key) == verify_bundle(bundle, registry, log_key)

    check()


@pytest.mark.parametrize(
    "breaks",
    [
        lambda b: b["request"].__setitem__("data", "bm90IGpzb24="),  # "not json"
        lambda b: b["results"][0].pop("plan"),
        lambda b: b["audit"].pop("checkpoint"),
        lambda b: b["audit"].__setitem__("proof", 7),
        lambda b: b["audit"].__setitem__("tree_size", "many"),
    ],
    ids=["request-not-json", "no-plan", "no-checkpoint", "proof-not-a-list", "size-not-int"],
)
def test_named_malformed_bundles(
    evidence: tuple[dict[str, Any], KeyRegistry, str], breaks: Any
) -> None:
    bundle, registry, log_key = evidence
    changed = copy.deepcopy(bundle)
    breaks(changed)
    with pytest.raises(UntrustedInputError):
        verify_bundle(changed, registry, log_key)
