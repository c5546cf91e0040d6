"""The audit store on PostgreSQL, the production store: the PostgreSQL side of every dialect branch.

The write lock is a row lock on the head (`SELECT ... FOR UPDATE`), taken by every append;
what is not under the head takes a transaction-scoped advisory lock of its own, named below
(the keys are arbitrary but fixed: every gateway process sharing the database must use the
same ones). Rows an append writes stream in with binary COPY; scans read a server-side
cursor, so that a large log is never all in memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    Integer,
    Select,
    String,
    Table,
    and_,
    create_engine,
    delete,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert

from gateway.audit.schema import Bytes, details_table, head_table, nonces_table, tree_table
from gateway.errors import AuditIntegrityError
from gateway.protocol.audit_rows import Head
from gateway.tlog.subtrees import NodeKey

# Advisory lock keys (pg_advisory_xact_lock), one per thing serialised outside the head row.
# Migrations at startup: several gateway processes may create the schema at once.
MIGRATION_LOCK: Final = 727274
# Claims of replay nonces (`gateway.audit.nonces`), alone or in an append's transaction.
NONCE_LOCK: Final = 727275
# Charges of the privacy budget (`gateway.audit.releases.ReleaseLedger.charge`).
RELEASE_LOCK: Final = 727277

# Nonces per INSERT statement of a claim: 3 bound values each, well inside PostgreSQL's
# 65,535 bound parameters.
NONCE_PAGE: Final = 1000

# PostgreSQL's binary COPY format of each column type `append` writes.
_PG_COPY_TYPES: dict[type[Any], str] = {
    BigInteger: "int8",
    Integer: "int4",
    String: "text",
    Bytes: "bytea",
}


class PostgreSQLBackend:
    """The PostgreSQL branches of the audit store (`gateway.audit.backend.StoreBackend`)."""

    name: Final = "postgresql"

    def create_engine(self, url: str) -> Engine:
        return create_engine(url)

    def lock_schema(self, conn: Connection) -> None:
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")

    def locked_head(self, conn: Connection) -> Head:
        stmt = select(head_table.c.size, head_table.c.head_hash).where(head_table.c.id == 1)
        stmt = stmt.with_for_update()
        row = conn.execute(stmt).first()
        if row is None:
            raise AuditIntegrityError("audit log has no head row; was it created with `create()`?")
        return Head(int(row.size), bytes(row.head_hash))

    def read_nodes(self, conn: Connection, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        c = tree_table.c
        rows = conn.execute(
            select(c.level, c.idx, c.hash).where(
                or_(*(and_(c.level == level, c.idx == idx) for level, idx in keys))
            )
        )
        return {(int(r.level), int(r.idx)): bytes(r.hash) for r in rows}

    def insert_rows(
        self,
        conn: Connection,
        table: Table,
        columns: Sequence[str],
        rows: Iterable[tuple[Any, ...]],
    ) -> None:
        names = ", ".join(columns)
        driver: Any = conn.connection.driver_connection  # psycopg
        # COPY streams: the server inserts while the rows are still being produced.
        with (
            driver.cursor() as cur,
            cur.copy(f"COPY {table.name} ({names}) FROM STDIN (FORMAT BINARY)") as copy,
        ):
            copy.set_types([_PG_COPY_TYPES[type(table.c[c].type)] for c in columns])
            for row in rows:
                copy.write_row(row)

    def insert_details(self, conn: Connection, sealed: Sequence[dict[str, Any]]) -> None:
        conn.execute(insert(details_table), sealed)

    def update_head(self, conn: Connection, size: int, head_hash: bytes) -> None:
        conn.execute(
            update(head_table).where(head_table.c.id == 1).values(size=size, head_hash=head_hash)
        )

    def claim_nonces(
        self, conn: Connection, keys: Sequence[tuple[tuple[str, str], str]], now: str
    ) -> set[tuple[str, str]]:
        """Prune expired nonces, then claim `keys` ((caller, nonce), expiry) with
        `INSERT ... ON CONFLICT DO NOTHING RETURNING`, in pages, under `NONCE_LOCK`.
        Returns the (caller, nonce) pairs that were new."""
        c = nonces_table.c
        claim = pg_insert(nonces_table).on_conflict_do_nothing().returning(c.caller, c.nonce)
        new: set[tuple[str, str]] = set()
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({NONCE_LOCK})")
        conn.execute(delete(nonces_table).where(c.expires_at < now))
        for start in range(0, len(keys), NONCE_PAGE):
            page = keys[start : start + NONCE_PAGE]
            rows = conn.execute(
                claim.values([{"caller": k[0], "nonce": k[1], "expires_at": e} for k, e in page])
            )
            new.update((r.caller, r.nonce) for r in rows)
        return new

    def for_update(self, stmt: Select[Any]) -> Select[Any]:
        """The statement locking the rows it reads (`SELECT ... FOR UPDATE`)."""
        return stmt.with_for_update()

    def scan_cursor(self, conn: Connection, name: str) -> Any:
        """A server-side cursor named `name`, so that a large log is never all in memory."""
        driver: Any = conn.connection.driver_connection  # psycopg
        return driver.cursor(name)
