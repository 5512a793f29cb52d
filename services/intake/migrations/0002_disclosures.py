"""intake: case people and disclosures to partners.

Revision ID: intake_0002
Revises: intake_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "intake_0002"
down_revision = "intake_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_people",
        sa.Column("case_id", sa.String(36), primary_key=True),
        sa.Column("person_ref", sa.String(64), nullable=False, index=True),
    )
    op.create_table(
        "disclosures",
        sa.Column("handover_id", sa.String(36), primary_key=True),
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("partner_id", sa.String(100), nullable=False),
        sa.Column("shared_fields", sa.JSON, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("disclosures")
    op.drop_table("case_people")
