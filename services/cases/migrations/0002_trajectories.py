"""cases: episodes, breaks, timeline, and the blocked state of a case.

Revision ID: cases_0002
Revises: cases_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "cases_0002"
down_revision = "cases_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("blockers", sa.JSON, nullable=False, server_default="[]"))
        batch.add_column(sa.Column("blocked_domains", sa.JSON, nullable=False, server_default="[]"))
        batch.add_column(sa.Column("routes_tried", sa.JSON, nullable=False, server_default="[]"))
        batch.add_column(sa.Column("block_note", sa.Text, nullable=True))
        batch.add_column(sa.Column("blocked_on", sa.Date, nullable=True))
        batch.add_column(sa.Column("closed_on", sa.Date, nullable=True))
    op.create_index("ix_cases_status_id", "cases", ["status", "id"])
    op.create_index("ix_cases_province", "cases", ["province"])
    op.create_table(
        "episodes",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("case_id", sa.String(36), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("domain", sa.String(20), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("provider_org", sa.String(200), nullable=False),
        sa.Column("start_date", sa.Date, nullable=False),
        sa.Column("planned_end_date", sa.Date, nullable=True),
        sa.Column("end_date", sa.Date, nullable=True),
        sa.Column("outcome", sa.String(40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_episodes_case_id", "episodes", ["case_id", "start_date"])
    op.create_table(
        "breaks",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("case_id", sa.String(36), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("rule", sa.String(40), nullable=False),
        sa.Column("severity", sa.String(10), nullable=False),
        sa.Column("domain", sa.String(20), nullable=True),
        sa.Column("episode_ids", sa.JSON, nullable=False),
        sa.Column("opened_on", sa.Date, nullable=False),
        sa.Column("resolved_on", sa.Date, nullable=True),
        sa.Column("resolved_by", sa.String(40), nullable=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.UniqueConstraint("case_id", "key", name="uq_breaks_case_key"),
    )
    op.create_index("ix_breaks_case_status", "breaks", ["case_id", "status"])
    op.create_table(
        "timeline",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(36), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_sub", sa.String(200), nullable=False),
        sa.Column("actor_org", sa.String(200), nullable=False),
        sa.Column("change", sa.String(40), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    op.create_index("ix_timeline_case_id", "timeline", ["case_id", "id"])


def downgrade() -> None:
    op.drop_table("timeline")
    op.drop_table("breaks")
    op.drop_table("episodes")
    op.drop_index("ix_cases_province", "cases")
    op.drop_index("ix_cases_status_id", "cases")
    with op.batch_alter_table("cases") as batch:
        for column in (
            "closed_on",
            "blocked_on",
            "block_note",
            "routes_tried",
            "blocked_domains",
            "blockers",
        ):
            batch.drop_column(column)
