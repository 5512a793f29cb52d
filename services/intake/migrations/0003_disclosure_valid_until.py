"""intake: a disclosure ends when the consent runs out.

Revision ID: intake_0003
Revises: intake_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "intake_0003"
down_revision = "intake_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("disclosures") as batch:
        batch.add_column(sa.Column("valid_until", sa.Date, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("disclosures") as batch:
        batch.drop_column("valid_until")
