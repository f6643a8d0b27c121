"""The case's vocabulary: what a backend sends in, what operators send, what the case keeps.

One pydantic model per concept. Amounts are `Decimal` (serialised as strings), never floats.
Everything here is plain data: workflows, activities, the command line and the tests share it.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from domain.enums import Channel, Outcome, Segment, Stage
from domain.policy import CaseConfig
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

Money = Annotated[Decimal, Field(max_digits=14, decimal_places=2)]
PositiveMoney = Annotated[Decimal, Field(gt=0, max_digits=14, decimal_places=2)]


def _check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise ValueError(f"unknown IANA timezone {name!r}") from e
    return name


def _check_aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("must carry a timezone offset, e.g. 2026-12-01T10:00:00+08:00")
    return value


Timezone = Annotated[str, AfterValidator(_check_timezone)]
AwareDatetime = Annotated[datetime, AfterValidator(_check_aware)]
CountryCode = Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")]
CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217")]
CASE_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


# --- What the loan system sends ---------------------------------------------------------------


class Address(Model):
    """Where a field visit would go. Completeness is checked by verification, not here."""

    line1: str = ""
    line2: str = ""
    city: str = ""
    region: str = ""
    postal_code: str = ""
    country: CountryCode | None = None


class Borrower(Model):
    name: str = Field(min_length=1, max_length=200)
    mobile_numbers: list[str] = Field(default_factory=list, max_length=5)
    address: Address = Field(default_factory=Address)
    timezone: Timezone
    country: CountryCode
    locale: str = Field(default="zh-CN", pattern=r"^[a-z]{2}(-[A-Z]{2})?$")


class EmergencyContact(Model):
    """Not a party to the loan: their data serves only to locate the borrower."""

    name: str = Field(min_length=1, max_length=200)
    relation: str = Field(min_length=1, max_length=50)
    phone: str = Field(min_length=1, max_length=40)


class Loan(Model):
    loan_id: str = Field(min_length=1, max_length=64)
    principal: PositiveMoney
    outstanding_balance: PositiveMoney
    currency: CurrencyCode
    due_date: date
    days_past_due: int = Field(ge=0, le=36500)
    annual_interest_rate: Decimal = Field(default=Decimal("0"), ge=0, le=1)
    daily_penalty_rate: Decimal = Field(default=Decimal("0"), ge=0, le=Decimal("0.01"))
    penalties_accrued: Money = Field(default=Decimal("0"), ge=0)


class BorrowerProfile(Model):
    """The inputs of the assessment scorecard (`domain.scorecard`)."""

    monthly_income: Money = Field(ge=0)
    monthly_debt_payments: Money = Field(ge=0)
    on_time_payments: int = Field(default=0, ge=0)
    late_payments: int = Field(default=0, ge=0)
    missed_payments: int = Field(default=0, ge=0)
    broken_promises: int = Field(default=0, ge=0)


class CaseInput(Model):
    """What starts a case. `state` is set only by the workflow itself, on continue-as-new."""

    case_id: str
    borrower: Borrower
    emergency_contacts: list[EmergencyContact] = Field(default_factory=list, max_length=5)
    loan: Loan
    profile: BorrowerProfile
    policy: str = Field(default="standard", pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")
    extra_rule_packs: list[str] = Field(
        default_factory=list, description="stricter packs added to the country's own"
    )
    state: CaseState | None = None

    @field_validator("case_id")
    @classmethod
    def _case_id(cls, v: str) -> str:
        if not CASE_ID_PATTERN.match(v):
            raise ValueError("case_id: 1-64 of letters, digits, '_', '-', '.', starting alphanumeric")
        return v

    @model_validator(mode="after")
    def _balance(self) -> CaseInput:
        if self.loan.outstanding_balance > self.loan.principal * 3:
            raise ValueError("loan.outstanding_balance is more than three times the principal")
        return self

    @property
    def workflow_id(self) -> str:
        return workflow_id_for(self.case_id)


def workflow_id_for(case_id: str) -> str:
    return f"case-{case_id}"


# --- Operator and backend messages (updates and signals) ----------------------------------


class Payment(Model):
    amount: PositiveMoney
    paid_at: AwareDatetime
    reference: str = Field(min_length=1, max_length=128)
    currency: CurrencyCode | None = None


class PromiseRequest(Model):
    amount: PositiveMoney
    due_date: date
    taken_by: str = Field(default="agent", max_length=100)


class HardshipReason(StrEnum):
    ILLNESS = "illness"
    JOB_LOSS = "job_loss"
    FORCE_MAJEURE = "force_majeure"
    OTHER = "other"


class HardshipReport(Model):
    reason: HardshipReason
    details: str = Field(default="", max_length=2000)
    requested_instalments: int | None = Field(default=None, ge=2, le=60)
    waive_penalty: bool = False


class VisitResult(StrEnum):
    MET = "met"
    NOT_HOME = "not_home"
    REFUSED = "refused"
    MOVED = "moved"


class VisitOutcome(Model):
    visit_id: str
    result: VisitResult
    collectors: list[str] = Field(min_length=1, max_length=5)
    distress: bool = False
    promise: PromiseRequest | None = None
    hardship: HardshipReport | None = None
    notes: str = Field(default="", max_length=2000)


class ContactInfoUpdate(Model):
    mobile_numbers: list[str] | None = Field(default=None, max_length=5)
    address: Address | None = None
    emergency_contacts: list[EmergencyContact] | None = Field(default=None, max_length=5)

    @model_validator(mode="after")
    def _something(self) -> ContactInfoUpdate:
        if self.mobile_numbers is None and self.address is None and self.emergency_contacts is None:
            raise ValueError("give at least one of mobile_numbers, address, emergency_contacts")
        return self


class ApprovalDecision(Model):
    approval_id: str
    approve: bool
    decided_by: str = Field(min_length=1, max_length=100)
    note: str = Field(default="", max_length=2000)


class DeliveryReceipt(Model):
    attempt_key: str
    outcome: Outcome
    distress: bool = False
    at: AwareDatetime | None = None


class CeaseScope(StrEnum):
    ALL = "all"
    CHANNEL = "channel"
    NUMBER = "number"


class CeaseContact(Model):
    scope: CeaseScope
    channel: Literal["sms", "voice", "visit"] | None = None
    number: str | None = None
    reason: str = Field(default="", max_length=500)

    @model_validator(mode="after")
    def _target(self) -> CeaseContact:
        if self.scope is CeaseScope.CHANNEL and self.channel is None:
            raise ValueError("scope 'channel' needs channel: sms, voice or visit")
        if self.scope is CeaseScope.NUMBER and not self.number:
            raise ValueError("scope 'number' needs the number")
        return self


class DisputeRequest(Model):
    reason: str = Field(min_length=1, max_length=500)
    details: str = Field(default="", max_length=2000)
    written: bool = Field(default=True, description="a written dispute (Reg F validation period)")


class DisputeResolution(Model):
    upheld: bool = Field(description="true: the borrower was right and the debt is not owed as claimed")
    corrected_balance: PositiveMoney | None = None
    note: str = Field(min_length=1, max_length=2000)
    decided_by: str = Field(min_length=1, max_length=100)

    @model_validator(mode="after")
    def _corrected(self) -> DisputeResolution:
        if self.upheld and self.corrected_balance is not None:
            raise ValueError("an upheld dispute withdraws the case: give no corrected_balance")
        return self


class CapacityHoldRequest(Model):
    on: bool
    reason: str = Field(min_length=1, max_length=500)
    by: str = Field(min_length=1, max_length=100)


class MoratoriumRequest(Model):
    kind: Literal["standard", "mental_health_crisis"]
    reference: str = Field(min_length=1, max_length=100, description="the scheme's reference for it")


class CrisisTreatmentEnd(Model):
    ended_on: date


class VulnerabilityDriver(StrEnum):
    HEALTH = "health"
    LIFE_EVENT = "life_event"
    RESILIENCE = "resilience"
    CAPABILITY = "capability"


class VulnerabilityReport(Model):
    """Vulnerability as state. Its driver is sensitive data (PIPL): kept only with explicit consent."""

    driver: VulnerabilityDriver
    source: Literal["borrower", "agent", "visit", "third_party", "other"]
    consent_to_record: bool
    notes: str = Field(default="", max_length=2000)


class Vulnerability(Model):
    driver: VulnerabilityDriver | None  # None: consent withheld, only the fact is kept
    source: str
    recorded_at: datetime
    review_due: datetime


class ThirdPartyRefusal(Model):
    number: str = Field(min_length=3, max_length=40)


class ComplaintRequest(Model):
    category: Literal["conduct", "contact", "amount", "privacy", "other"]
    details: str = Field(min_length=1, max_length=4000)
    channel: str = Field(default="phone", max_length=40)


class ComplaintAcknowledgement(Model):
    by: str = Field(min_length=1, max_length=100)


class ComplaintResolution(Model):
    upheld: bool
    explanation: str = Field(min_length=1, max_length=4000)
    compensation: Money = Field(default=Decimal("0"), ge=0)
    by: str = Field(min_length=1, max_length=100)


class ComplaintInput(Model):
    case_id: str
    complaint_id: str
    request: ComplaintRequest
    acknowledge_within: timedelta
    resolve_within: timedelta
    currency: CurrencyCode


class ComplaintClosed(Model):
    complaint_id: str
    upheld: bool
    compensation: Money
    acknowledged_late: bool
    resolved_late: bool


class PauseRequest(Model):
    reason: str = Field(min_length=1, max_length=500)
    by: str = Field(default="operator", max_length=100)


# --- What a case keeps ------------------------------------------------------------------------


class Assessment(Model):
    ability: int = Field(ge=0, le=100)
    willingness: int = Field(ge=0, le=100)
    segment: Segment
    reasons: list[str]


class PhoneCheck(Model):
    """One number as verification saw it. `ref` stands for the number everywhere else."""

    ref: str
    owner: Literal["borrower", "emergency_contact"]
    index: int
    valid: bool
    line_type: str
    problem: str | None = None


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
    person: Literal["borrower", "emergency_contact"] = "borrower"
    phone_ref: str | None = None
    template: str | None = None
    at: datetime
    outcome: Outcome
    robot: bool = False
    step: int | None = None
    distress: bool = False


class ApprovalKind(StrEnum):
    VISIT = "visit"
    HARDSHIP_PLAN = "hardship_plan"
    WELLBEING_REVIEW = "wellbeing_review"
    VULNERABILITY_REVIEW = "vulnerability_review"


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
    status: Literal["open", "kept", "broken", "superseded"] = "open"


class Instalment(Model):
    number: int
    due_date: date
    amount: Money
    deadline: datetime
    status: Literal["due", "paid", "missed"] = "due"


class HardshipPlan(Model):
    plan_id: str
    reason: HardshipReason
    instalments: list[Instalment]
    penalty_waived: Money
    needs_approval: bool
    status: Literal["pending_approval", "active", "completed", "broken", "rejected"]
    paid_at_start: Money
    credit_effect: str


class Visit(Model):
    visit_id: str
    status: Literal["awaiting_approval", "approved", "dispatched", "overdue", "reported", "rejected"]
    outcome_deadline: datetime | None = None
    result: VisitResult | None = None


class HoldKind(StrEnum):
    PAUSE = "pause"  # an operator's pause
    DISPUTE = "dispute"  # the borrower disputes the debt: collection waits for verification
    CAPACITY = "capacity"  # doubt about mental capacity (CONC 7.10): recovery suspended
    MORATORIUM = "moratorium"  # Breathing Space: no contact, interest and fees frozen
    COMPLAINT = "complaint"  # a complaint under review (when the policy pauses contact for it)


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
    third_parties_refused: list[str] = Field(default_factory=list)  # emergency contacts' phone refs
    relationship_opt_out: bool = False

    def hold(self, kind: HoldKind) -> Hold | None:
        return next((h for h in self.holds if h.kind is kind), None)

    def active(self) -> list[str]:
        out = [h.kind.value for h in self.holds]
        out += [name for name in ("hardship", "distress", "vulnerable", "cease_all") if getattr(self, name)]
        out += [f"cease:{c}" for c in self.cease_channels]
        out += ["cease:number"] * bool(self.cease_numbers)
        return out


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


class CaseStatus(Model):
    """The `status` query: what an operator needs to see to act on a case."""

    case_id: str
    stage: Stage
    segment: Segment | None
    currency: str
    balance: Money
    total_paid: Money
    days_past_due: int
    flags: list[str]
    contact_counts: dict[str, int]
    last_contacts: list[ContactAttempt]
    pending_promise: PromiseToPay | None
    plan: HardshipPlan | None
    visit: Visit | None
    pending_approvals: list[PendingApproval]
    vulnerability: Vulnerability | None
    next_action: NextAction | None
    verification_missing: list[str]
    policy: str
    rule_packs: list[str]
    run: int


class CaseOutcome(Model):
    case_id: str
    stage: Stage
    balance: Money
    total_paid: Money
    reason: str


class UpdateResult(Model):
    """What every update answers: what it did and the case's stage after it."""

    accepted: bool = True
    message: str
    stage: Stage
    balance: Money
    ref: str | None = None


CaseInput.model_rebuild()
