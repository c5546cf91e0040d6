"""Every key type rotates with an overlap window, and a revoked key is refused (issue 6)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from gateway.cli import main as gerbang
from gateway.client import GerbangClient, QueryRefused
from gateway.errors import SignatureError
from gateway.protocol.keys import KeyRegistry
from gateway.protocol.model import Aggregation, GroupBy, Query
from gateway.protocol.pki import init_pki
from tests.conftest import month_window
from tools.city import seed_city
from tools.federation import AdapterSpec, LocalFederation

PURPOSES = json.loads(Path("policies/registry/purposes/data.json").read_text())
ATCS = "spiffe://gerbang.jakarta.go.id/dishub/atcs"
QUERY = Query(
    "incidents",
    ("kecamatan",),
    month_window(2026, 10),
    Aggregation((GroupBy("kecamatan"),)),
    "traffic_planning",
    PURPOSES["traffic_planning"]["legal_basis"],
)


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    work = tmp_path_factory.mktemp("rotation")
    init_pki(work / "pki", adapters=("r1",))
    url = f"sqlite:///{work / 'r1.db'}"
    seed_city(url, incidents=1500, seed=5, kota=("Jakarta Timur",))
    with LocalFederation(work, [AdapterSpec("r1", url)]) as fed:
        yield fed


def keys(federation: LocalFederation, *args: str) -> None:
    assert gerbang(["keys", *args, "--dir", str(federation.keys_dir), "--adapter", "r1"]) == 0


def current(federation: LocalFederation, owner: str, kind: str) -> str:
    import datetime as dt

    registry = KeyRegistry.load(federation.keys_dir / "registry.json")
    return registry.current(owner, kind, dt.datetime.now(dt.UTC)).key_id  # type: ignore[arg-type]


def client(federation: LocalFederation) -> GerbangClient:
    return GerbangClient.connect(federation.address, federation.pki, "dishub-atcs")


async def test_caller_signing_key_rotates_with_overlap_then_old_key_is_revoked(
    federation: LocalFederation,
) -> None:
    old_client = client(federation)
    old = current(federation, ATCS, "signing")
    keys(federation, "rotate", "--identity", "dishub-atcs", "--kind", "signing")
    new = current(federation, ATCS, "signing")
    assert new != old
    new_client = client(federation)
    assert (await old_client.query(QUERY)).rows  # within the overlap window
    assert (await new_client.query(QUERY)).rows
    keys(federation, "revoke", "--key-id", old)
    with pytest.raises(QueryRefused) as refused:
        await old_client.query(QUERY)
    assert refused.value.code is grpc.StatusCode.UNAUTHENTICATED
    assert "revoked" in refused.value.message
    assert (await new_client.query(QUERY)).rows
    await old_client.close()
    await new_client.close()


async def test_caller_hpke_key_rotates_and_a_revoked_one_is_refused(
    federation: LocalFederation,
) -> None:
    old_client = client(federation)
    old = current(federation, ATCS, "hpke")
    keys(federation, "rotate", "--identity", "dishub-atcs", "--kind", "hpke")
    new_client = client(federation)
    assert new_client.keys.current_hpke != old_client.keys.current_hpke
    assert (await old_client.query(QUERY)).rows
    assert (await new_client.query(QUERY)).rows
    keys(federation, "revoke", "--key-id", old)
    with pytest.raises(QueryRefused, match="revoked"):
        await old_client.query(QUERY)
    await old_client.close()
    await new_client.close()


async def test_adapter_result_key_rotates_and_a_revoked_one_is_refused(
    federation: LocalFederation,
) -> None:
    adapter = "spiffe://gerbang.jakarta.go.id/polda-metro-jaya/adapter-r1"
    running = current(federation, adapter, "signing")
    keys(federation, "rotate", "--identity", "adapter-r1", "--kind", "signing")
    async with client(federation) as c:
        assert (await c.query(QUERY)).rows  # the running adapter's key is in its overlap
        keys(federation, "revoke", "--key-id", running)
        with pytest.raises(QueryRefused) as refused:
            await c.query(QUERY)
    assert refused.value.code is grpc.StatusCode.UNAVAILABLE
    assert "revoked" in refused.value.message


async def test_gateway_plan_key_rotates_and_a_revoked_one_is_refused(
    federation: LocalFederation,
) -> None:
    gateway = "spiffe://gerbang.jakarta.go.id/gerbang/gateway"
    # Bring the adapter back onto a valid key first (the previous test revoked its key).
    federation.stop()
    federation.start()
    old = current(federation, gateway, "signing")
    keys(federation, "rotate", "--identity", "gateway", "--kind", "signing")
    async with client(federation) as c:
        assert (await c.query(QUERY)).rows  # the running gateway signs with the old key
    federation.kill_gateway()
    federation.start_gateway()  # picks up the new key
    keys(federation, "revoke", "--key-id", old)
    async with client(federation) as c:
        assert (await c.query(QUERY)).rows
        keys(federation, "revoke", "--key-id", current(federation, gateway, "signing"))
        with pytest.raises(QueryRefused) as refused:
            await c.query(QUERY)
    assert "revoked" in refused.value.message


def test_registry_refuses_unknown_or_foreign_keys(federation: LocalFederation) -> None:
    import datetime as dt

    registry = KeyRegistry.load(federation.keys_dir / "registry.json")
    now = dt.datetime.now(dt.UTC)
    with pytest.raises(SignatureError, match="not in the federation's key registry"):
        registry.ed25519(ATCS, "0" * 16, now)
    other = registry.current("spiffe://gerbang.jakarta.go.id/citata/spatial", "signing", now)
    with pytest.raises(SignatureError, match="belongs to"):
        registry.ed25519(ATCS, other.key_id, now)
