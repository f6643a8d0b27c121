"""A case as the ledger had it at a moment (`domain.propensity.Snapshot`), the moments it is scored at, and
when it was cured: the one reading of the ledger that the scoring activity and the training command share,
so a model is shown what it learned from.

Only rows whose own time is at or before the moment count, and of the payments only those made at or after
the case opened: a loan that was an early warning first may have been paid in part before it fell overdue,
and the case's opening balance already nets that out (counting it again as paid would count it twice). The
journal's times (`case_events.at`), the contact attempts' `planned_at` and the cases' `opened_at` are the
workflow's clock; `paid_at` is the payment system's. A promise row's `created_at` and `updated_at` are the
ledger's wall clock instead: a moment after the workflow's in production, and far behind it when a
simulation skips time. So a promise is placed on the workflow's clock (`Promise`): made no earlier than the
journal's move into the promise stage (one promise is open at a time, so the n-th row goes with the n-th
move), kept no earlier than the move out of it, and broken at its deadline (the case's timer breaks it then,
and the score asked at the break sees it, as the training row at the break does).

Personal data: the assessment's financial inputs are sealed in the journal under the case's key; they are
opened here, in memory, because the model's features are made from them, and never kept or logged. A case
whose key is destroyed (erased) has no snapshot. The desk's delinquency reason is sealed too and is NOT
opened: a snapshot carries a reason only where the journal holds a plain reason code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from cryptography.exceptions import InvalidTag
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters import db
from adapters.ledger import open_sealed
from domain import retention as rt
from domain.case_input import BorrowerProfile
from domain.enums import Channel, DelinquencyReason, Outcome, Person, PromiseStatus, Segment, Stage
from domain.propensity import Snapshot, Trigger
from domain.state import Assessment

KINDS = ("case_opened", "assessed", "contact_data_verified", "contact_outcome", "paid_in_full", "stage_changed")
VOICE = (Channel.ROBOT_CALL.value, Channel.AGENT_CALL.value)
CHUNK = 1000  # cases per query: well inside Postgres's bind-parameter limit


@dataclass(frozen=True)
class Assessed:
    at: datetime
    profile: BorrowerProfile | None  # None: sealed under a destroyed key (erased), or unreadable
    assessment: Assessment


@dataclass(frozen=True)
class Promise:
    """A promise on the workflow's clock: when it was made, its latest status, and when that status came."""

    made: datetime
    status: str
    since: datetime


def place_promises(rows: Sequence[tuple[datetime, datetime, datetime, str]], takes: Sequence[datetime],
                   leaves: Sequence[datetime]) -> list[Promise]:
    """Promise rows (created_at, updated_at, deadline, status; in the order they were written) on the
    workflow's clock, given the journal's moves into (`takes`) and out of (`leaves`) the promise stage."""
    out = []
    for i, (created, updated, deadline, status) in enumerate(rows):
        made = max(created, takes[i]) if i < len(takes) else created
        left = next((t for t in leaves if t >= made), made)
        since = max(deadline, made) if status == PromiseStatus.BROKEN.value else max(updated, left, made)
        out.append(Promise(made, status, since))
    return out


@dataclass
class History:
    """The rows of one case that a snapshot reads, fetched once so that many moments cost no more queries."""

    case_id: str
    country: str
    principal: Decimal
    opened_at: datetime
    stage: str
    closed_at: datetime | None
    start: tuple[datetime, int, Decimal] | None = None  # case_opened: at, days past due, balance
    assessed: Assessed | None = None  # the first assessment
    numbers: list[tuple[datetime, int]] = field(default_factory=list)  # usable borrower numbers, per check
    reasons: list[tuple[datetime, DelinquencyReason]] = field(default_factory=list)  # plain codes only
    # the borrower's contact attempts: planned_at, channel, outcome
    attempts: list[tuple[datetime, str, str]] = field(default_factory=list)
    promises: list[Promise] = field(default_factory=list)
    takes: list[datetime] = field(default_factory=list)  # the journal's moves into the promise stage
    leaves: list[datetime] = field(default_factory=list)  # and out of it
    payments: list[tuple[datetime, Decimal, Decimal]] = field(default_factory=list)  # paid_at, amount, balance_after
    paid_in_full_at: datetime | None = None


# --- pure: what the history says at a moment -------------------------------------------------------


