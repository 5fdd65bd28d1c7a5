"""delivery context and recipients

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 16:27:50.827640
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recipients", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("context", sa.JSON(), nullable=False, server_default="{}"))
        batch_op.add_column(sa.Column("site_id", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_deliveries_site_id"), ["site_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deliveries_site_id"))
        batch_op.drop_column("site_id")
        batch_op.drop_column("context")
        batch_op.drop_column("recipients")
