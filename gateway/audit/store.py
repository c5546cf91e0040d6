"""The audit log's store: append-only entries and the chain head, through SQLAlchemy.

SQLite is the embedded default, PostgreSQL the production store; both run this
code. Appends take the log's write lock (SQLite `BEGIN IMMEDIATE`, PostgreSQL
`SELECT ... FOR UPDATE` on the head row), read the head inside the locked
transaction, write the new entries and the new head, and commit: several
gateway processes can append to one log and the chain stays linear. A batch of
records is one transaction (group commit): one durable commit, many entries.
Every write path takes the lock (`write_engine`); reads stay deferred, so a slow
reader blocks no append.

The head row (size and hash of the last entry) is written in the same
transaction as the entries, so removing the last entries is detected.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import operator
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, NamedTuple, TypeVar

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    and_,
    create_engine,
    delete,
    event,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect

from gateway.errors import AuditIntegrityError, AuditUnavailable, ProofRequestError
from gateway.protocol.audit_entry import GENESIS, AuditRecord, Entry, seal_body
from gateway.protocol.audit_rows import INDEXED_COLUMNS, Head, StoredEntry, StoredNode
from gateway.protocol.observability import STORE_COMMITS
from gateway.tlog.merkle import (
    NodeKey,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    nodes_completed_by_append,
    root_at,
)


class Bytes(TypeDecorator[bytes]):
    """BLOB/bytea passed through as bytes: both drivers take and return bytes natively,
    and skipping SQLAlchemy's per-value conversion matters at tens of thousands of rows/s."""

    impl = LargeBinary
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> None:
        return None

    def result_processor(self, dialect: Dialect, coltype: object) -> None:
        return None


# Nonces per INSERT statement of a claim: 3 bound values each, well inside SQLite's
# 32,766 bound variables and PostgreSQL's 65,535.
_NONCE_PAGE = 1000

T = TypeVar("T")
R = TypeVar("R")

metadata = MetaData()