def snapshot_at(h: History, at: datetime) -> Snapshot | None:
    """The case at `at`; None before its assessment, or when its assessment's inputs cannot be read."""
    a = h.assessed
    if a is None or a.at > at or a.profile is None or h.start is None:
        return None
    p = a.profile
    numbers = [n for t, n in h.numbers if t <= at]
    reasons = [r for t, r in h.reasons if t <= at]
    attempts = [(channel, outcome) for t, channel, outcome in h.attempts if t <= at]
    promises = [q for q in h.promises if q.made <= at]
    return Snapshot(
        country=h.country, days_past_due=h.start[1], principal=h.principal, balance=h.start[2],
        monthly_income=p.monthly_income, monthly_debt_payments=p.monthly_debt_payments,
        on_time_payments=p.on_time_payments, late_payments=p.late_payments, missed_payments=p.missed_payments,
        broken_promises_before=p.broken_promises, ability=a.assessment.ability, willingness=a.assessment.willingness,
        numbers=numbers[-1] if numbers else 0,
        days_open=max(0.0, (at - h.opened_at).total_seconds() / 86400),
        messages_delivered=sum(c == Channel.SMS.value and o == Outcome.DELIVERED.value for c, o in attempts),
        calls=sum(c in VOICE and o != Outcome.TASK_CREATED.value for c, o in attempts),
        right_party_contacts=sum(o == Outcome.CONVERSATION.value for _, o in attempts),
        promises=len(promises),
        promises_kept=sum(q.status == PromiseStatus.KEPT.value and q.since <= at for q in promises),
        promises_broken=sum(q.status == PromiseStatus.BROKEN.value and q.since <= at for q in promises),
        paid=max(Decimal(0), sum((amount for t, amount, _ in h.payments if h.opened_at <= t <= at), Decimal(0))),
        reason=reasons[-1] if reasons else None,
    )


def moments_of(h: History) -> list[tuple[datetime, Trigger]]:
    """When the case is scored: its assessment, then each broken promise, right-party contact and partial
    payment after it, in time order."""
    if h.assessed is None:
        return []
    start = h.assessed.at
    found = [(start, Trigger.ASSESSMENT)]
    found += [(q.since, Trigger.BROKEN_PROMISE) for q in h.promises if q.status == PromiseStatus.BROKEN.value]
    found += [(t, Trigger.RIGHT_PARTY_CONTACT) for t, _, o in h.attempts if o == Outcome.CONVERSATION.value]
    found += [(t, Trigger.PARTIAL_PAYMENT) for t, _, after in h.payments if after > 0]
    order = list(Trigger)
    return sorted(((t, why) for t, why in found if t >= start), key=lambda m: (m[0], order.index(m[1])))


def cure_of(h: History) -> datetime | None:
    """When the case was paid in full: the first payment that left nothing owed, or the journal's
    `paid_in_full` (a settlement pays less than the balance and writes the rest off), whichever came first;
    failing both, a settled case's closing (settled follows only a payment in full)."""
    found = [t for t, _, after in h.payments if after <= 0]
    if h.paid_in_full_at is not None:
        found.append(h.paid_in_full_at)
    if not found and h.stage == Stage.SETTLED.value and h.closed_at is not None:
        found.append(h.closed_at)
    return min(found) if found else None


# --- the ledger's rows ---------------------------------------------------------------------------


def _profile(case_id: str, entry_key: str, inputs: Any, key: bytes | None) -> BorrowerProfile | None:
    """The assessment's inputs, opened with the case's key where sealed; None when erased or unreadable."""
    try:
        value = open_sealed(key, case_id, entry_key, "inputs", inputs)
        return None if rt.is_erased(value) else BorrowerProfile.model_validate(value)
    except (InvalidTag, ValidationError, ValueError, TypeError):  # a seal that does not open, a damaged profile
        return None


def _usable(phones: Any) -> int:
    return sum(1 for p in phones or [] if isinstance(p, dict) and p.get("owner") == Person.BORROWER.value
               and p.get("valid") is True)


def _plain_reason(value: Any) -> DelinquencyReason | None:
    try:
        return DelinquencyReason(value) if isinstance(value, str) else None  # sealed: a dict, left alone
    except ValueError:
        return None


