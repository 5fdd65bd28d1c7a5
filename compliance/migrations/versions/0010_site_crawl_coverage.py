"""site crawl coverage

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sites", schema=None) as batch_op:
        # The last crawl's coverage counts (pages found vs crawled, images, videos, PDFs, refusals): no URLs.
        batch_op.add_column(sa.Column("crawl_coverage", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("crawled_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.drop_column("crawled_at")
        batch_op.drop_column("crawl_coverage")
