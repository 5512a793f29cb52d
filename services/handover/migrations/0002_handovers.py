"""handover: partners, handovers, case references.

Revision ID: handover_0002
Revises: handover_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "handover_0002"
down_revision = "handover_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "partners",
        sa.Column("partner_id", sa.String(100), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("destinations", sa.JSON, nullable=False),
        sa.Column("provinces", sa.JSON, nullable=False),
        sa.Column("response_days", sa.Integer, nullable=False),
        sa.Column("deliver_stream", sa.Boolean, nullable=False),
        sa.Column("webhook_url", sa.String(500), nullable=True),
        sa.Column("webhook_secret", sa.String(200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "case_refs",
        sa.Column("case_id", sa.String(36), primary_key=True),
        sa.Column("province", sa.String(3), nullable=False),
        sa.Column("age_band", sa.String(5), nullable=False),
        sa.Column("registrant_org", sa.String(200), nullable=False),
        sa.Column("involved_orgs", sa.JSON, nullable=False),
        sa.Column("closed", sa.Boolean, nullable=False),
    )
    op.create_table(
        "handovers",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("case_id", sa.String(36), nullable=False, index=True),
        sa.Column("sender_org", sa.String(200), nullable=False, index=True),
        sa.Column("partner_id", sa.String(100), nullable=True, index=True),
        sa.Column("destination", sa.String(10), nullable=False),
        sa.Column("goal", sa.String(40), nullable=False),
        sa.Column("province", sa.String(3), nullable=False),
        sa.Column("age_band", sa.String(5), nullable=False),
        sa.Column("status", sa.String(20), nullable=False, index=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("consent_given_by", sa.String(20), nullable=True),
        sa.Column("consent_date", sa.Date, nullable=True),
        sa.Column("consent_valid_until", sa.Date, nullable=True),
        sa.Column("consent_partner_id", sa.String(100), nullable=True),
        sa.Column("shared_fields", sa.JSON, nullable=False),
        sa.Column("consent_withdrawn", sa.Boolean, nullable=False),
        sa.Column("offered_on", sa.Date, nullable=True),
        sa.Column("respond_by", sa.Date, nullable=True),
        sa.Column("decline_reason", sa.String(40), nullable=True),
        sa.Column("meeting_date", sa.Date, nullable=True),
        sa.Column("meeting_participants", sa.JSON, nullable=False),
        sa.Column("start_date", sa.Date, nullable=True),
        sa.Column("interrupt_reason", sa.String(40), nullable=True),
        sa.Column("proposed_on", sa.Date, nullable=False),
        sa.Column("accepted_on", sa.Date, nullable=True),
        sa.Column("started_on", sa.Date, nullable=True),
        sa.Column("ended_on", sa.Date, nullable=True),
        sa.Column("automatic", sa.Boolean, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_handovers_status_respond_by", "handovers", ["status", "respond_by"])


def downgrade() -> None:
    op.drop_table("handovers")
    op.drop_table("case_refs")
    op.drop_table("partners")
