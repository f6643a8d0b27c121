"""cases.status: the case's `status` as of its last ledger write, so reading a case never waits on a
busy worker; cases.next_action_at for lists of what is due

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("cases", sa.Column("status", postgresql.JSONB(), nullable=True))
    op.add_column("cases", sa.Column("next_action_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_cases_next_action_at", "cases", ["next_action_at"])


def downgrade() -> None:
    op.drop_index("ix_cases_next_action_at", table_name="cases")
    op.drop_column("cases", "next_action_at")
    op.drop_column("cases", "status")