async def _chunk(conn: AsyncConnection, ids: list[str]) -> dict[str, History]:
    c, e, k = db.cases, db.case_events, db.case_keys
    a, p, pay = db.contact_attempts, db.promises, db.payments
    out = {r.case_id: History(case_id=r.case_id, country=r.country, principal=r.principal, opened_at=r.opened_at,
                              stage=r.stage, closed_at=r.closed_at)
           for r in await conn.execute(select(c.c.case_id, c.c.country, c.c.principal, c.c.opened_at, c.c.stage,
                                              c.c.closed_at).where(c.c.case_id.in_(ids)))}
    if not out:
        return out
    ids = list(out)
    keys = {r.case_id: r.key for r in await conn.execute(select(k.c.case_id, k.c.key).where(k.c.case_id.in_(ids)))}
    d = e.c.data
    rows = await conn.execute(
        select(e.c.case_id, e.c.idempotency_key, e.c.kind, e.c.at, d["days_past_due"].label("dpd"),
               d["balance"].label("balance"), d["inputs"].label("inputs"), d["ability"].label("ability"),
               d["willingness"].label("willingness"), d["segment"].label("segment"), d["phones"].label("phones"),
               d["reason"].label("reason"), d["from"].label("source"), d["to"].label("target"))
        .where(e.c.case_id.in_(ids), e.c.kind.in_(KINDS)).order_by(e.c.case_id, e.c.seq))
    for r in rows:
        h = out[r.case_id]
        if r.kind == "case_opened" and h.start is None:
            h.start = (r.at, int(r.dpd or 0), Decimal(str(r.balance)))
        elif r.kind == "assessed" and (h.assessed is None or r.at < h.assessed.at):
            assessment = Assessment(ability=r.ability, willingness=r.willingness, segment=Segment(r.segment),
                                    reasons=[])
            h.assessed = Assessed(r.at, _profile(r.case_id, r.idempotency_key, r.inputs, keys.get(r.case_id)),
                                  assessment)
        elif r.kind == "contact_data_verified":
            h.numbers.append((r.at, _usable(r.phones)))
        elif r.kind == "contact_outcome" and (reason := _plain_reason(r.reason)) is not None:
            h.reasons.append((r.at, reason))
        elif r.kind == "paid_in_full" and h.paid_in_full_at is None:
            h.paid_in_full_at = r.at
        elif r.kind == "stage_changed" and Stage.PROMISE.value in (r.source, r.target):
            (h.takes if r.target == Stage.PROMISE.value else h.leaves).append(r.at)
    for h in out.values():  # seq order is the journal's; a moment's reading wants time order
        for times in (h.numbers, h.reasons):
            times.sort(key=lambda x: x[0])
        h.takes.sort()
        h.leaves.sort()
    written: dict[str, list[tuple[datetime, datetime, datetime, str]]] = {}
    for t in await conn.execute(select(a.c.case_id, a.c.planned_at, a.c.channel, a.c.outcome)
                                .where(a.c.case_id.in_(ids), a.c.person == Person.BORROWER.value)
                                .order_by(a.c.planned_at, a.c.id)):
        out[t.case_id].attempts.append((t.planned_at, t.channel, t.outcome))
    for q in await conn.execute(select(p.c.case_id, p.c.created_at, p.c.updated_at, p.c.deadline, p.c.status)
                                .where(p.c.case_id.in_(ids)).order_by(p.c.id)):
        written.setdefault(q.case_id, []).append((q.created_at, q.updated_at, q.deadline, q.status))
    for case_id, made in written.items():
        h = out[case_id]
        h.promises = place_promises(made, h.takes, h.leaves)
    for m in await conn.execute(select(pay.c.case_id, pay.c.paid_at, pay.c.amount, pay.c.balance_after)
                                .where(pay.c.case_id.in_(ids)).order_by(pay.c.paid_at, pay.c.id)):
        out[m.case_id].payments.append((m.paid_at, m.amount, m.balance_after))
    return out


async def histories(conn: AsyncConnection, case_ids: Sequence[str]) -> dict[str, History]:
    """Many cases' histories in a few queries per thousand cases (the training command's read)."""
    ids = list(dict.fromkeys(case_ids))
    out: dict[str, History] = {}
    for i in range(0, len(ids), CHUNK):
        out |= await _chunk(conn, ids[i:i + CHUNK])
    return out


async def history(conn: AsyncConnection, case_id: str) -> History | None:
    return (await _chunk(conn, [case_id])).get(case_id)


async def snapshot(conn: AsyncConnection, case_id: str, at: datetime) -> Snapshot | None:
    """The case as the ledger had it at `at`; None when unknown, not yet assessed then, or erased."""
    h = await history(conn, case_id)
    return snapshot_at(h, at) if h is not None else None


async def scoring_moments(conn: AsyncConnection, case_id: str) -> list[tuple[datetime, Trigger]]:
    h = await history(conn, case_id)
    return moments_of(h) if h is not None else []


async def cured_at(conn: AsyncConnection, case_id: str) -> datetime | None:
    h = await history(conn, case_id)
    return cure_of(h) if h is not None else None


async def data_end(conn: AsyncConnection) -> datetime | None:
    """The latest time the ledger has seen on the workflows' and payments' clocks (not the wall-clock
    write times), so a portfolio simulated in the past or future ends where its own events end."""
    times = [await conn.scalar(select(func.max(db.case_events.c.at))),
             await conn.scalar(select(func.max(db.payments.c.paid_at))),
             await conn.scalar(select(func.max(db.contact_attempts.c.planned_at))),
             await conn.scalar(select(func.max(db.cases.c.opened_at)))]
    found = [t for t in times if t is not None]
    return max(found) if found else None


async def opened_by(conn: AsyncConnection, latest: datetime) -> list[tuple[str, datetime]]:
    """Cases opened at or before `latest`, oldest first: (case id, opened_at)."""
    c = db.cases
    rows = await conn.execute(select(c.c.case_id, c.c.opened_at).where(c.c.opened_at <= latest)
                              .order_by(c.c.opened_at, c.c.case_id))
    return [(r.case_id, r.opened_at) for r in rows]
