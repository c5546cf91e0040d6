"""Crash safety: kill -9 the gateway under load, again and again.

After each crash the log must verify, and every receipt a caller already holds
must name an entry that still exists, with the same leaf hash, after restart.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.audit.store import AuditStore
from gateway.client import GerbangClient, QueryRefused, Receipt
from gateway.errors import TransportError
from gateway.oversight.verify import verify_log
from gateway.protocol.model import Aggregation, GroupBy, Query
from gateway.tlog.merkle import leaf_hash
from tests.conftest import month_window
from tools.city import seed_city
from tools.federation import AdapterSpec, LocalFederation

CRASHES = 10
PURPOSES = json.loads(Path("policies/registry/purposes/data.json").read_text())
QUERY = Query(
    dataset="incidents",
    fields=("kecamatan",),
    filters=month_window(2026, 10),
    aggregation=Aggregation((GroupBy("kecamatan"),)),
    purpose="traffic_planning",
    legal_basis=PURPOSES["traffic_planning"]["legal_basis"],
)


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    from gateway.protocol.pki import init_pki

    work = tmp_path_factory.mktemp("crash")
    init_pki(work / "pki", adapters=("c1",))
    url = f"sqlite:///{work / 'c1.db'}"
    seed_city(url, incidents=2000, seed=3, kota=("Jakarta Selatan",))
    with LocalFederation(work, [AdapterSpec("c1", url)]) as fed:
        yield fed


async def _load(address: str, pki: Path, receipts: list[Receipt], stop: asyncio.Event) -> None:
    async with GerbangClient.connect(address, pki, "dishub-atcs") as client:
        while not stop.is_set():
            try:
                result = await client.query(QUERY, timeout=5)
            except (QueryRefused, TransportError):
                return  # the gateway died under us: what we hold so far is what counts
            receipts.append(result.receipt)


async def _run_and_crash(federation: LocalFederation, delay: float) -> list[Receipt]:
    receipts: list[Receipt] = []
    stop = asyncio.Event()
    workers = [
        asyncio.create_task(_load(federation.address, federation.pki, receipts, stop))
        for _ in range(16)
    ]
    await asyncio.sleep(delay)
    federation.kill_gateway()
    stop.set()
    await asyncio.gather(*workers)
    return receipts


def test_kill_under_load_leaves_a_verifiable_log_and_keeps_every_receipt(
    federation: LocalFederation,
) -> None:
    rng = random.Random(20261129)
    held: list[Receipt] = []
    for _ in range(CRASHES):
        held += asyncio.run(_run_and_crash(federation, rng.uniform(0.2, 1.2)))
        federation.start_gateway()
        store = AuditStore(federation.audit_url)
        try:
            verified = verify_log(store.scan(), store.head())
            for r in held:
                entries = store.entries(r.leaf_index, r.leaf_index + 1)
                assert entries, f"receipt for entry {r.leaf_index} names an entry that is gone"
                assert leaf_hash(entries[0].leaf) == r.leaf_hash
                assert entries[0].entry_hash == r.entry_hash
        finally:
            store.close()
        assert verified.size >= len(held)
    assert len(held) > CRASHES  # the load really ran between the crashes
