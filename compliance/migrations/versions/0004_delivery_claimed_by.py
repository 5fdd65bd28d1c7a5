"""delivery claimed_by (run lease), not_before (retry backoff), gmail_rfc822_id (Message-ID Gmail stored)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 10:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import compliance.models

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("gmail_rfc822_id", sa.String(length=300), nullable=True))
        batch_op.create_index(batch_op.f("ix_deliveries_gmail_rfc822_id"), ["gmail_rfc822_id"], unique=False)
        batch_op.add_column(sa.Column("not_before", compliance.models.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("not_before")
        batch_op.drop_index(batch_op.f("ix_deliveries_gmail_rfc822_id"))
        batch_op.drop_column("gmail_rfc822_id")
        batch_op.drop_column("claimed_by")
