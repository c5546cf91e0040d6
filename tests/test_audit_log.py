"""The hash-chained audit log: append, verify, and detect every single-row tampering."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete, update

from gateway.audit.store import AuditStore, AuditWriter, entries_table, head_table
from gateway.cli import main as gerbang
from gateway.errors import AuditIntegrityError, AuditUnavailable
from gateway.oversight.verify import verify_log
from gateway.protocol.audit_entry import AuditRecord, ResultDigest, commit_value
from gateway.protocol.canonical import canonical_json
from gateway.tlog.merkle import leaf_hash


def record(i: int, decision: str = "allow") -> AuditRecord:
    return AuditRecord(
        time=dt.datetime(2026, 11, 29, 6, 0, i % 60, tzinfo=dt.UTC),
        kind="query",
        request_id=f"req-{i}",
        caller="spiffe://gerbang.jakarta.go.id/dishub/atcs",
        decision=decision,
        status="OK" if decision == "allow" else "PERMISSION_DENIED",
        purpose="traffic_planning",
        dataset="incidents",
        reasons=() if decision == "allow" else ("no",),
        results=(ResultDigest("spiffe://x/adapter", "00" * 32, i),),
    )


@pytest.fixture
def store(store_url: str) -> Iterator[AuditStore]:
    s = AuditStore(store_url)
    s.create()
    s.append([record(i, "allow" if i % 3 else "deny") for i in range(10)])
    yield s
    s.close()


def verify(store: AuditStore) -> int:
    return verify_log(store.scan(), store.head()).size


def test_intact_log_verifies(store: AuditStore) -> None:
    assert verify(store) == 10
    head = store.head()
    assert head.size == 10
    assert head.head_hash == store.entries(9, 10)[0].entry_hash


def test_entries_chain_and_hash(store: AuditStore) -> None:
    entries = store.entries(0, 10)
    assert [e.index for e in entries] == list(range(10))
    for prev, e in itertools.pairwise(entries):
        assert e.fields()["prev"] == prev.entry_hash.hex()
        assert e.entry_hash == hashlib.sha256(e.leaf).digest()


def test_leaf_is_canonical_json(store: AuditStore) -> None:
    e = store.entries(3, 4)[0]
    assert canonical_json(e.fields()) == e.leaf


@pytest.mark.parametrize("index", [0, 4, 9])
def test_altered_leaf_is_detected(store: AuditStore, index: int) -> None:
    leaf = (
        store.entries(index, index + 1)[0]
        .leaf.replace(b'"deny"', b'"allow"')
        .replace(b"req-", b"rex-")
    )
    with store.engine.begin() as conn:
        conn.execute(update(entries_table).where(entries_table.c.idx == index).values(leaf=leaf))
    with pytest.raises(AuditIntegrityError) as err:
        verify(store)
    assert err.value.index == index


def test_altered_column_is_detected(store: AuditStore) -> None:
    with store.engine.begin() as conn:
        conn.execute(update(entries_table).where(entries_table.c.idx == 5).values(decision="deny"))
    with pytest.raises(AuditIntegrityError, match="entry 5: column 'decision'"):
        verify(store)


def test_rehashed_alteration_breaks_the_chain(store: AuditStore) -> None:
    e = store.entries(4, 5)[0]
    leaf = e.leaf.replace(b"req-4", b"req-X")
    with store.engine.begin() as conn:
        conn.execute(
            update(entries_table)
            .where(entries_table.c.idx == 4)
            .values(
                leaf=leaf,
                entry_hash=hashlib.sha256(leaf).digest(),
                leaf_hash=leaf_hash(leaf),
                request_id="req-X",
            )
        )
    with pytest.raises(AuditIntegrityError) as err:
        verify(store)
    assert err.value.index == 5  # entry 5 no longer links to the rewritten entry 4


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b'"case_reference":""', b'"case_reference":"\xff"'),  # not UTF-8, in a member not compared
        (b'"adapters":[]', b'"adapters":[,]'),  # not JSON, in a member not compared
        (b'"v":1', b'"v":2'),
    ],
)
def test_malformed_last_leaf_is_detected(store: AuditStore, old: bytes, new: bytes) -> None:
    """Verification decodes only the members it compares, but still refuses a leaf that is
    not valid UTF-8 JSON of version 1 (the last entry, rehashed with its head: no chain
    check can catch it)."""
    e = store.entries(9, 10)[0]
    leaf = e.leaf.replace(old, new)
    assert leaf != e.leaf
    with store.engine.begin() as conn:
        conn.execute(
            update(entries_table)
            .where(entries_table.c.idx == 9)
            .values(leaf=leaf, entry_hash=hashlib.sha256(leaf).digest(), leaf_hash=leaf_hash(leaf))
        )
        conn.execute(update(head_table).values(head_hash=hashlib.sha256(leaf).digest()))
    with pytest.raises(
        AuditIntegrityError, match=r"entry 9: (leaf is not JSON|unknown leaf version)"
    ):
        verify(store)


@pytest.mark.parametrize("index", [0, 5, 9])
def test_deleted_row_is_detected(store: AuditStore, index: int) -> None:
    with store.engine.begin() as conn:
        conn.execute(delete(entries_table).where(entries_table.c.idx == index))
    with pytest.raises(AuditIntegrityError) as err:
        verify(store)
    assert err.value.index == index


def test_swapped_rows_are_detected(store: AuditStore) -> None:
    a, b = store.entries(2, 3)[0], store.entries(7, 8)[0]
    with store.engine.begin() as conn:
        for target, source in ((2, b), (7, a)):
            conn.execute(
                update(entries_table)
                .where(entries_table.c.idx == target)
                .values(leaf=source.leaf, entry_hash=source.entry_hash)
            )
    with pytest.raises(AuditIntegrityError) as err:
        verify(store)
    assert err.value.index == 2


def test_inserted_row_is_detected(store: AuditStore) -> None:
    extra = store.entries(9, 10)[0]
    with store.engine.begin() as conn:
        conn.execute(
            entries_table.insert().values(
                idx=10,
                leaf=extra.leaf,
                entry_hash=extra.entry_hash,
                leaf_hash=b"\0" * 32,
                time="",
                kind="query",
                request_id="x",
                caller="x",
                purpose="x",
                dataset="x",
                decision="allow",
                status="OK",
                row_count=0,
            )
        )
    with pytest.raises(AuditIntegrityError) as err:
        verify(store)
    assert err.value.index == 10


def test_head_row_tampering_is_detected(store: AuditStore) -> None:
    with store.engine.begin() as conn:
        conn.execute(update(head_table).values(size=9))
    with pytest.raises(AuditIntegrityError, match="head says 9"):
        verify(store)


def test_cli_verify_exit_codes(store: AuditStore, capsys: pytest.CaptureFixture[str]) -> None:
    from gateway.tlog.note import generate_signer_key

    verify = ["audit", "verify", "--store", store.url, "--pubkey", generate_signer_key("x")[1]]
    assert gerbang(verify) == 0
    assert "10 entries" in capsys.readouterr().out
    with store.engine.begin() as conn:
        conn.execute(delete(entries_table).where(entries_table.c.idx == 3))
    assert gerbang(verify) == 1
    assert "entry 3" in capsys.readouterr().err


def test_appends_from_two_stores_share_one_chain(store_url: str) -> None:
    """Two writers (as two gateway processes would be) append to one linear chain."""
    a, b = AuditStore(store_url), AuditStore(store_url)
    a.create()
    for i in range(20):
        (a if i % 2 else b).append([record(i), record(i + 100)])
    assert verify(a) == 40
    a.close()
    b.close()


def test_unencodable_record_fails_its_whole_batch(store: AuditStore) -> None:
    """Rows reach the database while later leaves are still encoded (PostgreSQL's COPY
    streams them): a record that cannot be encoded must still leave nothing behind."""
    bad = dataclasses.replace(record(11), request={"limit": 1.5})  # no floats in a leaf
    with pytest.raises(TypeError, match="floats are not allowed"):
        store.append([record(10), bad, record(12)])
    assert store.head().size == 10
    store.append([record(10)])
    assert verify(store) == 11


async def test_group_commit_writer(tmp_path: Path) -> None:
    s = AuditStore(f"sqlite:///{tmp_path / 'audit.db'}")
    s.create()
    writer = AuditWriter(s)
    writer.start()
    entries = await asyncio.gather(*(writer.append(record(i)) for i in range(200)))
    await writer.stop()
    assert sorted(e.index for e in entries) == list(range(200))
    assert verify(s) == 200


async def test_failed_commit_fails_every_waiter(tmp_path: Path) -> None:
    s = AuditStore(f"sqlite:///{tmp_path / 'audit.db'}")  # never created: appends fail
    writer = AuditWriter(s)
    writer.start()
    results = await asyncio.gather(
        *(writer.append(record(i)) for i in range(5)), return_exceptions=True
    )
    await writer.stop()
    # An I/O or commit failure is an outage, not evidence of tampering (issue 12).
    assert all(isinstance(r, AuditUnavailable) for r in results)
    assert not any(isinstance(r, AuditIntegrityError) for r in results)


def test_commitments_are_keyed_and_typed() -> None:
    k1, k2 = b"k" * 32, b"j" * 32
    assert commit_value(k1, "plate", "B 1234 XYZ") != commit_value(k2, "plate", "B 1234 XYZ")
    assert commit_value(k1, "plate", "B 1234 XYZ") != commit_value(k1, "owner", "B 1234 XYZ")
    assert commit_value(k1, "n", 1) != commit_value(k1, "n", "1")
    assert "B 1234" not in commit_value(k1, "plate", "B 1234 XYZ")


# --- the Merkle tree beside the chain (issue 5) ---


def test_stored_tree_gives_verifiable_proofs(store: AuditStore) -> None:
    from gateway.tlog.merkle import leaf_hash, verify_consistency, verify_inclusion

    store.append([record(i) for i in range(10, 37)])
    size = store.head().size
    root = store.root(size)
    for index in (0, 5, 17, 36):
        lh, proof, r = store.inclusion_proof(index, size)
        assert r == root
        assert lh == leaf_hash(store.entries(index, index + 1)[0].leaf)
        verify_inclusion(lh, index, size, proof, root)
        assert store.index_of(lh) == index
    for m in (1, 10, 16, 36):
        proof, r1, r2 = store.consistency_proof(m, size)
        verify_consistency(m, size, proof, r1, r2)
        assert r1 == store.root(m)


def test_leaf_hashes_are_found_before_and_after_the_leaf_index_catches_up(
    store: AuditStore,
) -> None:
    from gateway.errors import ProofRequestError
    from gateway.tlog.merkle import leaf_hash

    store.index_leaves()
    indexed = store.head().size
    store.append([record(i) for i in range(40, 60)])  # a tail the index does not cover
    hashes = [leaf_hash(e.leaf) for e in store.entries(0, store.head().size)]
    for index in (0, indexed - 1, indexed, len(hashes) - 1):
        assert store.index_of(hashes[index]) == index
    assert store.index_leaves() == len(hashes) - indexed
    assert store.index_leaves() == 0
    for index in (0, indexed, len(hashes) - 1):
        assert store.index_of(hashes[index]) == index
    with pytest.raises(ProofRequestError, match="no entry has leaf hash"):
        store.index_of(b"\7" * 32)


def test_the_leaf_index_migration_indexes_an_existing_log(tmp_path: Path) -> None:
    """A log written at revision 0003 (leaf hashes indexed in the entries table) upgrades
    with every leaf hash already in the new index."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import func, select

    from gateway.audit.store import head_table, leaf_index_table
    from gateway.protocol.audit_entry import GENESIS
    from gateway.tlog.merkle import leaf_hash

    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = AuditStore(url)
    config = Config()
    config.set_main_option("script_location", str(Path("gateway/audit/migrations").resolve()))
    with old.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0003")
        conn.execute(head_table.insert().values(id=1, size=0, head_hash=GENESIS))
    old.append([record(i) for i in range(5)])  # the tables append writes are those of 0003
    hashes = [leaf_hash(e.leaf) for e in old.entries(0, 5)]
    old.close()

    s = AuditStore(url)
    s.create()  # upgrades to the latest revision
    with s.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(leaf_index_table)).scalar() == 5
    assert s.index_leaves() == 0
    assert [s.index_of(h) for h in hashes] == list(range(5))
    s.close()


