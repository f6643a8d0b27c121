"""What workflows send to activities and get back. Each request carries its idempotency key."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from domain.case_input import Borrower, EmergencyContact
from domain.enums import Channel, HandOff, Outcome, Person, PlanStatus, PromiseStatus, ScoreTrigger, VisitStatus
from domain.guard import GuardDecision
from domain.policy import Sender


class Contract(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoadConfigRequest(Contract):
    policy: str
    country: str
    extra_packs: list[str]
    today: date
    case_id: str | None = None  # deals the case its arm where its policy has a trial (histories before: none)


class VerifyRequest(Contract):
    case_id: str
    borrower: Borrower
    emergency_contacts: list[EmergencyContact]


class OpenCaseRequest(Contract):
    fact: Literal["open_case"] = "open_case"
    case_id: str
    workflow_id: str
    policy: str
    rule_packs: list[str]
    country: str
    currency: str
    principal: Decimal
    balance: Decimal
    stage: str
    opened_at: datetime
    strategy_arm: str | None = None


class CaseUpdate(Contract):
    """The case row as the case stands: what `status` reads without asking the workflow."""

    fact: Literal["case"] = "case"
    case_id: str
    stage: str
    balance: Decimal
    segment: str | None = None
    closed_at: datetime | None = None
    outcome_reason: str | None = None
    next_action_at: datetime | None = None
    status: dict[str, Any] | None = None  # the `status` query's answer at this write


class ScoreRequest(Contract):
    """Score the case as the ledger has it at `at`, once the facts it is owed are written."""

    case_id: str
    key: str
    trigger: ScoreTrigger
    at: datetime
    owed: list[LedgerFact] = []


class ScoreResult(Contract):
    probability: float | None  # None: no model now, or the case is not assessed yet in the ledger
    model_version: str | None


class EventRecord(Contract):
    fact: Literal["event"] = "event"
    case_id: str
    key: str
    kind: str
    at: datetime
    data: dict[str, Any]


class ContactRequest(Contract):
    case_id: str
    key: str
    channel: Channel
    person: Person = Person.BORROWER
    phone_ref: str | None
    to: str
    template: str
    locale: str
    variables: dict[str, str]
    with_opt_out: bool
    step: int | None
    robot: bool
    guard: GuardDecision
    planned_at: datetime
    voicemail: bool = False  # a robot call may leave a limited-content message on a machine
    dial_by: datetime | None = None  # an agent's task: a call only once the guard allows its dial, before this
    owed: list[LedgerFact] = []  # the case's facts before this contact: written with its claim
    link_valid: timedelta | None = None  # the message carries a self-service link (`{link}`) valid this long
    link_code_to: str | None = None  # a letter's link: the borrower's number its one-time code goes to
    sender: Sender | None = None  # the case's policy's sender: an e-mail's From name, a letter's letterhead
    country: str | None = None  # the borrower's country: where a reply from this number is routed from


class ContactResult(Contract):
    key: str
    outcome: Outcome
    distress: bool
    provider: str
    message_id: str
    played: str = "none"  # what the answerer heard beyond the greeting: message, voicemail, identify, none


class ReceiptRecord(Contract):
    fact: Literal["receipt"] = "receipt"
    case_id: str
    key: str
    outcome: Outcome
    distress: bool
    at: datetime


class PaymentRecord(Contract):
    case_id: str
    reference: str
    amount: Decimal
    currency: str
    paid_at: datetime
    balance_after: Decimal
    owed: list[LedgerFact] = []  # the facts the payment made (the case row, an overpayment): one transaction
    allocation: dict[str, str] | None = None  # by component and any credit to refund (the balance engine)


class PromiseRecord(Contract):
    """A promise as it now stands; `at`: when, in the case's time (its row's created and updated times)."""

    fact: Literal["promise"] = "promise"
    case_id: str
    promise_id: str
    amount: Decimal
    due_date: date
    deadline: datetime
    taken_by: str
    status: PromiseStatus
    at: datetime | None = None  # None: recorded before promises carried their time (the database's clock)


class VisitRecord(Contract):
    fact: Literal["visit"] = "visit"
    case_id: str
    visit_id: str
    status: VisitStatus
    result: str | None = None
    collectors: list[str] | None = None
    distress: bool | None = None
    decided_by: str | None = None


class PlanRecord(Contract):
    fact: Literal["plan"] = "plan"
    case_id: str
    plan_id: str
    status: PlanStatus
    reason: str
    instalments: list[dict[str, Any]]
    penalty_waived: Decimal
    credit_effect: str
    decided_by: str | None = None


class EscalationRecord(Contract):
    fact: Literal["hand_off"] = "hand_off"
    case_id: str
    key: str
    kind: HandOff
    reason: str
    at: datetime


class IntakeRequest(Contract):
    """Loans that became overdue within `lookback_days` up to `day` (a missed run is caught up)."""

    day: date
    lookback_days: int = 7
    task_queue: str


class UpcomingRequest(Contract):
    """Loans not yet overdue falling due after `day` and within `look_ahead_days` of it (early warning)."""

    day: date
    look_ahead_days: int = Field(default=7, ge=1, le=60)
    task_queue: str


class UpcomingSummary(Contract):
    day: date
    considered: int = 0
    warned: int = 0
    control: int = 0
    not_at_risk: int = 0
    already_running: int = 0
    rejected: int = 0


class IntakeSummary(Contract):
    day: date
    considered: int = 0
    started: int = 0
    already_running: int = 0
    already_closed: int = 0
    rejected: int = 0
    rejected_loans: list[str] = []  # loan ids only (no personal data), the first 100
    early_warning: UpcomingSummary | None = None  # loans falling due soon, judged and watched (since the patch)


class EarlyWarningRecord(Contract):
    """An early warning's row (`early_warnings`): its group and risk, then its reminder, then its outcome."""

    fact: Literal["early_warning"] = "early_warning"
    case_id: str
    loan_id: str
    group: Literal["warned", "control"]
    risk: Decimal | None
    risk_by: str
    country: str
    currency: str
    amount_due: Decimal
    due_date: date
    started_at: datetime
    reminded_at: datetime | None = None
    outcome: Literal["paid_on_time", "overdue"] | None = None
    outcome_at: datetime | None = None


LedgerFact = Annotated[
    OpenCaseRequest | CaseUpdate | EventRecord | ReceiptRecord | PromiseRecord | VisitRecord | PlanRecord
    | EscalationRecord | EarlyWarningRecord,
    Field(discriminator="fact"),
]


class StepRecord(Contract):
    """What one step of a case owes the ledger, written in one transaction, in order."""

    case_id: str
    facts: list[LedgerFact]


# Defined before `LedgerFact`, these carry it: resolve the forward reference once, here.
ContactRequest.model_rebuild()
ScoreRequest.model_rebuild()
PaymentRecord.model_rebuild()
