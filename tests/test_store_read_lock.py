"""Reads stay deferred; every write takes the log's write lock (issue 12).

Regression: the store's SQLite `begin` listener issued `BEGIN IMMEDIATE` for every
transaction, reads included, so a slow reader (a verifier, a proof, a budget lookup)
held up every append until it finished or the 30 s busy timeout failed the append.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select

from gateway.audit.releases import ReleaseLedger
from gateway.audit.store import AuditStore, head_table
from gateway.protocol.audit_entry import AuditRecord
from gateway.protocol.release import PrivacyBudget
from gateway.tlog.merkle import leaf_hash

NOW = dt.datetime(2026, 12, 3, 6, 0, tzinfo=dt.UTC)
CALLER = "spiffe://gerbang.jakarta.go.id/dishub/atcs"
BUDGET = PrivacyBudget(1.0, "month", 2.0, 3.0, "month")


def record(i: int) -> AuditRecord:
    return AuditRecord(
        time=NOW,
        kind="query",
        request_id=f"req-{i}",
        caller=CALLER,
        decision="allow",
        status="OK",
        purpose="traffic_planning",
        dataset="incidents",
    )


@pytest.fixture
def store(store_url: str) -> Iterator[AuditStore]:
    s = AuditStore(store_url)
    s.create()
    s.append([record(i) for i in range(4)])
    yield s
    s.close()


def test_long_open_read_does_not_block_append(store: AuditStore) -> None:
    """A read transaction left open does not hold up an append from another thread."""
    with (
        concurrent.futures.ThreadPoolExecutor(1) as pool,
        store.engine.connect() as reader,
    ):
        assert reader.execute(select(head_table.c.size)).scalar() == 4
        appended = pool.submit(store.append, [record(4)])
        # Before the fix the append waited for the reader (up to the 30 s busy timeout).
        entries = appended.result(timeout=5)
        assert [e.index for e in entries] == [4]
    assert store.head().size == 5


@pytest.fixture
def traced(tmp_path: Path) -> Iterator[tuple[AuditStore, list[str]]]:
    """A SQLite store whose connections report every statement they run."""
    s = AuditStore(f"sqlite:///{tmp_path / 'store.db'}")
    statements: list[str] = []

    @event.listens_for(s.engine, "connect")
    def _trace(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.set_trace_callback(statements.append)

    s.create()
    s.append([record(i) for i in range(4)])
    yield s, statements
    s.close()


def begins(statements: list[str]) -> list[str]:
    return [s for s in statements if s.upper().startswith("BEGIN")]


def test_every_write_path_takes_the_write_lock(traced: tuple[AuditStore, list[str]]) -> None:
    """Appends, nonces, budgets, the release ledger, checkpoints, the leaf index and the
    log's metadata all begin with the write lock; reads begin deferred."""
    store, statements = traced
    ledger = ReleaseLedger(store)
    head = store.head()
    release = bytes(32)
    charge: dict[str, Any] = {
        "caller": CALLER,
        "purpose": "traffic_planning",
        "periods": ["2026-11"],
        "budget": BUDGET,
        "now": NOW,
        "held_until": NOW + dt.timedelta(days=1),
    }
    writes: dict[str, Callable[[], object]] = {
        "append": lambda: store.append([record(9)]),
        "claim_nonces": lambda: store.claim_nonces([(CALLER, "n", NOW)]),
        "release charge": lambda: ledger.charge(release, **charge),
        "add_checkpoint": lambda: store.add_checkpoint(head.size, bytes(32), b"note\n", "t"),
        "add_cosignature": lambda: store.add_cosignature(head.size, "w", "— w sig\n"),
        "index_leaves": store.index_leaves,
        "publish": lambda: store.publish("origin", "example.org/log"),
        "erase_expired_details": lambda: store.erase_expired_details(NOW),
    }
    reads: dict[str, Callable[[], object]] = {
        "head": store.head,
        "entries": lambda: store.entries(0, 4),
        "published": lambda: store.published("origin"),
        "inclusion_proof": lambda: store.inclusion_proof(1, 4),
        "consistency_proof": lambda: store.consistency_proof(2, 4),
        "index_of": lambda: store.index_of(leaf_hash(store.entries(2, 3)[0].leaf)),
        "release remaining": lambda: ledger.remaining(
            CALLER, "traffic_planning", "2026-11", BUDGET
        ),
        "checkpoints": store.checkpoints,
    }
    for name, write in writes.items():
        statements.clear()
        write()
        assert begins(statements), f"{name} ran outside a transaction"
        if name == "release charge":
            # A deferred read first (is it held?), then the write under the lock.
            assert begins(statements) == ["BEGIN", "BEGIN IMMEDIATE"], name
            continue
        assert set(begins(statements)) == {"BEGIN IMMEDIATE"}, name
    # Asked again, a held release is a read alone.
    statements.clear()
    assert ledger.charge(release, **charge).held
    assert begins(statements) == ["BEGIN"]
    for name, read in reads.items():
        statements.clear()
        read()
        assert set(begins(statements)) <= {"BEGIN"}, name
