"""signals: past government answers, kept when a resolved signal is raised again.

Revision ID: signals_0003
Revises: signals_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "signals_0003"
down_revision = "signals_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signal_response_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("signal_id", sa.String(36), nullable=False, index=True),
        sa.Column("raised_on", sa.Date, nullable=False),
        sa.Column("resolved_on", sa.Date, nullable=True),
        sa.Column("acknowledged_on", sa.Date, nullable=True),
        sa.Column("acknowledged_by", sa.String(200), nullable=True),
        sa.Column("response", sa.String(10), nullable=True),
        sa.Column("response_text", sa.Text, nullable=True),
        sa.Column("responded_on", sa.Date, nullable=True),
        sa.Column("responded_by", sa.String(200), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("signal_response_history")