entries_table = Table(
    "audit_entries",
    metadata,
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("time", String(32), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("request_id", String(64), nullable=False),
    Column("caller", String(256), nullable=False),
    Column("purpose", String(128), nullable=False),
    Column("dataset", String(128), nullable=False),
    Column("decision", String(16), nullable=False),
    Column("status", String(32), nullable=False),
    Column("row_count", BigInteger, nullable=False),
    Column("leaf", Bytes, nullable=False),
    Column("entry_hash", Bytes(32), nullable=False),
    # RFC 9162 leaf hash, SHA-256(0x00 || leaf): receipts and proofs name entries by it.
    # Not indexed here: see audit_leaf_index.
    Column("leaf_hash", Bytes(32), nullable=False),
)

# Leaf hash -> index, for proofs asked by leaf hash. Built behind the appends, in large sorted
# batches (`index_leaves`, run by the checkpointer), not in every append: random 32-byte keys
# dirty about one index page per entry, which cost a third of the append rate; a batch of many
# commits touches each page once. Derived data: the entries of `audit_leaf_indexed.size` and
# after are found by scanning that tail, and a wrong index only yields a proof that fails.
leaf_index_table = Table(
    "audit_leaf_index",
    metadata,
    Column("leaf_hash", Bytes(32), primary_key=True),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
)

leaf_indexed_table = Table(
    "audit_leaf_indexed",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("size", BigInteger, nullable=False),
)

# Hashes of every complete subtree of the Merkle tree over the entries: node
# (level, idx) covers leaves [idx * 2^level, (idx + 1) * 2^level). Complete
# subtrees never change, so a proof at any size reads O(log n) of them.
tree_table = Table(
    "audit_tree",
    metadata,
    Column("level", Integer, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", Bytes(32), nullable=False),
)

checkpoints_table = Table(
    "audit_checkpoints",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("root_hash", Bytes(32), nullable=False),
    # The C2SP signed note, signed by the log key only; cosignatures are kept apart.
    Column("note", Bytes, nullable=False),
    Column("created_at", String(32), nullable=False),
)

cosignatures_table = Table(
    "audit_cosignatures",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("witness", String(256), primary_key=True),
    # A witness's C2SP tlog-cosignature lines, newline-terminated: Ed25519 (about 150
    # characters) and/or ML-DSA-44 (about 3,300).
    Column("line", Text, nullable=False),
)

head_table = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("size", BigInteger, nullable=False),
    Column("head_hash", Bytes(32), nullable=False),
)

# Sealed details for oversight, bound to their leaf by digest; erased after retention
# without touching the log.
details_table = Table(
    "audit_details",
    metadata,
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("recipient", String(64), nullable=False),
    Column("blob", Bytes, nullable=False),
    Column("expires_at", String(32), nullable=False, index=True),
)

# Nonces of signed requests already seen, until their freshness window has passed:
# the replay cache, shared by every gateway process and kept across restarts.
nonces_table = Table(
    "request_nonces",
    metadata,
    Column("caller", String(256), primary_key=True),
    Column("nonce", String(128), primary_key=True),
    Column("expires_at", String(32), nullable=False, index=True),
)

# Facts about the log that outside verifiers need: its origin and verifier key.
meta_table = Table(
    "audit_meta",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", String(1024), nullable=False),
)

SCANNED_COLUMNS = (*INDEXED_COLUMNS, "leaf_hash")

# Column orders of the rows that `append` writes.
ENTRY_COLUMNS = ("idx", *INDEXED_COLUMNS, "leaf", "entry_hash", "leaf_hash")
TREE_COLUMNS = ("level", "idx", "hash")

_indexed_values = operator.itemgetter(*INDEXED_COLUMNS)

# PostgreSQL's binary COPY format of each column type `append` writes.
_PG_COPY_TYPES: dict[type[Any], str] = {
    BigInteger: "int8",
    Integer: "int4",
    String: "text",
    Bytes: "bytea",
}


# The execution option that marks a write transaction: on SQLite it begins with
# BEGIN IMMEDIATE (the write lock); every other transaction is a deferred read.
WRITE_LOCK = "gerbang_write_lock"


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        # Autocommit at the driver level so that `begin` below controls transactions.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")  # durable at commit
        cur.execute("PRAGMA busy_timeout=30000")
        # A batch of 1,024 entries dirties about as many pages of the leaf-hash index (its
        # keys are random): with SQLite's 2 MiB default cache they were written out and read
        # back within the transaction, and a checkpoint every 4 MiB of WAL copied them to
        # the database on nearly every commit. 64 MiB of each lowers both; neither changes
        # durability, which is the WAL's fsync at each commit (synchronous=FULL).
        cur.execute("PRAGMA cache_size=-65536")
        cur.execute("PRAGMA wal_autocheckpoint=16384")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        # A write takes the write lock at BEGIN, so reading the head and appending are one
        # step. A read stays deferred: in WAL mode it reads a snapshot and blocks no writer
        # (BEGIN IMMEDIATE on every read made a slow reader hold up every append).
        if conn.get_execution_options().get(WRITE_LOCK):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


def _sqlite_rows(conn: Connection, sql: str, params: Sequence[Any] = ()) -> list[Any]:
    """Run one statement through the sqlite3 driver in the transaction of `conn`.

    The append path's statements on SQLite: SQLAlchemy's execution (statement cache key,
    parameter processing, result wrapping) cost several times SQLite's own work on these
    primary-key reads and small writes, and every request pays for them (BENCHMARKS.md,
    the profile of issue 12). Statements are this module's constants; values are bound.
    """
    driver: Any = conn.connection.driver_connection
    cur = driver.cursor()
    try:
        return list(cur.execute(sql, params).fetchall())
    finally:
        cur.close()


def _expiry(record: AuditRecord) -> str:
    expires = record.time + dt.timedelta(days=record.retention_days)
    return expires.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _NodeReader:
    """Reads stored subtree hashes on one connection, in one SELECT per call."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def read_nodes(self, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        if not keys:
            return {}
        # One equality pair per key, OR-ed: both SQLite and PostgreSQL answer each with a
        # primary-key lookup. (A row-value IN made SQLite scan the whole tree table:
        # 335 ms per proof at 1,000,000 entries, and appends slowing as the log grew.)
        if self.conn.dialect.name == "sqlite":
            # The same SELECT through the driver: every append runs it (_sqlite_rows).
            pairs = " OR ".join(["(level = ? AND idx = ?)"] * len(keys))
            found = _sqlite_rows(
                self.conn,
                f"SELECT level, idx, hash FROM audit_tree WHERE {pairs}",  # noqa: S608
                [v for key in keys for v in key],
            )
            return {(int(lv), int(i)): bytes(h) for lv, i, h in found}
        c = tree_table.c
        rows = self.conn.execute(
            select(c.level, c.idx, c.hash).where(
                or_(*(and_(c.level == level, c.idx == idx) for level, idx in keys))
            )
        )
        return {(int(r.level), int(r.idx)): bytes(r.hash) for r in rows}


class NonceClaim(NamedTuple):
    """A signed request's nonce, kept until the request could no longer be fresh."""

    caller: str
    nonce: str  # hex
    expires_at: dt.datetime


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
        sqlite = url.startswith("sqlite")
        # Pooled connections: opening one per commit re-ran the PRAGMAs and checkpointed
        # the WAL every time (profiled at ~3 ms per commit, BENCHMARKS.md finding 3).
        self.engine = (
            create_engine(url, connect_args={"check_same_thread": False}, pool_size=4)
            if sqlite
            else create_engine(url)
        )
        if sqlite:
            _sqlite_pragmas(self.engine)
        # Every write goes through `write_engine` (same pool, same connections): on SQLite
        # its transactions take the write lock at BEGIN. Reads use `engine` and stay deferred.
        self.write_engine = self.engine.execution_options(**{WRITE_LOCK: True})
        self.dialect = self.engine.dialect.name

    def create(self) -> None:
        """Bring the schema to the latest Alembic revision and write the genesis head.

        Several gateway processes may start at once: the migration runs under the
        store's write lock (SQLite BEGIN IMMEDIATE, a PostgreSQL advisory lock).
        """
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
        with self.write_engine.begin() as conn:
            if self.dialect == "postgresql":
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(727274)")
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
            if conn.execute(select(head_table.c.id)).first() is None:
                conn.execute(insert(head_table).values(id=1, size=0, head_hash=GENESIS))
            if conn.execute(select(leaf_indexed_table.c.id)).first() is None:
                conn.execute(insert(leaf_indexed_table).values(id=1, size=0))

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

    def _locked_head(self, conn: Connection) -> Head:
        if self.dialect == "sqlite":  # the lock is the transaction's BEGIN IMMEDIATE
            found = _sqlite_rows(conn, "SELECT size, head_hash FROM audit_head WHERE id = 1")
            if not found:
                raise AuditIntegrityError(
                    "audit log has no head row; was it created with `create()`?"
                )
            return Head(int(found[0][0]), bytes(found[0][1]))
        stmt = select(head_table.c.size, head_table.c.head_hash).where(head_table.c.id == 1)
        if self.dialect == "postgresql":
            stmt = stmt.with_for_update()
        row = conn.execute(stmt).first()
        if row is None:
            raise AuditIntegrityError("audit log has no head row; was it created with `create()`?")
        return Head(int(row.size), bytes(row.head_hash))

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
            self._locked_head(conn)  # the log's write lock first, as every append takes it
            claims = [w.nonce for w in writes if w.nonce is not None]
            fresh_claims = iter(self._claim_in(conn, claims)) if claims else iter(())
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
        head = self._locked_head(conn)
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

        self._insert_rows(conn, entries_table, ENTRY_COLUMNS, rows())
        sealed = [
            {
                "idx": e.index,
                "recipient": r.sealed.recipient,
                "blob": r.sealed.blob,
                "expires_at": _expiry(r),
            }
            for e, r in zip(entries, records, strict=True)
            if r.sealed is not None
        ]
        if sealed and self.dialect == "sqlite":
            self._insert_rows(
                conn,
                details_table,
                ("idx", "recipient", "blob", "expires_at"),
                (tuple(d.values()) for d in sealed),
            )
        elif sealed:
            conn.execute(insert(details_table), sealed)
        nodes = nodes_completed_by_append(head.size, leaf_hashes, _NodeReader(conn))
        self._insert_rows(
            conn, tree_table, TREE_COLUMNS, ((lv, i, h) for (lv, i), h in nodes.items())
        )
        size, head_hash = head.size + len(records), entries[-1].entry_hash
        if self.dialect == "sqlite":
            _sqlite_rows(
                conn,
                "UPDATE audit_head SET size = ?, head_hash = ? WHERE id = 1",
                (size, head_hash),
            )
        else:
            conn.execute(
                update(head_table)
                .where(head_table.c.id == 1)
                .values(size=size, head_hash=head_hash)
            )
        return entries

    def _insert_rows(
        self,
        conn: Connection,
        table: Table,
        columns: Sequence[str],
        rows: Iterable[tuple[Any, ...]],
    ) -> None:
        """Insert plain tuples through the driver, in the transaction of `conn`.

        At tens of thousands of rows per second SQLAlchemy's per-row parameter handling
        cost more than the database's own work; tuples go to the driver as they are.
        """
        names = ", ".join(columns)
        driver: Any = conn.connection.driver_connection  # sqlite3 or psycopg
        if self.dialect == "postgresql":
            # COPY streams: the server inserts while the rows are still being produced.
            with (
                driver.cursor() as cur,
                cur.copy(f"COPY {table.name} ({names}) FROM STDIN (FORMAT BINARY)") as copy,
            ):
                copy.set_types([_PG_COPY_TYPES[type(table.c[c].type)] for c in columns])
                for row in rows:
                    copy.write_row(row)
        else:
            cur = driver.cursor()
            try:
                marks = ", ".join("?" * len(columns))
                # Names are this module's constants, values are bound: no injection.
                insert_sql = f"INSERT INTO {table.name} ({names}) VALUES ({marks})"  # noqa: S608
                cur.executemany(insert_sql, rows)
            finally:
                cur.close()

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
            row = conn.execute(
                select(details_table.c.blob).where(details_table.c.idx == index)
            ).first()
        return None if row is None else bytes(row.blob)

    def erase_expired_details(self, now: dt.datetime) -> int:
        """The retention job: erase sealed details whose retention has ended."""
        cutoff = now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        with self.write_engine.begin() as conn:
            result = conn.execute(delete(details_table).where(details_table.c.expires_at <= cutoff))
        return int(result.rowcount)

    def claim_nonces(self, items: Sequence[tuple[str, str, dt.datetime]]) -> list[bool]:
        """Record (caller, nonce, expiry) items; True for each nonce not seen before.

        One transaction under the write lock; a nonce repeated within the batch is
        new only the first time. Expired nonces are pruned in the same transaction.
        The claim is `INSERT ... ON CONFLICT DO NOTHING RETURNING` (SQLite >= 3.35,
        PostgreSQL), sent in pages of bound rows: the rows it returns are the new
        nonces. (One OR-ed lookup per nonce went past SQLite's expression-depth limit
        at 999 nonces and failed the whole batch.)
        """
        if not items:
            return []
        with self.write_engine.begin() as conn:
            fresh = self._claim_in(conn, [NonceClaim(c, n, e) for c, n, e in items])
        STORE_COMMITS.labels("nonces").inc()
        return fresh

    def _claim_in(self, conn: Connection, items: Sequence[NonceClaim]) -> list[bool]:
        """`claim_nonces` in the transaction of `conn`."""
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        first: dict[tuple[str, str], str] = {}
        for caller, nonce, expires in items:
            if (caller, nonce) not in first:
                first[caller, nonce] = expires.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if self.dialect == "sqlite":
            return self._claim_sqlite(conn, items, now, first)
        insert_ = sqlite_insert if self.dialect == "sqlite" else pg_insert
        c = nonces_table.c
        claim = insert_(nonces_table).on_conflict_do_nothing().returning(c.caller, c.nonce)
        keys = list(first.items())
        new: set[tuple[str, str]] = set()
        if self.dialect == "postgresql":
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(727275)")
        conn.execute(delete(nonces_table).where(c.expires_at < now))
        for start in range(0, len(keys), _NONCE_PAGE):
            page = keys[start : start + _NONCE_PAGE]
            rows = conn.execute(
                claim.values([{"caller": k[0], "nonce": k[1], "expires_at": e} for k, e in page])
            )
            new.update((r.caller, r.nonce) for r in rows)
        fresh: list[bool] = []
        for caller, nonce, _ in items:
            fresh.append((caller, nonce) in new)
            new.discard((caller, nonce))  # a repeat within the batch is not new
        return fresh

    @staticmethod
    def _claim_sqlite(
        conn: Connection, items: Sequence[NonceClaim], now: str, first: dict[tuple[str, str], str]
    ) -> list[bool]:
        """`_claim_in` on SQLite, through the driver: the same DELETE and the same
        `INSERT ... ON CONFLICT DO NOTHING RETURNING`, in pages."""
        _sqlite_rows(conn, "DELETE FROM request_nonces WHERE expires_at < ?", (now,))
        keys = list(first.items())
        new: set[tuple[str, str]] = set()
        for start in range(0, len(keys), _NONCE_PAGE):
            page = keys[start : start + _NONCE_PAGE]
            values = ", ".join(["(?, ?, ?)"] * len(page))
            rows = _sqlite_rows(
                conn,
                "INSERT INTO request_nonces (caller, nonce, expires_at) "  # noqa: S608
                f"VALUES {values} ON CONFLICT DO NOTHING RETURNING caller, nonce",
                [v for (caller, nonce), e in page for v in (caller, nonce, e)],
            )
            new.update((str(c), str(n)) for c, n in rows)
        fresh: list[bool] = []
        for caller, nonce, _ in items:
            fresh.append((caller, nonce) in new)
            new.discard((caller, nonce))  # a repeat within the batch is not new
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
            if self.dialect == "postgresql":
                stmt = stmt.with_for_update()
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
            self._insert_rows(conn, leaf_index_table, ("leaf_hash", "idx"), iter(pairs))
            conn.execute(
                update(leaf_indexed_table)
                .where(leaf_indexed_table.c.id == 1)
                .values(size=start + len(rows))
            )
        return len(rows)

    def root(self, size: int) -> bytes:
        with self.engine.connect() as conn:
            return root_at(size, _NodeReader(conn))

    def inclusion_proof(self, index: int, size: int) -> tuple[bytes, list[bytes], bytes]:
        """(leaf hash, proof, root) for entry `index` in the tree of `size`, in one snapshot."""
        with self.engine.connect() as conn:
            self._check_size(conn, size)
            reader = _NodeReader(conn)
            proof = inclusion_proof(index, size, reader)
            leaf = reader.read_nodes([(0, index)])[(0, index)]
            return leaf, proof, root_at(size, reader)

    def consistency_proof(self, size1: int, size2: int) -> tuple[list[bytes], bytes, bytes]:
        """(proof, root1, root2) from the tree of `size1` to the tree of `size2`."""
        with self.engine.connect() as conn:
            self._check_size(conn, size2)
            reader = _NodeReader(conn)
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
            driver: Any = conn.connection.driver_connection  # sqlite3 or psycopg
            cur = driver.cursor("tree_scan") if self.dialect == "postgresql" else driver.cursor()
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
            driver: Any = conn.connection.driver_connection  # sqlite3 or psycopg
            # On PostgreSQL a server-side cursor, so that a large log is never all in memory.
            cur = driver.cursor("audit_scan") if self.dialect == "postgresql" else driver.cursor()
            try:
                cur.execute(query)
                while rows := cur.fetchmany(batch):
                    for row in rows:
                        yield StoredEntry(Entry(row[0], row[1], row[2]), row[3:])
            finally:
                cur.close()


class GroupCommit(Generic[T, R]):
    """Concurrent callers share one transaction: `submit` waits for the batch's commit.

    `commit` takes a batch of items and returns one result per item, in order, in
    one durable transaction (run in a worker thread). If it fails, every waiter
    in the batch fails with it, so nothing proceeds on an uncommitted write.
    """

    def __init__(
        self, commit: Callable[[list[T]], Sequence[R]], name: str, max_batch: int = 1024
    ) -> None:
        self._commit = commit
        self._name = name
        self._max_batch = max_batch
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for _, fut in self._pending:
            if not fut.done():
                fut.set_exception(AuditUnavailable(f"{self._name} stopped before commit"))
        self._pending.clear()

    async def submit(self, item: T) -> R:
        fut: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, fut))
        self._wakeup.set()
        return await asyncio.shield(fut)

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                try:
                    results = await asyncio.to_thread(self._commit, [item for item, _ in batch])
                except Exception as e:
                    # Evidence of tampering stays what it is; any other failure (a full disk,
                    # a lost connection, a failed commit) is an outage, not tampering.
                    failure: Exception = (
                        e
                        if isinstance(e, AuditIntegrityError)
                        else AuditUnavailable(f"{self._name} failed: {type(e).__name__}: {e}")
                    )
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(failure)
                    continue
                for (_, fut), result in zip(batch, results, strict=True):
                    if not fut.done():
                        fut.set_result(result)


class AuditWriter(GroupCommit[AuditWrite, tuple[Entry, bool]]):
    """Group commit of audit entries: `append` returns once the entry is durable."""

    def __init__(self, store: AuditStore, max_batch: int = 1024) -> None:
        super().__init__(store.append_claimed, "audit writer", max_batch)

    async def append(self, record: AuditRecord) -> Entry:
        entry, _ = await self.submit(AuditWrite(record))
        return entry

    async def append_claimed(
        self, record: AuditRecord, nonce: NonceClaim | None, replayed: AuditRecord | None
    ) -> tuple[Entry, bool]:
        """Append `record` and claim `nonce` in one commit; False if the nonce was used (then
        `replayed` is what the log holds)."""
        return await self.submit(AuditWrite(record, nonce, replayed))
