"""cases: the state of each handover of a case (from handover events).

Revision ID: cases_0003
Revises: cases_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "cases_0003"
down_revision = "cases_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_handovers",
        sa.Column("handover_id", sa.String(36), primary_key=True),
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
    )
    op.create_index("ix_case_handovers_case_id", "case_handovers", ["case_id", "status"])


def downgrade() -> None:
    op.drop_table("case_handovers")
