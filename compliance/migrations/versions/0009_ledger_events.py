"""ledger events: every compliance event hash-chained; anchors of the chain head kept outside the database

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from compliance.models import UTCDateTime

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ledger_events",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("event_key", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("finding_id", sa.Integer(), nullable=True),
        sa.Column("delivery_id", sa.Integer(), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("recorded_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_ledger_events")),
        sa.UniqueConstraint("event_key", name=op.f("uq_ledger_events_event_key")),
        sa.UniqueConstraint("hash", name=op.f("uq_ledger_events_hash")),
    )
    for column in ("kind", "person_id", "finding_id", "delivery_id"):
        op.create_index(op.f(f"ix_ledger_events_{column}"), "ledger_events", [column], unique=False)
    op.create_table(
        "ledger_anchors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("anchored_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("drive_file_id", sa.String(length=120), nullable=True),
        sa.Column("drive_revision_id", sa.String(length=120), nullable=True),
        sa.Column("key_id", sa.String(length=64), nullable=True),
        sa.Column("signature", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_anchors")),
    )
    op.create_index(op.f("ix_ledger_anchors_seq"), "ledger_anchors", ["seq"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_ledger_anchors_seq"), table_name="ledger_anchors")
    op.drop_table("ledger_anchors")
    for column in ("delivery_id", "finding_id", "person_id", "kind"):
        op.drop_index(op.f(f"ix_ledger_events_{column}"), table_name="ledger_events")
    op.drop_table("ledger_events")
