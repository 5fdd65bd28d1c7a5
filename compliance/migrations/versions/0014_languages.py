"""every person in their language: SIS home language and guardian contact, policy translations, the language
an acknowledgement was read in

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("students", schema=None) as batch_op:
        # The SIS home language, and the guardian contact it belongs to (parents on committees are matched by it).
        batch_op.add_column(sa.Column("home_language", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("guardian_email", sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column("guardian_phone", sa.String(length=40), nullable=True))
    with op.batch_alter_table("people", schema=None) as batch_op:
        # Where preferred_language came from (directory, the list's column, the SIS); empty: nobody said.
        batch_op.add_column(sa.Column("language_source", sa.String(length=300), nullable=False, server_default=""))
    with op.batch_alter_table("policy_versions", schema=None) as batch_op:
        # {"es": {"drive_file_id", "revision_id", "sha256", "pdf_file_id"}}: the version's text in other languages.
        batch_op.add_column(sa.Column("translations", sa.JSON(), nullable=True))
    with op.batch_alter_table("acknowledgements", schema=None) as batch_op:
        batch_op.add_column(sa.Column("language", sa.String(length=8), nullable=False, server_default="en"))


def downgrade() -> None:
    with op.batch_alter_table("acknowledgements", schema=None) as batch_op:
        batch_op.drop_column("language")
    with op.batch_alter_table("policy_versions", schema=None) as batch_op:
        batch_op.drop_column("translations")
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.drop_column("language_source")
    with op.batch_alter_table("students", schema=None) as batch_op:
        batch_op.drop_column("guardian_phone")
        batch_op.drop_column("guardian_email")
        batch_op.drop_column("home_language")