def test_verification_checks_checkpoint_roots(store: AuditStore) -> None:
    from gateway.oversight.verify import CheckpointClaim

    root10 = store.root(10)
    claims = [CheckpointClaim(10, root10), CheckpointClaim(4, store.root(4))]
    assert verify_log(store.scan(), store.head(), claims).checkpoints_checked == 2
    with pytest.raises(AuditIntegrityError, match="fork"):
        verify_log(
            store.scan(), store.head(), [*claims, CheckpointClaim(10, b"\1" * 32, "witness")]
        )
    with pytest.raises(AuditIntegrityError, match="truncated"):
        verify_log(store.scan(), store.head(), [CheckpointClaim(11, root10)])
    with pytest.raises(AuditIntegrityError, match="do not have the root") as err:
        verify_log(store.scan(), store.head(), [CheckpointClaim(7, root10)])
    assert err.value.index == 6


def test_stored_leaf_hash_tampering_is_detected(store: AuditStore) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            update(entries_table).where(entries_table.c.idx == 2).values(leaf_hash=b"\0" * 32)
        )
    with pytest.raises(AuditIntegrityError, match="entry 2: stored leaf hash"):
        verify(store)


def test_migrations_build_exactly_the_declared_schema(store_url: str) -> None:
    """Alembic's revisions and the SQLAlchemy tables agree, on SQLite and PostgreSQL."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from gateway.audit import releases
    from gateway.audit.store import metadata

    assert releases.accounts_table.metadata is metadata  # its tables are declared there too
    s = AuditStore(store_url)
    s.create()
    s.create()  # idempotent: a second gateway process starting changes nothing
    with s.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    s.close()
    assert diffs == []


def test_float_filter_values_are_recorded_not_crashed_on() -> None:
    """Regression (issue 11's attack suite): a coordinate filter value (a float) in the sealed
    details made canonical JSON refuse the record, so the refusal was answered "audit log
    unavailable" and never audited."""
    from gateway.protocol.audit_entry import describe_query, query_details
    from gateway.protocol.canonical import canonical_json
    from gateway.protocol.model import Aggregation, Filter, GroupBy, Op, Query

    q = Query(
        "incidents",
        (),
        (Filter("lat", Op.GE, (-6.3,)), Filter("lon", Op.IN, (106.8, 106.85))),
        Aggregation((GroupBy("kecamatan"),)),
        "disaster_response",
        "basis",
    )
    details = query_details(q)
    assert details["filters"][0]["values"] == ["-6.3"]
    canonical_json(details)
    canonical_json(describe_query(b"k" * 32, q))
