"""The replay cache of signed requests' nonces.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "request_nonces",
        sa.Column("caller", sa.String(256), primary_key=True),
        sa.Column("nonce", sa.String(128), primary_key=True),
        sa.Column("expires_at", sa.String(32), nullable=False),
    )
    op.create_index("ix_request_nonces_expires_at", "request_nonces", ["expires_at"])


def downgrade() -> None:
    op.drop_table("request_nonces")
