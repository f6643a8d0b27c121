"""steering: each case's strategy arm and latest propensity score; loans not yet overdue (a due date);
early warnings and their outcome, for the warned loans and their control group

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("cases", sa.Column("strategy_arm", sa.String(40), nullable=True))
    op.add_column("cases", sa.Column("propensity", sa.Numeric(5, 4), nullable=True))
    op.add_column("cases", sa.Column("model_version", sa.String(64), nullable=True))
    op.create_index("ix_cases_opened_at", "cases", ["opened_at"])
    op.add_column("loans", sa.Column("due_date", sa.Date(), nullable=True))
    op.alter_column("loans", "overdue_since", nullable=True)
    op.create_index("ix_loans_due_date", "loans", ["due_date", "loan_id"],
                    postgresql_where=sa.text("overdue_since IS NULL"))
    op.create_table(
        "early_warnings",
        sa.Column("case_id", sa.String(64), primary_key=True),
        sa.Column("loan_id", sa.String(64), nullable=False),
        sa.Column("group", sa.String(8), nullable=False),  # warned | control
        sa.Column("risk", sa.Numeric(5, 4), nullable=True),
        sa.Column("risk_by", sa.String(80), nullable=False),  # model:<version> | rules
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount_due", sa.Numeric(16, 2), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),  # paid_on_time | overdue
        sa.Column("outcome_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("\"group\" IN ('warned', 'control')", name="ck_early_warnings_group"),
        sa.CheckConstraint("outcome IS NULL OR outcome IN ('paid_on_time', 'overdue')",
                           name="ck_early_warnings_outcome"),
    )


def downgrade() -> None:
    op.drop_table("early_warnings")
    op.drop_index("ix_loans_due_date", table_name="loans")
    op.execute("DELETE FROM loans WHERE overdue_since IS NULL")
    op.alter_column("loans", "overdue_since", nullable=False)
    op.drop_column("loans", "due_date")
    op.drop_index("ix_cases_opened_at", table_name="cases")
    for column in ("model_version", "propensity", "strategy_arm"):
        op.drop_column("cases", column)
