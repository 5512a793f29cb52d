"""handover: the partners that declined a handover; claims and owed dead letters of webhooks.

Revision ID: handover_0004
Revises: handover_0003
"""

import sqlalchemy as sa
from alembic import op

revision = "handover_0004"
down_revision = "handover_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("handovers") as batch:
        batch.add_column(
            sa.Column("declined_by", sa.JSON, nullable=False, server_default=sa.text("'[]'"))
        )
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.add_column(sa.Column("claim", sa.String(36), nullable=True))
        batch.add_column(sa.Column("dead_lettered_at", sa.DateTime(timezone=True), nullable=True))
    # Rows given up before this revision had their dead letter written inside the give-up.
    op.execute(
        "UPDATE webhook_deliveries SET dead_lettered_at = next_attempt_at WHERE status = 'dead'"
    )


def downgrade() -> None:
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.drop_column("dead_lettered_at")
        batch.drop_column("claim")
    with op.batch_alter_table("handovers") as batch:
        batch.drop_column("declined_by")
