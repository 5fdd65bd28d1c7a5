"""social media: accounts, items, findings by platform

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from compliance.models import UTCDateTime

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("findings", schema=None) as batch_op:
        # Every finding so far is a website's.
        batch_op.add_column(sa.Column("platform", sa.String(length=20), server_default="website", nullable=False))
        batch_op.create_index(batch_op.f("ix_findings_platform"), ["platform"], unique=False)
    op.create_table(
        "social_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=True),
        sa.Column("platform", sa.String(length=20), nullable=False),
        sa.Column("account", sa.String(length=500), nullable=False),
        sa.Column("resolved_id", sa.String(length=200), nullable=True),
        sa.Column("title", sa.String(length=500), nullable=True),
        sa.Column("audited_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("full_read_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("held_reason", sa.Text(), nullable=True),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_social_accounts_site_id_sites")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_social_accounts")),
        sa.UniqueConstraint("site_id", "platform", "account", name=op.f("uq_social_accounts_site_id_platform_account")),
    )
    op.create_index(op.f("ix_social_accounts_site_id"), "social_accounts", ["site_id"])
    op.create_table(
        "social_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=20), nullable=False),
        sa.Column("item_id", sa.String(length=200), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("version", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("first_seen_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["social_accounts.id"], name=op.f("fk_social_items_account_id_social_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_social_items")),
        sa.UniqueConstraint("account_id", "item_id", name=op.f("uq_social_items_account_id_item_id")),
    )
    op.create_index(op.f("ix_social_items_account_id"), "social_items", ["account_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_social_items_account_id"), table_name="social_items")
    op.drop_table("social_items")
    op.drop_index(op.f("ix_social_accounts_site_id"), table_name="social_accounts")
    op.drop_table("social_accounts")
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_findings_platform"))
        batch_op.drop_column("platform")
