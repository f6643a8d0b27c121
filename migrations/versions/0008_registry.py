"""the staff registry: teams, staff (ids only), their training, and conduct investigations for supervisors

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _updated_at() -> sa.Column:
    return sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "teams",
        sa.Column("team_id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("region", sa.String(100), server_default="", nullable=False),
        sa.Column("supervisor_id", sa.String(64), nullable=True),
        _updated_at(),
    )
    op.create_table(
        "staff",
        sa.Column("staff_id", sa.String(64), primary_key=True),
        sa.Column("team_id", sa.String(64), sa.ForeignKey("teams.team_id", name="fk_staff_team"), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("region", sa.String(100), server_default="", nullable=False),
        sa.Column("languages", JSONB(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default="true", nullable=False),
        _updated_at(),
    )
    op.create_index("ix_staff_team_id", "staff", ["team_id"])
    op.create_table(
        "trainings",
        sa.Column("staff_id", sa.String(64), sa.ForeignKey("staff.staff_id", name="fk_trainings_staff"),
                  primary_key=True),
        sa.Column("course", sa.String(64), primary_key=True),
        sa.Column("completed_on", sa.Date(), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=False),
        _updated_at(),
        sa.CheckConstraint("expires_on > completed_on", name="ck_trainings_expires_after_completion"),
    )
    op.create_table(
        "investigations",
        sa.Column("investigation_id", sa.String(160), primary_key=True),
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("complaint_id", sa.String(160), nullable=False),
        sa.Column("staff_id", sa.String(64), nullable=False),  # no foreign key: a complaint may name anyone
        sa.Column("supervisor_id", sa.String(64), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finding", sa.Text(), nullable=True),
        sa.Column("closed_by", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    op.create_index("ix_investigations_case_id", "investigations", ["case_id"])
    op.create_index("ix_investigations_supervisor_closed", "investigations", ["supervisor_id", "closed_at"])


def downgrade() -> None:
    op.drop_table("investigations")
    op.drop_table("trainings")
    op.drop_table("staff")
    op.drop_table("teams")
