"""What a case keeps: everything it carries across continue-as-new (no I/O needed to rebuild it)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pydantic import Field

from domain.books import Books
from domain.desk import Desk
from domain.enums import (
    ApprovalKind,
    Channel,
    HandOffStatus,
    HardshipReason,
    HardStop,
    HoldKind,
    InstalmentStatus,
    Outcome,
    Person,
    PlanStatus,
    PromiseStatus,
    ScoreTrigger,
    Segment,
    Stage,
    VisitResult,
    VisitStatus,
    VulnerabilityDriver,
)
from domain.policy import CaseConfig, Window
from domain.relief import ReliefOffer
from domain.values import Model, Money, PositiveMoney


class Vulnerability(Model):
    driver: VulnerabilityDriver | None  # None: consent withheld, only the fact is kept
    source: str
    recorded_at: datetime
    review_due: datetime


class HandOffReview(Model):
    """A person's decision on reporting the case and handing it to legal / recovery."""

    approval_id: str
    why: str
    status: HandOffStatus = HandOffStatus.AWAITING_APPROVAL
    decided_by: str | None = None


class Assessment(Model):
    ability: int = Field(ge=0, le=100)
    willingness: int = Field(ge=0, le=100)
    segment: Segment
    reasons: list[str]


class PhoneCheck(Model):
    """One number as verification saw it. `ref` stands for the number everywhere else."""

    ref: str
    owner: Person
    index: int
    valid: bool
    line_type: str
    problem: str | None = None
    robot_consent: bool = False  # prior express consent to robot calls on this number (TCPA)


class VerificationReport(Model):
    phones: list[PhoneCheck]
    address_complete: bool
    missing: list[str]

    @property
    def reachable_refs(self) -> list[str]:
        return [p.ref for p in self.phones if p.owner == "borrower" and p.valid]

    @property
    def complete(self) -> bool:
        return not self.missing


class ContactAttempt(Model):
    """One outbound action, as the contact ledger knows it (no number, only its ref)."""

    key: str
    channel: Channel
    person: Person = Person.BORROWER
    phone_ref: str | None = None
    template: str | None = None
    at: datetime
    outcome: Outcome
    robot: bool = False
    step: int | None = None
    distress: bool = False
    dial_by: datetime | None = None  # an agent's task: dialled only with the guard's word, before this
    dialled: bool = False  # an agent dialled it (its `at` is then the dial's time)

    @property
    def counts_as_call(self) -> bool:
        """A task an agent has not dialled (and no outcome of which has come) is not a call yet: it counts
        toward no cap."""
        return self.dial_by is None or self.dialled or self.outcome is not Outcome.TASK_CREATED


class PendingApproval(Model):
    approval_id: str
    kind: ApprovalKind
    requested_at: datetime
    summary: str


class PromiseToPay(Model):
    promise_id: str
    amount: PositiveMoney
    due_date: date
    deadline: datetime  # end of due date plus grace, borrower's local time
    paid_at_start: Money  # total paid when the promise was made
    taken_by: str
    status: PromiseStatus = PromiseStatus.OPEN


class Instalment(Model):
    number: int
    due_date: date
    amount: Money
    deadline: datetime
    status: InstalmentStatus = InstalmentStatus.DUE


class HardshipPlan(Model):
    plan_id: str
    offer_id: str | None = None  # a relief offer's plan (token payments, a longer term)
    review_at: datetime | None = None  # token payments: reviewed then, whatever was paid
    reason: HardshipReason
    instalments: list[Instalment]
    penalty_waived: Money
    needs_approval: bool
    status: PlanStatus
    paid_at_start: Money
    credit_effect: str
    cost: Money | None = None  # what the lender forgoes (accrual frozen, penalty waived): cases with books


class Visit(Model):
    visit_id: str
    status: VisitStatus
    outcome_deadline: datetime | None = None
    result: VisitResult | None = None
    collectors: list[str] = Field(default_factory=list)  # dispatched from the registry: only they report
    unstaffed_since: datetime | None = None  # first found too few trained collectors of the region


class Hold(Model):
    kind: HoldKind
    reason: str
    since: datetime
    until: datetime | None = None  # None: until lifted
    ref: str | None = None


class Flags(Model):
    """Sticky flags the guard reads before every outbound action."""

    holds: list[Hold] = Field(default_factory=list)
    hardship: bool = False
    distress: bool = False
    vulnerable: bool = False
    cease_all: bool = False
    cease_channels: list[str] = Field(default_factory=list)
    cease_numbers: list[str] = Field(default_factory=list)  # phone refs
    wrong_numbers: list[str] = Field(default_factory=list)  # phone refs a stranger answered: never again
    third_parties_refused: list[str] = Field(default_factory=list)  # emergency contacts' phone refs
    relationship_opt_out: bool = False
    robot_consent: list[str] = Field(default_factory=list)  # phone refs with consent to robot calls (TCPA)
    hard_stops: list[HardStop] = Field(default_factory=list)
    borrower_window: Window | None = None  # the borrower's own times: narrow the packs' window
    borrower_quiet_weekdays: list[int] = Field(default_factory=list)  # 0 Monday … 6 Sunday
    borrower_medium: str | None = None  # "sms" or "voice": the only way the borrower wants to be contacted
    borrower_no_home_visits: bool = False  # the borrower's home does not suit them: no visit
    vulnerability_on_record: bool = False  # lasting: a person calls, nobody visits (`vulnerable`: review pending)

    def hold(self, kind: HoldKind) -> Hold | None:
        return next((h for h in self.holds if h.kind is kind), None)

    def active(self, hard_stop_kinds: bool = False) -> list[str]:
        out = [h.kind.value for h in self.holds]
        out += [name for name in ("hardship", "distress", "vulnerable", "cease_all") if getattr(self, name)]
        out += [f"cease:{c}" for c in self.cease_channels]
        out += ["cease:number"] * bool(self.cease_numbers)
        out += ["wrong_number"] * bool(self.wrong_numbers)
        if hard_stop_kinds:  # as histories recorded before showed them
            out += [s.value for s in self.hard_stops]
        else:
            out += ["hard_stop"] * bool(self.hard_stops)  # which one is not for an unencrypted search attribute
        return out


