"""Policies and data reload without a restart, and every reload is an audit entry (issue 4)."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from gateway.audit.store import AuditStore
from gateway.client import GerbangClient, QueryRefused
from gateway.protocol.model import Aggregation, GroupBy, Query
from gateway.protocol.pki import init_pki
from tests.conftest import month_window
from tools.city import seed_city
from tools.federation import AdapterSpec, LocalFederation

ATCS = "spiffe://gerbang.jakarta.go.id/dishub/atcs"
PURPOSES = json.loads(Path("policies/registry/purposes/data.json").read_text())
QUERY = Query(
    "incidents",
    ("kecamatan",),
    month_window(2026, 10),
    Aggregation((GroupBy("kecamatan"),)),
    "traffic_planning",
    PURPOSES["traffic_planning"]["legal_basis"],
)


@pytest.fixture
def federation(tmp_path: Path) -> Iterator[LocalFederation]:
    init_pki(tmp_path / "pki", adapters=("p1",))
    url = f"sqlite:///{tmp_path / 'p1.db'}"
    seed_city(url, incidents=1500, seed=9, kota=("Jakarta Utara",))
    shutil.copytree("policies", tmp_path / "policies")
    with LocalFederation(tmp_path, [AdapterSpec("p1", url)], policies=tmp_path / "policies") as fed:
        yield fed


def reloads(federation: LocalFederation) -> list[dict[str, object]]:
    store = AuditStore(federation.audit_url)
    try:
        entries = [e.fields() for e in store.entries(0, store.head().size)]
    finally:
        store.close()
    return [e for e in entries if e["kind"] == "policy_reload"]


async def wait_for_reloads(federation: LocalFederation, count: int) -> list[dict[str, object]]:
    for _ in range(100):
        found = reloads(federation)
        if len(found) >= count:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"expected {count} policy reload entries, found {reloads(federation)}")


def edit_callers(federation: LocalFederation, change: object) -> None:
    path = federation.policies / "registry" / "callers" / "data.json"
    callers = json.loads(path.read_text())
    change(callers)  # type: ignore[operator]
    path.write_text(json.dumps(callers, indent=1))


async def test_a_data_change_takes_effect_without_restart_and_is_audited(
    federation: LocalFederation,
) -> None:
    async with GerbangClient.connect(federation.address, federation.pki, "dishub-atcs") as c:
        before = await c.query(QUERY)
        edit_callers(federation, lambda d: d[ATCS].__setitem__("purposes", ["disaster_response"]))
        [reload] = await wait_for_reloads(federation, 1)
        assert reload["decision"] == "allow"
        assert reload["policy_revision"] != before.policy_revision
        with pytest.raises(QueryRefused) as refused:
            await c.query(QUERY)
        assert refused.value.code is grpc.StatusCode.PERMISSION_DENIED
        assert any("traffic_planning" in r for r in refused.value.reasons)


async def test_a_broken_registry_is_refused_and_the_previous_revision_stays(
    federation: LocalFederation,
) -> None:
    async with GerbangClient.connect(federation.address, federation.pki, "dishub-atcs") as c:
        before = await c.query(QUERY)
        edit_callers(federation, lambda d: d[ATCS].__setitem__("purposes", ["no_such_purpose"]))
        [reload] = await wait_for_reloads(federation, 1)
        assert reload["decision"] == "error"
        assert reload["policy_revision"] == before.policy_revision
        assert "no_such_purpose" in str(reload["reasons"])
        after = await c.query(QUERY)  # still decided by the previous revision
        assert after.policy_revision == before.policy_revision
