"""mailbox quota use shared by every sending process; site audits of a nightly run

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from compliance.models import UTCDateTime

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mailbox_quota_use",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mailbox", sa.String(length=320), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("started_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mailbox_quota_use")),
    )
    op.create_index("ix_mailbox_quota_use_mailbox_started_at", "mailbox_quota_use", ["mailbox", "started_at"])
    op.create_table(
        "site_audits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("night", sa.String(length=64), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("crawl", sa.JSON(), nullable=False),
        sa.Column("photos", sa.JSON(), nullable=False),
        sa.Column("audited_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_site_audits")),
        sa.UniqueConstraint("night", "site_id", name=op.f("uq_site_audits_night_site_id")),
    )


def downgrade() -> None:
    op.drop_table("site_audits")
    op.drop_index("ix_mailbox_quota_use_mailbox_started_at", table_name="mailbox_quota_use")
    op.drop_table("mailbox_quota_use")
