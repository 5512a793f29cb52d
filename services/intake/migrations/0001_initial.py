"""intake: registrations, idempotency keys, outbox, inbox, audit log.

Revision ID: intake_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from shared.messaging.tables import create_platform_tables

revision = "intake_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_platform_tables()
    op.create_table(
        "registrations",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("person_ref", sa.String(64), nullable=False, index=True),
        sa.Column("registrant_org", sa.String(200), nullable=False),
        sa.Column("registered_by", sa.String(200), nullable=False),
        sa.Column("national_id", sa.String(11), nullable=True),
        sa.Column("given_name", sa.String(100), nullable=False),
        sa.Column("family_name", sa.String(100), nullable=False),
        sa.Column("birth_date", sa.Date, nullable=False),
        sa.Column("province", sa.String(3), nullable=False),
        sa.Column("municipality_nis", sa.String(5), nullable=False),
        sa.Column("school_level", sa.String(20), nullable=False),
        sa.Column("reasons", sa.JSON, nullable=False),
        sa.Column("domains", sa.JSON, nullable=False),
        sa.Column("urgency", sa.String(10), nullable=False),
        sa.Column("consent_given_by", sa.String(20), nullable=True),
        sa.Column("consent_date", sa.Date, nullable=True),
        sa.Column("summary", sa.Text, nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("org", sa.String(200), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("registration_id", sa.String(36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    op.drop_table("registrations")
