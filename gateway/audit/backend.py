"""What the audit store asks of a SQL dialect, and which dialect a database URL gets.

The store's queries are one code path; where SQLite and PostgreSQL must differ (how the write
lock is taken, how rows are bulk-inserted, how the hot reads run, how scans stream), the store
calls its backend: `gateway.audit.sqlite` or `gateway.audit.postgresql`. Any other database
is refused: the store has been measured and tested on these two only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, Select, Table
from sqlalchemy.engine import make_url

from gateway.audit.postgresql import PostgreSQLBackend
from gateway.audit.sqlite import SQLiteBackend
from gateway.errors import ConfigurationError
from gateway.protocol.audit_rows import Head
from gateway.tlog.subtrees import NodeKey


class StoreBackend(Protocol):
    """One SQL dialect's side of the audit store; every method runs in the caller's transaction."""

    @property
    def name(self) -> str:
        """SQLAlchemy's name of the dialect: "sqlite" or "postgresql"."""
        ...

    def create_engine(self, url: str) -> Engine:
        """The engine, configured for this dialect (pool, pragmas, transaction begin)."""
        ...

    def lock_schema(self, conn: Connection) -> None:
        """Serialise migrations between processes, in a write transaction."""
        ...

    def locked_head(self, conn: Connection) -> Head:
        """The head, read under the log's write lock; raises if the log has none."""
        ...

    def read_nodes(self, conn: Connection, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        """The stored subtree hashes of `keys` (not empty), in one SELECT."""
        ...

    def insert_rows(
        self,
        conn: Connection,
        table: Table,
        columns: Sequence[str],
        rows: Iterable[tuple[Any, ...]],
    ) -> None:
        """Insert plain tuples through the driver.

        At tens of thousands of rows per second SQLAlchemy's per-row parameter handling
        cost more than the database's own work; tuples go to the driver as they are.
        """
        ...

    def insert_details(self, conn: Connection, sealed: Sequence[dict[str, Any]]) -> None:
        """Insert sealed-detail rows (idx, recipient, blob, expires_at)."""
        ...

    def update_head(self, conn: Connection, size: int, head_hash: bytes) -> None:
        """Write the new head, in the transaction that wrote its entries."""
        ...

    def claim_nonces(
        self, conn: Connection, keys: Sequence[tuple[tuple[str, str], str]], now: str
    ) -> set[tuple[str, str]]:
        """Prune nonces expired before `now`, claim ((caller, nonce), expiry) `keys`, and
        return the pairs that were not claimed before."""
        ...

    def for_update(self, stmt: Select[Any]) -> Select[Any]:
        """`stmt`, locking what it reads where the dialect needs a row lock for that."""
        ...

    def scan_cursor(self, conn: Connection, name: str) -> Any:
        """A driver cursor for a long scan (`name` names a server-side cursor)."""
        ...


def backend_for(url: str) -> StoreBackend:
    """The backend of a SQLAlchemy database URL; raises `ConfigurationError` for any other."""
    if url.startswith("sqlite"):
        return SQLiteBackend()
    if make_url(url).get_backend_name() == "postgresql":
        return PostgreSQLBackend()
    raise ConfigurationError(
        f"the audit store runs on SQLite or PostgreSQL only, not {make_url(url).drivername!r}"
    )
