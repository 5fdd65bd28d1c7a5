"""page links, image freshness, person role

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 16:20:35.331585
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import compliance.models

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("pages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("links", sa.JSON(), nullable=False, server_default="[]"))

    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.add_column(sa.Column("role", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("directory_id", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("other_site_ids", sa.JSON(), nullable=False, server_default="[]"))

    with op.batch_alter_table("photo_appearances", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fresh_until", compliance.models.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("photo_appearances", schema=None) as batch_op:
        batch_op.drop_column("fresh_until")

    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.drop_column("other_site_ids")
        batch_op.drop_column("directory_id")
        batch_op.drop_column("role")

    with op.batch_alter_table("pages", schema=None) as batch_op:
        batch_op.drop_column("links")
