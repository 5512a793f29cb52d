"""signals: blocked periods, case involvement, signals, responses.

Revision ID: signals_0002
Revises: signals_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "signals_0002"
down_revision = "signals_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "blocked_periods",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(36), nullable=False, index=True),
        sa.Column("province", sa.String(3), nullable=False),
        sa.Column("age_band", sa.String(5), nullable=False),
        sa.Column("blockers", sa.JSON, nullable=False),
        sa.Column("domains", sa.JSON, nullable=False),
        sa.Column("refusals", sa.JSON, nullable=False),
        sa.Column("blocked_on", sa.Date, nullable=False),
        sa.Column("unblocked_on", sa.Date, nullable=True),
    )
    op.create_table(
        "case_involvement",
        sa.Column("case_id", sa.String(36), primary_key=True),
        sa.Column("orgs", sa.JSON, nullable=False),
    )
    op.create_table(
        "signals",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("province", sa.String(3), nullable=False),
        sa.Column("blocker", sa.String(30), nullable=False),
        sa.Column("domain", sa.String(20), nullable=False),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("sector", sa.String(10), nullable=False),
        sa.Column("open", sa.Boolean, nullable=False, index=True),
        sa.Column("case_count", sa.Integer, nullable=True),
        sa.Column("previous_count", sa.Integer, nullable=True),
        sa.Column("trend", sa.String(10), nullable=True),
        sa.Column("median_days_blocked", sa.Float, nullable=True),
        sa.Column("age_bands", sa.JSON, nullable=False),
        sa.Column("refusals_by_provider_kind", sa.JSON, nullable=False),
        sa.Column("raised_on", sa.Date, nullable=False),
        sa.Column("resolved_on", sa.Date, nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "signal_responses",
        sa.Column("signal_id", sa.String(36), primary_key=True),
        sa.Column("acknowledged_on", sa.Date, nullable=True),
        sa.Column("acknowledged_by", sa.String(200), nullable=True),
        sa.Column("response", sa.String(10), nullable=True),
        sa.Column("response_text", sa.Text, nullable=True),
        sa.Column("responded_on", sa.Date, nullable=True),
        sa.Column("responded_by", sa.String(200), nullable=True),
    )


def downgrade() -> None:
    for table in ("signal_responses", "signals", "case_involvement", "blocked_periods"):
        op.drop_table(table)
