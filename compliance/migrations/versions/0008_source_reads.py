"""source reads: last good read per input source, and held sources

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from compliance.models import UTCDateTime

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "source_reads",
        sa.Column("source", sa.String(length=500), nullable=False),
        sa.Column("job", sa.String(length=60), nullable=False),
        sa.Column("good_rows", sa.Integer(), nullable=True),
        sa.Column("good_sha256", sa.String(length=64), nullable=True),
        sa.Column("good_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("held_since", UTCDateTime(timezone=True), nullable=True),
        sa.Column("held_reason", sa.String(length=500), nullable=True),
        sa.Column("last_rows", sa.Integer(), nullable=False),
        sa.Column("checked_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_source_reads")),
    )


def downgrade() -> None:
    op.drop_table("source_reads")
