"""contact_attempts.played: what the answerer heard beyond the greeting (message, voicemail, identify,
none), so the audit can prove a debt was spoken of only to the borrower (right party first)

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("contact_attempts", sa.Column("played", sa.String(16), nullable=True))


def downgrade() -> None:
    op.drop_column("contact_attempts", "played")
