"""cases: cases, involved organisations, outbox, inbox, audit log.

Revision ID: cases_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from shared.messaging.tables import create_platform_tables

revision = "cases_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_platform_tables()
    op.create_table(
        "cases",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("person_ref", sa.String(64), nullable=False, unique=True),
        sa.Column("birth_date", sa.Date, nullable=False),
        sa.Column("province", sa.String(3), nullable=False),
        sa.Column("municipality_nis", sa.String(5), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("registrant_org", sa.String(200), nullable=False),
        sa.Column("key_worker_org", sa.String(200), nullable=True),
        sa.Column("key_worker", sa.String(200), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "case_organisations",
        sa.Column("case_id", sa.String(36), sa.ForeignKey("cases.id"), primary_key=True),
        sa.Column("org", sa.String(200), primary_key=True),
        sa.Column("involvement", sa.String(30), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_case_organisations_org", "case_organisations", ["org", "case_id"])


def downgrade() -> None:
    op.drop_table("case_organisations")
    op.drop_table("cases")
