"""The calendar budget (privacy_budget, 0003) gives way to accounts per data period (0005).

Revision ID: 0007
Revises: 0006

Its totals were charged per period of asking, which ADR 0009 retired: they say nothing about
the data periods a release read, so they cannot be carried over and are dropped.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("privacy_budget")


def downgrade() -> None:
    op.create_table(
        "privacy_budget",
        sa.Column("caller", sa.String(256), primary_key=True),
        sa.Column("purpose", sa.String(128), primary_key=True),
        sa.Column("period", sa.String(16), primary_key=True),
        sa.Column("spent", sa.Float(precision=53), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
    )
