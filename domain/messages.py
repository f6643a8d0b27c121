"""What operators, backends and providers send a case (updates and signals), and what an update answers."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Literal

from pydantic import Field, field_validator, model_validator

from domain.case_input import Address, EmergencyContact
from domain.enums import (
    CeaseScope,
    ContactResult,
    DelinquencyReason,
    HardshipReason,
    HardStop,
    Outcome,
    Party,
    Stage,
    VisitResult,
    VulnerabilityDriver,
)
from domain.policy import Role, Window
from domain.relief import ReliefRequest
from domain.values import AwareDatetime, CurrencyCode, EmailAddress, Model, Money, PositiveMoney, StaffId


class Payment(Model):
    amount: PositiveMoney
    paid_at: AwareDatetime
    reference: str = Field(min_length=1, max_length=128)
    currency: CurrencyCode | None = None


class PromiseRequest(Model):
    amount: PositiveMoney
    due_date: date
    taken_by: str = Field(default="agent", max_length=100)


class HardshipReport(Model):
    reason: HardshipReason
    details: str = Field(default="", max_length=2000)
    requested_instalments: int | None = Field(default=None, ge=2, le=60)
    waive_penalty: bool = False


class VisitOutcome(Model):
    """What the collectors report: who went, when they were there (so the visit window can be
    audited) and what came of it."""

    visit_id: str
    result: VisitResult
    collectors: list[str] = Field(min_length=1, max_length=5, description="the collectors' staff ids")
    started_at: AwareDatetime | None = Field(default=None, description="arrival (required for a new report)")
    ended_at: AwareDatetime | None = Field(default=None, description="departure (required for a new report)")
    distress: bool = False
    promise: PromiseRequest | None = None
    hardship: HardshipReport | None = None
    relief: ReliefRequest | None = Field(default=None, description="relief the collectors offered at the visit")
    notes: str = Field(default="", max_length=2000)


class ContactInfoUpdate(Model):
    mobile_numbers: list[str] | None = Field(default=None, max_length=5)
    email: EmailAddress | None = None
    address: Address | None = None
    emergency_contacts: list[EmergencyContact] | None = Field(default=None, max_length=5)

    @model_validator(mode="after")
    def _something(self) -> ContactInfoUpdate:
        if self.mobile_numbers is None and self.email is None and self.address is None \
                and self.emergency_contacts is None:
            raise ValueError("give at least one of mobile_numbers, email, address, emergency_contacts")
        return self


class ApprovalDecision(Model):
    approval_id: str
    approve: bool
    decided_by: str = Field(min_length=1, max_length=100)
    role: Role | None = Field(default=None, description="the approver's role, where the policy's approval matrix "
                              "asks for one (a relief offer)")
    note: str = Field(default="", max_length=2000)


class DeliveryReceipt(Model):
    attempt_key: str
    outcome: Outcome
    distress: bool = False
    at: AwareDatetime | None = None


class CeaseContact(Model):
    scope: CeaseScope
    channel: Literal["sms", "voice", "visit", "email", "letter"] | None = None
    number: str | None = None
    reason: str = Field(default="", max_length=500)

    @model_validator(mode="after")
    def _target(self) -> CeaseContact:
        if self.scope is CeaseScope.CHANNEL and self.channel is None:
            raise ValueError("scope 'channel' needs channel: sms, voice, visit, email or letter")
        if self.scope is CeaseScope.NUMBER and not self.number:
            raise ValueError("scope 'number' needs the number")
        return self


class BorrowerReply(Model):
    """A reply by SMS or e-mail that is not a stop: a person on the team reads it (its text is sealed in the
    journal under the case's key)."""

    channel: Literal["sms", "email"]
    text: str = Field(min_length=1, max_length=2000)
    received_at: AwareDatetime
    message_id: str = Field(min_length=1, max_length=160, description="the provider's id for the reply")


class DisputeRequest(Model):
    kind: Literal["debt", "identity_theft"] = Field(
        default="debt", description="identity_theft: the borrower says the debt is not theirs (15 USC 1681c-2)")
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


class ContactPreferences(Model):
    """The borrower's own restrictions (Reg F 1006.6(b)(1), CONC 7.9.4R): times, days and places that do not
    suit them, how they want to be contacted, and their language. They narrow the packs' rules, never widen
    them."""

    window: Window | None = Field(default=None, description="local times the borrower can be contacted")
    quiet_weekdays: list[int] = Field(default_factory=list, max_length=6,
                                      description="days never to contact them (0 Monday … 6 Sunday)")
    locale: str | None = Field(default=None, pattern=r"^[a-z]{2}(-[A-Z]{2})?$", description="their language")
    medium: Literal["sms", "voice", "email"] | None = Field(
        default=None, description="the only way they want to be contacted (statutory letters still go)")
    no_home_visits: bool = Field(default=False, description="their home is a place that does not suit them: "
                                                            "no field visit (every visit goes there)")
    reason: str = Field(default="", max_length=500)
    recorded_by: str = Field(min_length=1, max_length=100)

    @field_validator("quiet_weekdays")
    @classmethod
    def _weekdays(cls, days: list[int]) -> list[int]:
        if any(d not in range(7) for d in days):
            raise ValueError("weekdays are 0 (Monday) to 6 (Sunday)")
        return sorted(set(days))


class DialRequest(Model):
    """An agent about to dial a case's call task: the dialer asks first."""

    attempt_key: str = Field(min_length=1, max_length=160)
    agent: str = Field(min_length=1, max_length=100)


class DialPermission(Model):
    allowed: bool
    rule: str
    reason: str
    until: AwareDatetime | None = None  # not now: ask again from then
    expires_at: AwareDatetime | None = None  # the task's end (the contact window's close, that day)


class HardStopReport(Model):
    """A hard stop and its evidence (a court or filing reference, a death certificate's, a letter's)."""

    kind: HardStop
    evidence: str = Field(min_length=1, max_length=500)
    recorded_by: str = Field(min_length=1, max_length=100)


class VulnerabilityReport(Model):
    """Vulnerability as state. Its driver is sensitive data (PIPL): kept only with explicit consent."""

    driver: VulnerabilityDriver
    source: Literal["borrower", "agent", "visit", "third_party", "other"]
    consent_to_record: bool
    notes: str = Field(default="", max_length=2000)


class ThirdPartyRefusal(Model):
    number: str = Field(min_length=3, max_length=40)


class ComplaintRequest(Model):
    category: Literal["conduct", "contact", "amount", "privacy", "other"]
    details: str = Field(min_length=1, max_length=4000)
    channel: str = Field(default="phone", max_length=40)
    staff_id: StaffId | None = Field(default=None, description="a conduct complaint: the staff member it is about")


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


class UpdateResult(Model):
    """What every update answers: what it did and the case's stage after it."""

    accepted: bool = True
    message: str
    stage: Stage
    balance: Money
    ref: str | None = None


# --- the desk: outcomes, assignments, tasks ----------------------------------------------------


# What a conversation cannot lead to while the debt is disputed: collection pauses until it is verified.
PAUSED_BY_A_DISPUTE = (ContactResult.PROMISE, ContactResult.PAYMENT, ContactResult.HARDSHIP, ContactResult.CALL_BACK)


class ContactOutcome(Model):
    """What a call or a visit came to, as the agent or collector records it after the conversation."""

    channel: Literal["agent_call", "visit"]
    attempt_key: str | None = Field(default=None, max_length=160, description="the agent call task it answers")
    visit_id: str | None = Field(default=None, max_length=160, description="the visit it reports on")
    party: Party = Field(description="who answered: right_party (identity confirmed), wrong_party, third_party, none")
    reason: DelinquencyReason | None = Field(default=None, description="why the loan is late, as the borrower said")
    result: ContactResult = ContactResult.NONE
    call_back_at: AwareDatetime | None = Field(default=None, description="result call_back: when the borrower asked")
    promise: PromiseRequest | None = Field(default=None, description="result promise: its amount and date")
    duration_seconds: int = Field(default=0, ge=0, le=4 * 3600)
    agent: StaffId
    at: AwareDatetime = Field(description="when the conversation happened")
    notes: str = Field(default="", max_length=4000, description="free text: sealed in the ledger under the case's key")

    @model_validator(mode="after")
    def _coherent(self) -> ContactOutcome:
        if (self.channel == "visit") != (self.visit_id is not None):
            raise ValueError("a visit's outcome names its visit_id; a call's does not")
        if self.party is not Party.RIGHT_PARTY:
            if self.reason is not None:
                raise ValueError("a reason for delinquency comes only from the borrower (party right_party)")
            if self.result not in (ContactResult.NONE, ContactResult.CALL_BACK):
                raise ValueError(f"result {self.result.value} needs the borrower (party right_party)")
        if (self.result is ContactResult.CALL_BACK) != (self.call_back_at is not None):
            raise ValueError("result call_back goes with call_back_at (and call_back_at only with it)")
        if (self.result is ContactResult.PROMISE) != (self.promise is not None):
            raise ValueError("result promise goes with a promise (amount and due_date), and a promise only with it")
        if self.result is ContactResult.HARDSHIP and self.reason is None:
            raise ValueError("result hardship needs the reason for delinquency")
        if self.disputes and self.result in PAUSED_BY_A_DISPUTE:
            raise ValueError(f"a disputed debt takes no {self.result.value}: record the dispute (collection pauses)")
        return self

    @property
    def disputes(self) -> bool:
        """The borrower disputes the debt (or says it is not theirs): a dispute opens."""
        return self.reason in (DelinquencyReason.DISPUTE, DelinquencyReason.FRAUD_CLAIM) \
            or self.result is ContactResult.DISPUTE


class Assignment(Model):
    """A case put in a team's queue, and in an agent's for a lease (it returns to the team when it ends)."""

    team: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    agent: StaffId | None = Field(default=None, description="None: the team's queue, nobody's in particular")
    lease: timedelta | None = Field(default=None, description="how long the agent holds it (else the policy's)")
    by: StaffId = Field(default="operator", description="who assigned it: a staff id")


class Release(Model):
    agent: StaffId = Field(description="the agent who holds the case: only they release it")
    note: str = Field(default="", max_length=500)


class TaskDone(Model):
    task_id: str = Field(max_length=160)
    by: StaffId
    finding: str = Field(default="", max_length=4000, description="what was found or done (sealed in the ledger)")

    @field_validator("finding")
    @classmethod
    def _trimmed(cls, v: str) -> str:
        return v.strip()
    cancelled: bool = Field(default=False, description="no longer needed (say why in `finding`)")