class Scoring(Model):
    """The case's propensity scores (`domain.propensity`): kept by cases opened since scoring began."""

    rules_segment: Segment | None = None  # the scorecard's own, which a score refines
    pending: ScoreTrigger | None = None  # the picture changed: score again at the loop's next pass
    probability: float | None = None  # the latest score, and the model that gave it
    model_version: str | None = None
    scored: int = 0


class EarlyWarningCarry(Model):
    """What an early warning (`UpcomingDue`) hands to the case it becomes when the loan falls overdue: its
    place in the case's key sequence, the contacts it made (the guard counts them), the payments it took,
    the borrower's protections (stop contact, holds, hard stops, vulnerability) and complaints opened."""

    seq: int = Field(ge=0)
    attempts: list[ContactAttempt] = Field(default_factory=list)
    payment_refs: list[str] = Field(default_factory=list)
    paid: Money = Decimal("0")
    group: str = Field(pattern=r"^(warned|control)$")
    flags: Flags = Field(default_factory=Flags)
    complaints_opened: int = Field(default=0, ge=0)


class NextAction(Model):
    what: str
    at: datetime | None


class CaseState(Model):
    """Everything a case carries across continue-as-new (no I/O needed to rebuild it)."""

    stage: Stage = Stage.VERIFICATION
    balance: Money
    total_paid: Money = Decimal("0")
    payment_refs: list[str] = Field(default_factory=list)
    flags: Flags = Field(default_factory=Flags)
    verification: VerificationReport | None = None
    verification_asked: bool = False
    contact_info_version: int = 0
    verification_deadline: datetime | None = None
    assessment: Assessment | None = None
    step_index: int = 0
    next_step_at: datetime | None = None
    attempts: list[ContactAttempt] = Field(default_factory=list)
    attempts_pruned: int = 0
    consecutive_failures: int = 0
    promise: PromiseToPay | None = None
    promises_broken: int = 0
    plan: HardshipPlan | None = None
    visit: Visit | None = None
    approvals: list[PendingApproval] = Field(default_factory=list)
    review_due: datetime | None = None  # a trained person's wellbeing or vulnerability review
    vulnerability: Vulnerability | None = None
    handoff: HandOffReview | None = None
    notices: dict[str, datetime] = Field(default_factory=dict)  # statutory notices posted: kind -> when
    arrears_arose: datetime | None = None  # when the arrears (as an arrears notice counts them) first arose
    arrangement: PlanStatus | None = None  # the last arrangement to pay's status, for a credit-bureau report
    locale: str | None = None  # the borrower's language, when they said so (else the loan system's)
    reached_at: datetime | None = None  # the first conversation with the borrower
    messaged_at: datetime | None = None  # the first message delivered to the borrower
    complaints_opened: int = 0
    third_parties_asked: list[str] = Field(default_factory=list)  # emergency contacts' refs
    relationship_until: datetime | None = None
    relationship_next_at: datetime | None = None
    relationship_sent: int = 0
    seq: int = 0
    next_action: NextAction | None = None
    outcome_reason: str = ""
    runs: int = 1
    opened_at: datetime | None = None
    config: CaseConfig | None = None
    verified_version: int = -1
    counts: dict[str, int] = Field(default_factory=dict)
    books: Books | None = None  # the balance by component (cases opened before the balance engine: None)
    offers: list[ReliefOffer] = Field(default_factory=list)
    desk: Desk | None = None  # assignments, tasks, the borrower's profile (cases opened before the desk: None)
    scoring: Scoring | None = None  # propensity scores (cases opened before scoring: None)

    @classmethod
    def opening(cls, balance: Decimal, carry: EarlyWarningCarry | None = None) -> CaseState:
        """A new case's state; an early warning's loan, overdue after all, goes on from what the warning did."""
        if carry is None:
            return cls(balance=balance)
        counts: dict[str, int] = {}
        for attempt in carry.attempts:
            counts[attempt.channel.value] = counts.get(attempt.channel.value, 0) + 1
        return cls(balance=balance, seq=carry.seq, payment_refs=list(carry.payment_refs),
                   attempts=list(carry.attempts), flags=carry.flags.model_copy(deep=True),
                   complaints_opened=carry.complaints_opened, counts=counts)

