"""The leaf-hash index moves out of the append path into its own table, built in batches.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gateway.audit.schema import Bytes

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_leaf_index",
        sa.Column("leaf_hash", Bytes(32), primary_key=True),
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
    )
    op.create_table(
        "audit_leaf_indexed",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("size", sa.BigInteger, nullable=False),
    )
    # Everything already logged is indexed now, as the dropped index did.
    op.execute(
        "INSERT INTO audit_leaf_index (leaf_hash, idx) SELECT leaf_hash, idx FROM audit_entries"
    )
    op.execute("INSERT INTO audit_leaf_indexed (id, size) SELECT 1, count(*) FROM audit_entries")
    op.drop_index("ix_audit_entries_leaf_hash", table_name="audit_entries")


def downgrade() -> None:
    op.create_index("ix_audit_entries_leaf_hash", "audit_entries", ["leaf_hash"])
    op.drop_table("audit_leaf_indexed")
    op.drop_table("audit_leaf_index")
