"""case_events becomes the append-only, hash-chained journal an auditor can trust

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("case_events", sa.Column("seq", sa.Integer(), nullable=False))
    op.add_column("case_events", sa.Column("prev_hash", sa.String(64), nullable=False))
    op.add_column("case_events", sa.Column("hash", sa.String(64), nullable=False))
    op.create_unique_constraint("uq_case_events_case_seq", "case_events", ["case_id", "seq"])
    op.execute("""
        CREATE FUNCTION case_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'case_events is append-only: % refused', TG_OP;
        END $$;
    """)
    op.execute("""
        CREATE TRIGGER case_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON case_events
        FOR EACH STATEMENT EXECUTE FUNCTION case_events_append_only();
    """)


def downgrade() -> None:
    op.execute("DROP TRIGGER case_events_append_only ON case_events")
    op.execute("DROP FUNCTION case_events_append_only()")
    op.drop_constraint("uq_case_events_case_seq", "case_events")
    for column in ("hash", "prev_hash", "seq"):
        op.drop_column("case_events", column)
