"""incident and complaint cases, their checklist steps and timeline

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from compliance.models import UTCDateTime

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "incident_cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_ref", sa.String(length=40), nullable=False),
        sa.Column("form_id", sa.String(length=120), nullable=False),
        sa.Column("response_id", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("owner", sa.String(length=320), nullable=False),
        sa.Column("owner_reason", sa.String(length=400), nullable=False),
        sa.Column("against_administrator", sa.Boolean(), nullable=False),
        sa.Column("administrator", sa.String(length=320), nullable=True),
        sa.Column("agency", sa.String(length=200), nullable=True),
        sa.Column("reporter_role", sa.String(length=60), nullable=False),
        sa.Column("reporter_contact", sa.String(length=400), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("posting_url", sa.Text(), nullable=True),
        sa.Column("platform", sa.Text(), nullable=True),
        sa.Column("happened", sa.Text(), nullable=True),
        sa.Column("involved", sa.Text(), nullable=True),
        sa.Column("involved_person_ids", sa.JSON(), nullable=False),
        sa.Column("input_notes", sa.JSON(), nullable=False),
        sa.Column("reported_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_action_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_cases")),
        sa.UniqueConstraint("case_ref", name=op.f("uq_incident_cases_case_ref")),
        sa.UniqueConstraint("form_id", "response_id", name=op.f("uq_incident_cases_form_id_response_id")),
    )
    op.create_index(op.f("ix_incident_cases_category"), "incident_cases", ["category"])
    op.create_index(op.f("ix_incident_cases_site_id"), "incident_cases", ["site_id"])
    op.create_index(op.f("ix_incident_cases_status"), "incident_cases", ["status"])
    op.create_table(
        "incident_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=40), nullable=False),
        sa.Column("due_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("done_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("done_by", sa.String(length=320), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["incident_cases.id"], name=op.f("fk_incident_steps_case_id_incident_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_steps")),
        sa.UniqueConstraint("case_id", "step", name=op.f("uq_incident_steps_case_id_step")),
    )
    op.create_index(op.f("ix_incident_steps_case_id"), "incident_steps", ["case_id"])
    op.create_table(
        "incident_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=320), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["incident_cases.id"], name=op.f("fk_incident_actions_case_id_incident_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_actions")),
    )
    op.create_index(op.f("ix_incident_actions_case_id"), "incident_actions", ["case_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_incident_actions_case_id"), table_name="incident_actions")
    op.drop_table("incident_actions")
    op.drop_index(op.f("ix_incident_steps_case_id"), table_name="incident_steps")
    op.drop_table("incident_steps")
    op.drop_index(op.f("ix_incident_cases_status"), table_name="incident_cases")
    op.drop_index(op.f("ix_incident_cases_site_id"), table_name="incident_cases")
    op.drop_index(op.f("ix_incident_cases_category"), table_name="incident_cases")
    op.drop_table("incident_cases")
