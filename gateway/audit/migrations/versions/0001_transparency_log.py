"""The audit log as a transparency log: entries, head, Merkle tree, checkpoints, details.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gateway.audit.schema import Bytes

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_entries",
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("time", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("caller", sa.String(256), nullable=False),
        sa.Column("purpose", sa.String(128), nullable=False),
        sa.Column("dataset", sa.String(128), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("row_count", sa.BigInteger, nullable=False),
        sa.Column("leaf", Bytes, nullable=False),
        sa.Column("entry_hash", Bytes(32), nullable=False),
        sa.Column("leaf_hash", Bytes(32), nullable=False),
    )
    op.create_index("ix_audit_entries_leaf_hash", "audit_entries", ["leaf_hash"])
    op.create_table(
        "audit_tree",
        sa.Column("level", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("hash", Bytes(32), nullable=False),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("root_hash", Bytes(32), nullable=False),
        sa.Column("note", Bytes, nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "audit_cosignatures",
        sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("witness", sa.String(256), primary_key=True),
        sa.Column("line", sa.String(512), nullable=False),
    )
    op.create_table(
        "audit_details",
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("recipient", sa.String(64), nullable=False),
        sa.Column("blob", Bytes, nullable=False),
        sa.Column("expires_at", sa.String(32), nullable=False),
    )
    op.create_index("ix_audit_details_expires_at", "audit_details", ["expires_at"])
    op.create_table(
        "audit_meta",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(1024), nullable=False),
    )
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("head_hash", Bytes(32), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "audit_head",
        "audit_meta",
        "audit_details",
        "audit_cosignatures",
        "audit_checkpoints",
        "audit_tree",
        "audit_entries",
    ):
        op.drop_table(table)
