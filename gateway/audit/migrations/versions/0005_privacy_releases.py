"""Privacy accounts per data period, and the releases held (issue 11, ADR 0009).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "privacy_accounts",
        sa.Column("caller", sa.String(256), primary_key=True),
        sa.Column("purpose", sa.String(128), primary_key=True),
        sa.Column("period", sa.String(16), primary_key=True),
        sa.Column("spent", sa.Float(precision=53), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "privacy_releases",
        sa.Column("release_id", sa.String(64), primary_key=True),
        sa.Column("purpose", sa.String(128), nullable=False),
        sa.Column("first_caller", sa.String(256), nullable=False),
        sa.Column("epsilon", sa.Float(precision=53), nullable=False),
        sa.Column("held_until", sa.String(32), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("privacy_releases")
    op.drop_table("privacy_accounts")
