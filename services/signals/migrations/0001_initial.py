"""signals: outbox, inbox, audit log.

Revision ID: signals_0001
Revises:
"""

from shared.messaging.tables import create_platform_tables

revision = "signals_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_platform_tables()


def downgrade() -> None:
    pass
