"""The audit log's store: append-only entries and the chain head, through SQLAlchemy.

SQLite is the embedded default, PostgreSQL the production store; both run this
code. Appends take the log's write lock (SQLite `BEGIN IMMEDIATE`, PostgreSQL
`SELECT ... FOR UPDATE` on the head row), read the head inside the locked
transaction, write the new entries and the new head, and commit: several
gateway processes can append to one log and the chain stays linear. A batch of
records is one transaction (group commit): one durable commit, many entries.

The head row (size and hash of the last entry) is written in the same
transaction as the entries, so removing the last entries is detected.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

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
    create_engine,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.pool import NullPool

from gateway.audit.entry import GENESIS, AuditRecord, Entry, seal
from gateway.errors import AuditIntegrityError

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
    Column("leaf", LargeBinary, nullable=False),
    Column("entry_hash", LargeBinary(32), nullable=False),
)

head_table = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("size", BigInteger, nullable=False),
    Column("head_hash", LargeBinary(32), nullable=False),
)

# Columns copied out of the leaf for querying; verification checks they agree with it.
INDEXED_COLUMNS = (
    "time",
    "kind",
    "request_id",
    "caller",
    "purpose",
    "dataset",
    "decision",
    "status",
    "row_count",
)


@dataclass(frozen=True)
class Head:
    size: int
    head_hash: bytes


@dataclass(frozen=True)
class StoredEntry:
    entry: Entry
    columns: dict[str, Any]


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        # Autocommit at the driver level so that `begin` below controls transactions.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")  # durable at commit
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        # Take the write lock at BEGIN, so reading the head and appending are one step.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


class AuditStore:
    """Append-only audit entries in a SQLAlchemy database."""

    def __init__(self, url: str) -> None:
        self.url = url
        sqlite = url.startswith("sqlite")
        self.engine = create_engine(url, poolclass=NullPool) if sqlite else create_engine(url)
        if sqlite:
            _sqlite_pragmas(self.engine)
        self.dialect = self.engine.dialect.name

    def create(self) -> None:
        metadata.create_all(self.engine)
        with self.engine.begin() as conn:
            if conn.execute(select(head_table.c.id)).first() is None:
                conn.execute(insert(head_table).values(id=1, size=0, head_hash=GENESIS))

    def close(self) -> None:
        self.engine.dispose()

    def _locked_head(self, conn: Connection) -> Head:
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
        with self.engine.begin() as conn:
            head = self._locked_head(conn)
            entries: list[Entry] = []
            rows: list[dict[str, Any]] = []
            prev = head.head_hash
            for i, record in enumerate(records):
                entry = seal(record, head.size + i, prev)
                prev = entry.entry_hash
                entries.append(entry)
                body = record.body()
                rows.append(
                    {"idx": entry.index, "leaf": entry.leaf, "entry_hash": entry.entry_hash}
                    | {c: body[c] for c in INDEXED_COLUMNS}
                )
            conn.execute(insert(entries_table), rows)
            conn.execute(
                update(head_table)
                .where(head_table.c.id == 1)
                .values(size=head.size + len(records), head_hash=prev)
            )
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

    def scan(self, batch: int = 10_000) -> Iterator[StoredEntry]:
        """Every stored row in physical index order, for verification."""
        cols = [entries_table.c[c] for c in INDEXED_COLUMNS]
        with self.engine.connect() as conn:
            result = conn.execution_options(yield_per=batch).execute(
                select(
                    entries_table.c.idx, entries_table.c.leaf, entries_table.c.entry_hash, *cols
                ).order_by(entries_table.c.idx)
            )
            for r in result:
                yield StoredEntry(
                    Entry(int(r.idx), bytes(r.leaf), bytes(r.entry_hash)),
                    {c: getattr(r, c) for c in INDEXED_COLUMNS},
                )


class AuditWriter:
    """Group commit for one gateway process: concurrent appends share one transaction.

    `append` returns only after the entry is durably committed; if the commit
    fails, every waiting request fails with it, so nothing is released unlogged.
    """

    def __init__(self, store: AuditStore, max_batch: int = 1024) -> None:
        self._store = store
        self._max_batch = max_batch
        self._pending: list[tuple[AuditRecord, asyncio.Future[Entry]]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="audit-writer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for _, fut in self._pending:
            if not fut.done():
                fut.set_exception(AuditIntegrityError("audit writer stopped before commit"))
        self._pending.clear()

    async def append(self, record: AuditRecord) -> Entry:
        fut: asyncio.Future[Entry] = asyncio.get_running_loop().create_future()
        self._pending.append((record, fut))
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
                    entries = await asyncio.to_thread(self._store.append, [r for r, _ in batch])
                except Exception as e:
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(AuditIntegrityError(f"audit append failed: {e}"))
                    continue
                for (_, fut), entry in zip(batch, entries, strict=True):
                    if not fut.done():
                        fut.set_result(entry)
