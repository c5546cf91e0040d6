"""The audit log: append-only entries, their Merkle tree, the head, checkpoints and
cosignatures, through SQLAlchemy.

SQLite is the embedded default, PostgreSQL the production store; both run this
code. Appends take the log's write lock (SQLite `BEGIN IMMEDIATE`, PostgreSQL
`SELECT ... FOR UPDATE` on the head row), read the head inside the locked
transaction, write the new entries and the new head, and commit: several
gateway processes can append to one log and the chain stays linear. A batch of
records is one transaction (group commit, `gateway.audit.writer`): one durable
commit, many entries. Every write path takes the lock (`write_engine`); reads
stay deferred, so a slow reader blocks no append.

The head row (size and hash of the last entry) is written in the same
transaction as the entries, so removing the last entries is detected.

The parts, as Tessera splits a log: the tables and migrations are
`gateway.audit.schema`; where the two databases differ, the store calls its
backend (`gateway.audit.sqlite`, `gateway.audit.postgresql`); replay nonces
claimed with an append are `gateway.audit.nonces`, the sealed details written
with it `gateway.audit.details`, and the privacy budget `gateway.audit.releases`.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from gateway.audit import details as sealed_details
from gateway.audit import nonces
from gateway.audit.backend import StoreBackend, backend_for
from gateway.audit.nonces import NonceClaim
from gateway.audit.schema import (
    ENTRY_COLUMNS,
    SCANNED_COLUMNS,
    TREE_COLUMNS,
    checkpoints_table,
    cosignatures_table,
    create_schema,
    entries_table,
    head_table,
    leaf_index_table,
    leaf_indexed_table,
    meta_table,
    tree_table,
)
from gateway.audit.sqlite import WRITE_LOCK
from gateway.errors import AuditIntegrityError, ProofRequestError
from gateway.protocol.audit_entry import AuditRecord, Entry, seal_body
from gateway.protocol.audit_rows import INDEXED_COLUMNS, Head, StoredEntry, StoredNode
from gateway.protocol.observability import STORE_COMMITS
from gateway.tlog.merkle import leaf_hash
from gateway.tlog.subtrees import (
    NodeKey,
    consistency_proof,
    inclusion_proof,
    nodes_completed_by_append,
    root_at,
)

_indexed_values = operator.itemgetter(*INDEXED_COLUMNS)


class _NodeReader:
    """Reads stored subtree hashes on one connection, in one SELECT per call."""

    def __init__(self, conn: Connection, backend: StoreBackend) -> None:
        self.conn = conn
        self.backend = backend

    def read_nodes(self, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        if not keys:
            return {}
        # One equality pair per key, OR-ed: both SQLite and PostgreSQL answer each with a
        # primary-key lookup. (A row-value IN made SQLite scan the whole tree table:
        # 335 ms per proof at 1,000,000 entries, and appends slowing as the log grew.)
        return self.backend.read_nodes(self.conn, keys)


@dataclass(frozen=True)
class AuditWrite:
    """One entry to append, with the nonce its request claims in the same transaction."""

    record: AuditRecord
    nonce: NonceClaim | None = None
    replayed: AuditRecord | None = None


@dataclass(frozen=True)
class StoredCheckpoint:
    size: int
    root_hash: bytes
    note: bytes
    cosignatures: tuple[str, ...]

    def cosigned_note(self) -> bytes:
        """The log-signed note with every cosignature line appended (C2SP signed-note)."""
        return self.note + "".join(self.cosignatures).encode()


class AuditStore:
    """Append-only audit entries in a SQLAlchemy database."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.backend = backend_for(url)
        self.engine = self.backend.create_engine(url)
        # Every write goes through `write_engine` (same pool, same connections): on SQLite
        # its transactions take the write lock at BEGIN. Reads use `engine` and stay deferred.
        self.write_engine = self.engine.execution_options(**{WRITE_LOCK: True})
        self.dialect = self.backend.name

    def create(self) -> None:
        """Bring the schema to the latest Alembic revision and write the genesis head.

        Several gateway processes may start at once: the migration runs under the
        store's write lock (SQLite BEGIN IMMEDIATE, a PostgreSQL advisory lock).
        """
        with self.write_engine.begin() as conn:
            self.backend.lock_schema(conn)
            create_schema(conn)

    def close(self) -> None:
        self.engine.dispose()

    def publish(self, name: str, value: str) -> None:
        """Record a fact about the log once; a different value later is a configuration error."""
        with self.write_engine.begin() as conn:
            row = conn.execute(select(meta_table.c.value).where(meta_table.c.name == name)).first()
            if row is None:
                conn.execute(insert(meta_table).values(name=name, value=value))
            elif row.value != value:
                raise AuditIntegrityError(
                    f"the log's {name} is already {row.value!r}; refusing to change it to {value!r}"
                )

    def published(self, name: str) -> str | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(meta_table.c.value).where(meta_table.c.name == name)).first()
        return None if row is None else str(row.value)

    def append(self, records: Sequence[AuditRecord]) -> list[Entry]:
        """Sequence and durably commit `records`, in order, as one transaction."""
        if not records:
            return []
        with self.write_engine.begin() as conn:
            entries = self._append_in(conn, records)
        STORE_COMMITS.labels("entries").inc()
        return entries

    def append_claimed(self, writes: Sequence[AuditWrite]) -> list[tuple[Entry, bool]]:
        """Claim each write's nonce and append its entry, all in one durable transaction.

        A write whose nonce was already claimed (by an earlier request, another gateway
        process, or an earlier write of this batch) appends its `replayed` record instead
        of its own, and comes back with False: its answer must not be released. One commit
        per batch is the floor of audit-before-release (issue 12): the nonce is not a
        commit of its own.
        """
        if not writes:
            return []
        with self.write_engine.begin() as conn:
            self.backend.locked_head(conn)  # the log's write lock first, as every append takes it
            claims = [w.nonce for w in writes if w.nonce is not None]
            fresh_claims = iter(nonces.claim_in(conn, self.backend, claims)) if claims else iter(())
            fresh: list[bool] = []
            records: list[AuditRecord] = []
            for w in writes:
                ok = True if w.nonce is None else next(fresh_claims)
                fresh.append(ok)
                records.append(w.record if ok or w.replayed is None else w.replayed)
            entries = self._append_in(conn, records)
        STORE_COMMITS.labels("entries").inc()
        return list(zip(entries, fresh, strict=True))

    def _append_in(self, conn: Connection, records: Sequence[AuditRecord]) -> list[Entry]:
        """Append `records` in the transaction of `conn`, which holds the write lock."""
        head = self.backend.locked_head(conn)
        entries: list[Entry] = []
        leaf_hashes: list[bytes] = []

        def rows() -> Iterator[tuple[Any, ...]]:
            # Encoded as the database takes them: PostgreSQL works on the rows already
            # sent while the next leaves are encoded.
            prev = head.head_hash
            for index, record in enumerate(records, head.size):
                body = record.body()
                entry = seal_body(body, index, prev)
                lh = leaf_hash(entry.leaf)
                entries.append(entry)
                leaf_hashes.append(lh)
                prev = entry.entry_hash
                yield (index, *_indexed_values(body), entry.leaf, entry.entry_hash, lh)

        self.backend.insert_rows(conn, entries_table, ENTRY_COLUMNS, rows())
        sealed = sealed_details.sealed_rows(entries, records)
        if sealed:
            self.backend.insert_details(conn, sealed)
        nodes = nodes_completed_by_append(head.size, leaf_hashes, _NodeReader(conn, self.backend))
        self.backend.insert_rows(
            conn, tree_table, TREE_COLUMNS, ((lv, i, h) for (lv, i), h in nodes.items())
        )
        size, head_hash = head.size + len(records), entries[-1].entry_hash
        self.backend.update_head(conn, size, head_hash)
        return entries

    def head(self) -> Head:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(head_table.c.size, head_table.c.head_hash).where(head_table.c.id == 1)
            ).first()
        if row is None:
            raise AuditIntegrityError("audit log has no head row")
        return Head(int(row.size), bytes(row.head_hash))

    def entries(self, start: int, end: int) -> list[Entry]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(entries_table.c.idx, entries_table.c.leaf, entries_table.c.entry_hash)
                .where(entries_table.c.idx >= start, entries_table.c.idx < end)
                .order_by(entries_table.c.idx)
            ).all()
        return [Entry(int(r.idx), bytes(r.leaf), bytes(r.entry_hash)) for r in rows]

    def node_run(self, level: int, start: int, end: int) -> list[bytes]:
        """The stored hashes of nodes (level, start..end-1), in order: one tlog-tiles tile.

        One range scan on the primary key; fewer hashes than asked means the store lacks some."""
        c = tree_table.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(c.hash).where(c.level == level, c.idx >= start, c.idx < end).order_by(c.idx)
            ).scalars()
            return [bytes(h) for h in rows]

    def details(self, index: int) -> bytes | None:
        with self.engine.connect() as conn:
            return sealed_details.read_details(conn, index)

    def erase_expired_details(self, now: dt.datetime) -> int:
        """The retention job: erase sealed details whose retention has ended."""
        with self.write_engine.begin() as conn:
            return sealed_details.erase_expired(conn, now)

    def claim_nonces(self, items: Sequence[tuple[str, str, dt.datetime]]) -> list[bool]:
        """Record (caller, nonce, expiry) items; True for each nonce not seen before.

        One transaction under the write lock; a nonce repeated within the batch is
        new only the first time. Expired nonces are pruned in the same transaction
        (`gateway.audit.nonces`).
        """
        if not items:
            return []
        with self.write_engine.begin() as conn:
            fresh = nonces.claim_in(conn, self.backend, [NonceClaim(c, n, e) for c, n, e in items])
        STORE_COMMITS.labels("nonces").inc()
        return fresh

    def index_of(self, leaf_hash_: bytes) -> int:
        """The index of the entry with this leaf hash: from the leaf index, or from the tail
        of entries it does not cover yet."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(leaf_index_table.c.idx)
                .where(leaf_index_table.c.leaf_hash == leaf_hash_)
                .order_by(leaf_index_table.c.idx)
            ).first()
            if row is None:
                row = conn.execute(
                    select(entries_table.c.idx)
                    .where(
                        entries_table.c.idx >= self._leaves_indexed(conn),
                        entries_table.c.leaf_hash == leaf_hash_,
                    )
                    .order_by(entries_table.c.idx)
                ).first()
        if row is None:
            raise ProofRequestError(f"no entry has leaf hash {leaf_hash_.hex()}")
        return int(row.idx)

    @staticmethod
    def _leaves_indexed(conn: Connection) -> int:
        row = conn.execute(
            select(leaf_indexed_table.c.size).where(leaf_indexed_table.c.id == 1)
        ).first()
        return 0 if row is None else int(row.size)

    def index_leaves(self, limit: int = 200_000) -> int:
        """Add the leaf hashes of entries not yet in the leaf index (at most `limit`), sorted;
        return how many. Safe to run from several processes at once."""
        with self.write_engine.begin() as conn:
            stmt = select(leaf_indexed_table.c.size).where(leaf_indexed_table.c.id == 1)
            stmt = self.backend.for_update(stmt)
            row = conn.execute(stmt).first()
            if row is None:
                raise AuditIntegrityError("audit log has no leaf index row; run `create()`")
            start = int(row.size)
            rows = conn.execute(
                select(entries_table.c.leaf_hash, entries_table.c.idx)
                .where(entries_table.c.idx >= start, entries_table.c.idx < start + limit)
                .order_by(entries_table.c.idx)
            ).all()
            if not rows:
                return 0
            pairs = sorted((bytes(r.leaf_hash), int(r.idx)) for r in rows)
            self.backend.insert_rows(conn, leaf_index_table, ("leaf_hash", "idx"), iter(pairs))
            conn.execute(
                update(leaf_indexed_table)
                .where(leaf_indexed_table.c.id == 1)
                .values(size=start + len(rows))
            )
        return len(rows)

    def root(self, size: int) -> bytes:
        with self.engine.connect() as conn:
            return root_at(size, _NodeReader(conn, self.backend))

    def inclusion_proof(self, index: int, size: int) -> tuple[bytes, list[bytes], bytes]:
        """(leaf hash, proof, root) for entry `index` in the tree of `size`, in one snapshot."""
        with self.engine.connect() as conn:
            self._check_size(conn, size)
            reader = _NodeReader(conn, self.backend)
            proof = inclusion_proof(index, size, reader)
            leaf = reader.read_nodes([(0, index)])[(0, index)]
            return leaf, proof, root_at(size, reader)

    def consistency_proof(self, size1: int, size2: int) -> tuple[list[bytes], bytes, bytes]:
        """(proof, root1, root2) from the tree of `size1` to the tree of `size2`."""
        with self.engine.connect() as conn:
            self._check_size(conn, size2)
            reader = _NodeReader(conn, self.backend)
            return (
                consistency_proof(size1, size2, reader),
                root_at(size1, reader),
                root_at(size2, reader),
            )

    def _check_size(self, conn: Connection, size: int) -> None:
        row = conn.execute(select(head_table.c.size).where(head_table.c.id == 1)).first()
        if row is None or size > int(row.size):
            raise ProofRequestError(f"the log has fewer than {size} entries")

    def add_checkpoint(self, size: int, root_hash: bytes, note: bytes, created_at: str) -> bool:
        """Store a signed checkpoint; False if one of that size exists already."""
        with self.write_engine.begin() as conn:
            exists = conn.execute(
                select(checkpoints_table.c.size).where(checkpoints_table.c.size == size)
            ).first()
            if exists is not None:
                return False
            conn.execute(
                insert(checkpoints_table).values(
                    size=size, root_hash=root_hash, note=note, created_at=created_at
                )
            )
        return True

    def add_cosignature(self, size: int, witness: str, line: str) -> None:
        with self.write_engine.begin() as conn:
            conn.execute(
                delete(cosignatures_table).where(
                    cosignatures_table.c.size == size, cosignatures_table.c.witness == witness
                )
            )
            conn.execute(insert(cosignatures_table).values(size=size, witness=witness, line=line))

    def checkpoint(self, size: int | None = None) -> StoredCheckpoint | None:
        """The checkpoint of `size`, or the latest one, with its cosignatures."""
        with self.engine.connect() as conn:
            stmt = select(checkpoints_table)
            if size is None:
                stmt = stmt.order_by(checkpoints_table.c.size.desc()).limit(1)
            else:
                stmt = stmt.where(checkpoints_table.c.size == size)
            row = conn.execute(stmt).first()
            if row is None:
                return None
            lines = conn.execute(
                select(cosignatures_table.c.line)
                .where(cosignatures_table.c.size == row.size)
                .order_by(cosignatures_table.c.witness)
            ).scalars()
            return StoredCheckpoint(
                int(row.size), bytes(row.root_hash), bytes(row.note), tuple(lines)
            )

    def checkpoints(self) -> list[StoredCheckpoint]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(checkpoints_table).order_by(checkpoints_table.c.size)).all()
        return [StoredCheckpoint(int(r.size), bytes(r.root_hash), bytes(r.note), ()) for r in rows]

    def cosigned_sizes(self) -> list[int]:
        """The sizes that have cosignature rows (each should have its checkpoint row)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(cosignatures_table.c.size).distinct()).scalars().all()
        return sorted(int(r) for r in rows)

    def scan_nodes(self, batch: int = 10_000) -> Iterator[StoredNode]:
        """Every stored Merkle node, ordered by level then index, for verification."""
        c = tree_table.c
        query = str(
            select(c.level, c.idx, c.hash)
            .order_by(c.level, c.idx)
            .compile(dialect=self.engine.dialect)
        )
        with self.engine.connect() as conn:
            cur = self.backend.scan_cursor(conn, "tree_scan")
            try:
                cur.execute(query)
                while rows := cur.fetchmany(batch):
                    for level, idx, digest in rows:
                        yield int(level), int(idx), bytes(digest)
            finally:
                cur.close()

    def scan(self, batch: int = 10_000) -> Iterator[StoredEntry]:
        """Every stored row in physical index order, for verification.

        Read through the driver, in batches: SQLAlchemy's per-row result processing
        cost as much as verifying the row. Both drivers return ints and bytes.
        """
        cols = [entries_table.c[c] for c in ("idx", "leaf", "entry_hash", *SCANNED_COLUMNS)]
        query = str(
            select(*cols).order_by(entries_table.c.idx).compile(dialect=self.engine.dialect)
        )
        with self.engine.connect() as conn:
            # On PostgreSQL a server-side cursor, so that a large log is never all in memory.
            cur = self.backend.scan_cursor(conn, "audit_scan")
            try:
                cur.execute(query)
                while rows := cur.fetchmany(batch):
                    for row in rows:
                        yield StoredEntry(Entry(row[0], row[1], row[2]), row[3:])
            finally:
                cur.close()
