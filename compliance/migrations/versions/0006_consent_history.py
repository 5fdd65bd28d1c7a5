"""consent history: record kind, opt-out date, how the student was matched; basis of findings

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("consent_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=10), nullable=False, server_default="consent"))
        batch_op.add_column(sa.Column("opted_out_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("matched_by", sa.String(length=10), nullable=False, server_default="id"))
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("basis", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.drop_column("basis")
    with op.batch_alter_table("consent_records", schema=None) as batch_op:
        batch_op.drop_column("matched_by")
        batch_op.drop_column("opted_out_on")
        batch_op.drop_column("kind")
