"""The audit store on SQLite, the embedded default: the SQLite side of every dialect branch.

The write lock is the transaction's `BEGIN IMMEDIATE`: a connection of the store's
`write_engine` (execution option `WRITE_LOCK`) begins with it, so reading the head and
appending are one step, and every other transaction is a deferred read that blocks no writer
(WAL mode). The hot statements (the head, the tree nodes an append reads, the claims of replay
nonces, the rows an append writes) go through the sqlite3 driver in the transaction of the
SQLAlchemy connection: SQLAlchemy's execution cost several times SQLite's own work on them
(BENCHMARKS.md, the profile of issue 12). Statements are this module's constants or built
from the schema's names; values are always bound.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final

from sqlalchemy import Connection, Engine, Select, Table, create_engine, event

from gateway.audit.schema import details_table
from gateway.errors import AuditIntegrityError
from gateway.protocol.audit_rows import Head
from gateway.tlog.subtrees import NodeKey

# The execution option that marks a write transaction: on SQLite it begins with
# BEGIN IMMEDIATE (the write lock); every other transaction is a deferred read.
WRITE_LOCK: Final = "gerbang_write_lock"

# Nonces per INSERT statement of a claim: 3 bound values each, well inside SQLite's
# 32,766 bound variables.
NONCE_PAGE: Final = 1000


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


class SQLiteBackend:
    """The SQLite branches of the audit store (`gateway.audit.backend.StoreBackend`)."""

    name: Final = "sqlite"

    def create_engine(self, url: str) -> Engine:
        # Pooled connections: opening one per commit re-ran the PRAGMAs and checkpointed
        # the WAL every time (profiled at ~3 ms per commit, BENCHMARKS.md finding 3).
        engine = create_engine(url, connect_args={"check_same_thread": False}, pool_size=4)
        _sqlite_pragmas(engine)
        return engine

    def lock_schema(self, conn: Connection) -> None:
        """Nothing to add: the write transaction's BEGIN IMMEDIATE is the lock."""

    def locked_head(self, conn: Connection) -> Head:
        # the lock is the transaction's BEGIN IMMEDIATE
        found = _sqlite_rows(conn, "SELECT size, head_hash FROM audit_head WHERE id = 1")
        if not found:
            raise AuditIntegrityError("audit log has no head row; was it created with `create()`?")
        return Head(int(found[0][0]), bytes(found[0][1]))

    def read_nodes(self, conn: Connection, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        # The same SELECT through the driver: every append runs it (_sqlite_rows).
        pairs = " OR ".join(["(level = ? AND idx = ?)"] * len(keys))
        found = _sqlite_rows(
            conn,
            f"SELECT level, idx, hash FROM audit_tree WHERE {pairs}",  # noqa: S608
            [v for key in keys for v in key],
        )
        return {(int(lv), int(i)): bytes(h) for lv, i, h in found}

    def insert_rows(
        self,
        conn: Connection,
        table: Table,
        columns: Sequence[str],
        rows: Iterable[tuple[Any, ...]],
    ) -> None:
        names = ", ".join(columns)
        driver: Any = conn.connection.driver_connection  # sqlite3
        cur = driver.cursor()
        try:
            marks = ", ".join("?" * len(columns))
            # Names are this module's constants, values are bound: no injection.
            insert_sql = f"INSERT INTO {table.name} ({names}) VALUES ({marks})"  # noqa: S608
            cur.executemany(insert_sql, rows)
        finally:
            cur.close()

    def insert_details(self, conn: Connection, sealed: Sequence[dict[str, Any]]) -> None:
        self.insert_rows(
            conn,
            details_table,
            ("idx", "recipient", "blob", "expires_at"),
            (tuple(d.values()) for d in sealed),
        )

    def update_head(self, conn: Connection, size: int, head_hash: bytes) -> None:
        _sqlite_rows(
            conn,
            "UPDATE audit_head SET size = ?, head_hash = ? WHERE id = 1",
            (size, head_hash),
        )

    def claim_nonces(
        self, conn: Connection, keys: Sequence[tuple[tuple[str, str], str]], now: str
    ) -> set[tuple[str, str]]:
        """Prune expired nonces, then claim `keys` ((caller, nonce), expiry) through the
        driver: the same DELETE and `INSERT ... ON CONFLICT DO NOTHING RETURNING` as on
        PostgreSQL, in pages. Returns the (caller, nonce) pairs that were new."""
        _sqlite_rows(conn, "DELETE FROM request_nonces WHERE expires_at < ?", (now,))
        new: set[tuple[str, str]] = set()
        for start in range(0, len(keys), NONCE_PAGE):
            page = keys[start : start + NONCE_PAGE]
            values = ", ".join(["(?, ?, ?)"] * len(page))
            rows = _sqlite_rows(
                conn,
                "INSERT INTO request_nonces (caller, nonce, expires_at) "  # noqa: S608
                f"VALUES {values} ON CONFLICT DO NOTHING RETURNING caller, nonce",
                [v for (caller, nonce), e in page for v in (caller, nonce, e)],
            )
            new.update((str(c), str(n)) for c, n in rows)
        return new

    def for_update(self, stmt: Select[Any]) -> Select[Any]:
        """The statement as it is: the write transaction's BEGIN IMMEDIATE is the lock."""
        return stmt

    def scan_cursor(self, conn: Connection, name: str) -> Any:
        """A driver cursor for a scan in index order (SQLite reads the snapshot in pages)."""
        driver: Any = conn.connection.driver_connection  # sqlite3
        return driver.cursor()
