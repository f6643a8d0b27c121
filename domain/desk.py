"""The operators' desk: who works a case, what people owe it, what conversations taught about the
borrower, and which case comes first. The state the case keeps and the decisions on it (pure functions);
the messages operators send are in `domain.messages`."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from pydantic import Field

from domain.enums import ContactResult, DelinquencyReason, Party, TaskKind, TaskStatus
from domain.values import Model, StaffId

if TYPE_CHECKING:
    from domain.messages import ContactOutcome

# --- what the case keeps ---------------------------------------------------------------------


class Lease(Model):
    team: str
    agent: StaffId | None = None
    since: datetime
    until: datetime | None = None  # None: the team's queue (no agent, nothing to expire)
    by: str = "operator"
    queue: str | None = None  # the stage's queue when it was given: it lapses when the case moves to another


class Task(Model):
    """A work item for a person: an owner, a due time, escalated to a supervisor once when late."""

    task_id: str
    kind: TaskKind
    team: str
    owner: StaffId | None = None  # a person, or anyone in the team
    opened_at: datetime | None = None
    due_at: datetime  # when it is to be done (a call-back: the time the borrower asked for)
    escalate_at: datetime | None = None  # late: not done by then, it goes to a supervisor (None: at `due_at`)
    summary: str
    ref: str | None = None  # what it is about (an investigation id, an attempt key)
    subject: StaffId | None = None  # the staff member it is about (an investigation): never the one to close it
    status: TaskStatus = TaskStatus.OPEN
    escalated: bool = False

    @property
    def late_at(self) -> datetime:
        return self.escalate_at or self.due_at

    @property
    def open(self) -> bool:
        return self.status is TaskStatus.OPEN


class Profile(Model):
    """What conversations taught about the borrower (客户画像): no free text, codes and counts only."""

    reasons: list[DelinquencyReason] = Field(default_factory=list)  # as told, oldest first, repeats dropped
    right_party_contacts: int = 0
    wrong_party_contacts: int = 0
    third_party_contacts: int = 0
    refusals: int = 0

    @property
    def reason(self) -> DelinquencyReason | None:
        """The latest reason the borrower gave."""
        return self.reasons[-1] if self.reasons else None

    def learn(self, outcome: ContactOutcome) -> None:
        match outcome.party:
            case Party.RIGHT_PARTY:
                self.right_party_contacts += 1
            case Party.WRONG_PARTY:
                self.wrong_party_contacts += 1
            case Party.THIRD_PARTY:
                self.third_party_contacts += 1
        if outcome.reason is not None:
            self.reasons = [r for r in self.reasons if r is not outcome.reason] + [outcome.reason]
        if outcome.result is ContactResult.REFUSED:
            self.refusals += 1


class Desk(Model):
    """Who works the case and what people owe it."""

    lease: Lease | None = None
    tasks: list[Task] = Field(default_factory=list)
    profile: Profile = Field(default_factory=Profile)
    tasks_made: int = 0

    def open_tasks(self, kind: TaskKind | None = None) -> list[Task]:
        return [t for t in self.tasks if t.open and (kind is None or t.kind is kind)]

    def task(self, task_id: str) -> Task | None:
        return next((t for t in self.tasks if t.task_id == task_id), None)


# --- decisions ---------------------------------------------------------------------------------


def lease_problem(lease: Lease | None, agent: str | None, now: datetime) -> str | None:
    """Why an assignment to `agent` may not be made now: another agent holds the case."""
    if lease is None or lease.agent is None or lease.agent == agent:
        return None
    if lease.until is not None and lease.until <= now:
        return None
    until = f" until {lease.until:%Y-%m-%d %H:%M} UTC" if lease.until else ""
    return f"agent {lease.agent} holds this case{until}: they release it first, or the lease ends"


def release_problem(lease: Lease | None, agent: str) -> str | None:
    if lease is None or lease.agent is None:
        return "nobody holds this case"
    if lease.agent != agent:
        return f"agent {agent} does not hold this case (agent {lease.agent} does)"
    return None


def late(tasks: Iterable[Task], now: datetime) -> list[Task]:
    """Open tasks past their time to escalate and not yet escalated: each goes to a supervisor once."""
    return [t for t in tasks if t.open and not t.escalated and t.late_at <= now]


def next_due(tasks: Iterable[Task], lease: Lease | None) -> datetime | None:
    """When the desk next needs the case awake: a task falls due, or a lease ends."""
    times = [t.late_at for t in tasks if t.open and not t.escalated]
    if lease is not None and lease.until is not None:
        times.append(lease.until)
    return min(times, default=None)


def due_by(deadlines: Iterable[datetime | None]) -> datetime | None:
    """The earliest deadline a person owes the case (a task, an approval, a visit report, a review):
    what a supervisor's "past its deadline" list filters on."""
    return min((d for d in deadlines if d is not None), default=None)


class PriorityFacts(Model):
    """What a case's place in a worklist is decided on: all of it read from the case's search attributes
    (`shown`), by the workflow as it publishes them and by a worklist as it reads them, so both decide alike."""

    promise_due_at: datetime | None = None  # an open promise's due date, its first instant in the borrower's zone
    promise_broken: bool = False
    call_back_at: datetime | None = None  # an open call-back task
    balance: Decimal = Decimal("0")
    days_past_due: int = 0
    vulnerable: bool = False  # distress or a vulnerability under review
    care_team: bool = False

    @classmethod
    def shown(cls, flags: Iterable[str], due_by: datetime | None, promise_due: datetime | None, amount_due: float,
              days_past_due: int, care_team: bool) -> PriorityFacts:
        """From the search attributes (`CaseFlags`, `DueBy`, `PromiseDue`, `AmountDue`, `DaysPastDue`; the care
        team from the stage's queue). A call-back counts as due when its task is open and `DueBy` has come."""
        shown = set(flags)
        return cls(promise_due_at=promise_due, promise_broken="promise_broken" in shown,
                   call_back_at=due_by if "task:call_back" in shown else None,
                   balance=Decimal(str(amount_due)), days_past_due=days_past_due,
                   vulnerable="distress" in shown or "vulnerable" in shown, care_team=care_team)


# The order of a worklist: tiers first (each above all the tiers below), then the balance, then the days.
TIER_VULNERABLE, TIER_PROMISE_DUE, TIER_BROKEN, TIER_CALL_BACK = 40_000_000, 30_000_000, 20_000_000, 10_000_000


def priority(facts: PriorityFacts, now: datetime) -> int:
    """Higher first. For the care team a vulnerable borrower comes first; for everyone, a promise due
    today (or earlier, still open), then a broken promise, then a call-back that is due; then the larger
    balance (on a log scale, so no one balance swamps the days), then the longer overdue."""
    tier = 0
    if facts.vulnerable and facts.care_team:
        tier = TIER_VULNERABLE
    elif facts.promise_due_at is not None and facts.promise_due_at <= now:
        tier = TIER_PROMISE_DUE
    elif facts.promise_broken:
        tier = TIER_BROKEN
    elif facts.call_back_at is not None and facts.call_back_at <= now:
        tier = TIER_CALL_BACK
    size = min(9_999, int(1_000 * math.log10(1 + max(float(facts.balance), 0.0))))  # 1 000 000 → 6 000
    return tier + size * 1_000 + min(facts.days_past_due, 999)
