"""page text, finding kind and channel

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("pages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("text", sa.Text(), nullable=True))
    with op.batch_alter_table("findings", schema=None) as batch_op:
        # Findings before this revision were all photos; their channel is unknown (the evidence says it).
        batch_op.add_column(sa.Column("kind", sa.String(length=10), nullable=False, server_default="photo"))
        batch_op.add_column(sa.Column("channel", sa.String(length=40), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.drop_column("channel")
        batch_op.drop_column("kind")
    with op.batch_alter_table("pages", schema=None) as batch_op:
        batch_op.drop_column("text")
