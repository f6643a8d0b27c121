"""self-service: links (opaque tokens, stored as digests) and their sessions; where a reply comes from
(reply routes, by a keyed digest of the address); inbound replies received (once each); a letter's PDF kept
by the sandbox print vendor

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("sandbox_messages", sa.Column("document", sa.LargeBinary(), nullable=True))
    op.create_table(
        "self_service_links",
        sa.Column("token_digest", sa.String(64), primary_key=True),  # SHA-256 of the token: never the token
        sa.Column("case_id", sa.String(64), nullable=False, index=True),
        sa.Column("attempt_key", sa.String(160), nullable=True, unique=True),  # the message that carried it
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("destination", postgresql.JSONB(), nullable=True),  # where a one-time code goes: sealed, case's key
        sa.Column("locale", sa.String(8), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "self_service_sessions",
        sa.Column("session_digest", sa.String(64), primary_key=True),
        sa.Column("token_digest", sa.String(64), sa.ForeignKey("self_service_links.token_digest"), nullable=False,
                  index=True),
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("code_digest", sa.String(64), nullable=True),
        sa.Column("code_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("code_attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("codes_sent", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "reply_routes",
        sa.Column("address_digest", sa.String(64), nullable=False),  # HMAC of the number or e-mail address
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("person", sa.String(24), nullable=False),
        sa.Column("contact_ref", sa.String(64), nullable=True),  # the case's phone_ref for the number
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("last_sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("address_digest", "case_id", "channel"),
    )
    op.create_index("ix_reply_routes_last_sent", "reply_routes", ["address_digest", "last_sent_at"])
    op.create_table(
        "inbound_messages",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("message_id", sa.String(160), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("case_id", sa.String(64), nullable=True),
        sa.Column("action", sa.String(32), nullable=False),  # stop | task | third_party_refused | unmatched
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("provider", "message_id", name="uq_inbound_messages_provider_id"),
    )


def downgrade() -> None:
    op.drop_table("inbound_messages")
    op.drop_index("ix_reply_routes_last_sent", table_name="reply_routes")
    op.drop_table("reply_routes")
    op.drop_table("self_service_sessions")
    op.drop_table("self_service_links")
    op.drop_column("sandbox_messages", "document")
