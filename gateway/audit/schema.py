"""The audit store's schema: its tables, their column types, and how a store is brought to it.

The tables are declared here for the queries; their history is the Alembic migrations
(`migrations/versions`), which create and change them. `create_schema` runs the migrations
to the latest revision and writes the genesis head, on a connection that already holds the
store's write lock (the backend's `lock_schema`): several gateway processes may start at once.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    insert,
    select,
)
from sqlalchemy.engine import Dialect

from gateway.protocol.audit_entry import GENESIS
from gateway.protocol.audit_rows import INDEXED_COLUMNS


class Bytes(TypeDecorator[bytes]):
    """BLOB/bytea passed through as bytes: both drivers take and return bytes natively,
    and skipping SQLAlchemy's per-value conversion matters at tens of thousands of rows/s."""

    impl = LargeBinary
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> None:
        return None

    def result_processor(self, dialect: Dialect, coltype: object) -> None:
        return None


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


def create_schema(conn: Connection) -> None:
    """Bring the schema to the latest Alembic revision and write the genesis head and the
    empty leaf index, in the transaction of `conn` (which holds the write lock)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    config.attributes["connection"] = conn
    command.upgrade(config, "head")
    if conn.execute(select(head_table.c.id)).first() is None:
        conn.execute(insert(head_table).values(id=1, size=0, head_hash=GENESIS))
    if conn.execute(select(leaf_indexed_table.c.id)).first() is None:
        conn.execute(insert(leaf_indexed_table).values(id=1, size=0))
