"""payments.allocation: how the balance engine applied each payment (fees, penalty, interest, principal, and
any overpayment owed back), so the ledger shows it without the journal

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("payments", sa.Column("allocation", JSONB, nullable=True))


def downgrade() -> None:
    op.drop_column("payments", "allocation")
