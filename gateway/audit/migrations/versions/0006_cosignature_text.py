"""Cosignature lines become text: an ML-DSA-44 cosignature line is about 3,300 characters.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_cosignatures") as batch:
        batch.alter_column("line", type_=sa.Text, existing_type=sa.String(512))


def downgrade() -> None:
    with op.batch_alter_table("audit_cosignatures") as batch:
        batch.alter_column("line", type_=sa.String(512), existing_type=sa.Text)
