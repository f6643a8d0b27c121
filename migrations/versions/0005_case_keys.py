"""case_keys: a key per case for the journal's personal fields, so erasing them when the case's records
retention ends (destroying the key) leaves every hash chain intact; loans found by their case id

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_keys",
        sa.Column("case_id", sa.String(64), primary_key=True),
        sa.Column("key", sa.LargeBinary(), nullable=True),  # NULL once destroyed: the row stays as a tombstone
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("destroyed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("(key IS NULL) = (destroyed_at IS NOT NULL)", name="ck_case_keys_destroyed"),
        sa.CheckConstraint("key IS NULL OR length(key) = 32", name="ck_case_keys_aes256"),
    )
    # The retention run deletes a closed case's row of the loan system's export, found by its case id.
    op.execute("""CREATE INDEX ix_loans_case_id ON loans (("case" ->> 'case_id'))""")


def downgrade() -> None:
    op.execute("DROP INDEX ix_loans_case_id")
    op.drop_table("case_keys")
