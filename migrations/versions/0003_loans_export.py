"""loans: the loan system's export of overdue loans, read by the daily intake Schedule

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "loans",
        sa.Column("loan_id", sa.String(64), primary_key=True),
        sa.Column("case", postgresql.JSONB(), nullable=False),
        sa.Column("overdue_since", sa.Date(), nullable=False),
        sa.Column("exported_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    op.create_index("ix_loans_overdue_since", "loans", ["overdue_since", "loan_id"])


def downgrade() -> None:
    op.drop_index("ix_loans_overdue_since", table_name="loans")
    op.drop_table("loans")
