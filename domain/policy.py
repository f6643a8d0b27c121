"""Policy profiles and rule packs: the numbers are data, validated when they are loaded.

A *policy profile* is the lender's own treatment: schedules, waits, thresholds (files in
`config/policies/`). A *rule pack* is what a regulator set: windows, caps, crisis lines (files in
`config/rulepacks/`). A case combines its country's pack with any stricter ones it names; the
most restrictive value wins (`combine_packs`).
"""

from __future__ import annotations

from datetime import date, time, timedelta
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.enums import Channel, Segment


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- Rule packs -------------------------------------------------------------------------------


class Window(Strict):
    start: time
    end: time

    @model_validator(mode="after")
    def _order(self) -> Window:
        if self.start >= self.end:
            raise ValueError("window start must be before its end (same local day)")
        return self


class VoiceCaps(Strict):
    max_interactions_per_day: int | None = Field(default=None, ge=0)
    max_unanswered_per_number_per_day: int | None = Field(default=None, ge=0)
    max_attempts_per_7_days: int | None = Field(default=None, ge=0)
    quiet_days_after_conversation: int | None = Field(default=None, ge=0)


class CrisisLine(Strict):
    name: str
    number: str


class Moratorium(Strict):
    """A debt-respite scheme (England and Wales: Breathing Space)."""

    standard_days: int = Field(ge=1)
    after_crisis_treatment_days: int = Field(ge=0)


class HandOffRules(Strict):
    """What a regulator requires before a credit-bureau report or a legal / recovery hand-off."""

    credit_report_min_days_past_due: int | None = Field(default=None, ge=0)
    legal_min_days_past_due: int | None = Field(default=None, ge=0)
    message_counts_as_reached_after_days: int | None = Field(
        default=None, ge=0, description="a message delivered to the borrower this many days ago, unreturned, "
        "counts as having communicated (otherwise only a conversation does)")


class ValidationNotice(Strict):
    """A written notice of the debt and the borrower's rights, at or soon after the first communication."""

    within_days: int = Field(ge=0, description="sent at most this many days after the first communication")
    assumed_receipt_days: int = Field(ge=0, description="days after posting it is taken as received")
    validation_days: int = Field(ge=1, description="the period after receipt to dispute in writing")


class ArrearsNotice(Strict):
    """A notice of sums in arrears once the shortfall reaches the last few instalments, then again at
    intervals while it lasts."""

    instalments: int = Field(ge=1, description="shortfall of at least this many of the last instalments")
    weekly_instalments: int = Field(ge=1, description="the same, when instalments fall a week apart or less")
    within_days: int = Field(ge=0, description="posted at most this many days after the shortfall is reached")
    repeat_days: int = Field(ge=1, description="posted again at most this many days after the last one")


Component = Literal["fees", "penalty", "interest", "principal"]
ALLOCATION_ORDER: tuple[Component, ...] = ("fees", "penalty", "interest", "principal")


class Charges(Strict):
    """What a regulator lets accrue on a debt in collection, whatever the agreement says."""

    annual_cost_cap: Decimal | None = Field(default=None, ge=0, le=1, description="interest, penalty interest "
                                            "and fees together, a year, as a share of the principal")
    penalty_allowed: bool = True
    collection_fees: bool = Field(default=False, description="the engine may add a fee for collecting")
    freeze_in_moratorium: bool = Field(default=False, description="nothing accrues during a debt-respite "
                                       "moratorium, and nothing is added for it afterwards")
    allocation_order: tuple[Component, ...] | None = Field(default=None, description="the order a payment is "
                                                           "applied in where the agreement names none")

    @model_validator(mode="after")
    def _each_once(self) -> Charges:
        if self.allocation_order is not None and sorted(self.allocation_order) != sorted(ALLOCATION_ORDER):
            raise ValueError(f"an allocation order names each of {', '.join(ALLOCATION_ORDER)} once")
        return self


def strictest_charges(rules: list[Charges]) -> Charges:
    """The lowest cap; penalty and fees only where every pack allows them; any freeze; the first pack's
    order (the borrower's country)."""
    caps = [r.annual_cost_cap for r in rules if r.annual_cost_cap is not None]
    return Charges(annual_cost_cap=min(caps) if caps else None, penalty_allowed=all(r.penalty_allowed for r in rules),
                   collection_fees=all(r.collection_fees for r in rules) if rules else False,
                   freeze_in_moratorium=any(r.freeze_in_moratorium for r in rules),
                   allocation_order=next((r.allocation_order for r in rules if r.allocation_order), None))


class RulePack(Strict):
    name: str
    version: str
    countries: list[str]
    sources: list[str]
    secondary: list[str] = Field(default_factory=list, description="figures from secondary sources")
    contact_window: Window
    visit_window: Window
    voice: VoiceCaps
    min_visit_collectors: int = Field(ge=1)
    unreachable_after_failures: int = Field(ge=1)
    sms_requires_opt_out: bool
    crisis_line: CrisisLine
    third_party_max_each: int | None = Field(default=None, ge=0, description="messages per third party, ever")
    moratorium: Moratorium | None = None
    records_retention_years: int | None = None
    handoff: HandOffRules = Field(default_factory=HandOffRules)
    robot_calls_need_consent: bool = Field(default=False, description="robot calls only to numbers with the "
                                           "borrower's recorded prior express consent")
    third_parties_location_only: bool = Field(default=False, description="third parties are asked for the "
                                              "borrower's location only, never to pass on a message")
    validation_notice: ValidationNotice | None = None
    default_notice_days: int | None = Field(default=None, ge=1, description="a default notice at least this many "
                                            "days before any legal hand-off (its remedy period)")
    arrears_notice: ArrearsNotice | None = None
    credit_report_notice: bool = Field(default=False, description="the borrower is told in writing before any "
                                       "credit-bureau report")
    visit_notice_days: int | None = Field(default=None, ge=1, description="a written notice of an initial field "
                                          "visit, its purpose and date, at least this many days before it")
    limitation_years: int | None = Field(default=None, ge=1, description="a claim is time-barred this many years "
                                         "after the first missed due date (no legal hand-off, no suit suggested)")
    voicemail: Literal["limited_content", "none"] = Field(
        default="none", description="what a robot call may leave on a machine: a limited-content message (the "
        "caller's neutral name, a callback number, a request to reply), or nothing")
    charges: Charges = Field(default_factory=Charges)
    credit_effects: dict[str, str] = Field(default_factory=dict, description="how a credit record shows each "
                                           "kind of relief, as this jurisdiction's reporting does")


class EffectiveRules(Strict):
    """The most restrictive combination of a case's packs; `packs` names each `name@version`."""

    packs: list[str]
    contact_window: Window
    visit_window: Window
    voice: VoiceCaps
    min_visit_collectors: int
    unreachable_after_failures: int
    sms_requires_opt_out: bool
    crisis_line: CrisisLine
    third_party_max_each: int | None
    moratorium: Moratorium | None
    handoff: HandOffRules = Field(default_factory=HandOffRules)
    robot_calls_need_consent: bool = False
    third_parties_location_only: bool = False
    voicemail: Literal["limited_content", "none"] = "none"
    limitation_years: int | None = None
    validation_notice: ValidationNotice | None = None
    default_notice_days: int | None = None
    arrears_notice: ArrearsNotice | None = None
    credit_report_notice: bool = False
    visit_notice_days: int | None = None
    quiet_days: list[date] = Field(default_factory=list, description="no contact on these local dates")
    charges: Charges = Field(default_factory=Charges)
    credit_effects: dict[str, str] = Field(default_factory=dict)


def _min(values: list[int | None]) -> int | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def _max(values: list[int | None]) -> int | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def _strictest_arrears(rules: list[ArrearsNotice]) -> ArrearsNotice | None:
    """The soonest notice: the fewest instalments, the fewest days."""
    if not rules:
        return None
    return ArrearsNotice(instalments=min(r.instalments for r in rules),
                         weekly_instalments=min(r.weekly_instalments for r in rules),
                         within_days=min(r.within_days for r in rules), repeat_days=min(r.repeat_days for r in rules))


def _narrowest(windows: list[Window]) -> Window:
    start, end = max(w.start for w in windows), min(w.end for w in windows)
    if start >= end:
        raise ValueError("the packs' contact windows do not overlap")
    return Window(start=start, end=end)


def combine_packs(packs: list[RulePack]) -> EffectiveRules:
    """Most restrictive wins; the first pack (the borrower's country) gives the crisis line."""
    if not packs:
        raise ValueError("a case needs at least one rule pack")
    return EffectiveRules(
        packs=[f"{p.name}@{p.version}" for p in packs],
        contact_window=_narrowest([p.contact_window for p in packs]),
        visit_window=_narrowest([p.visit_window for p in packs]),
        voice=VoiceCaps(
            max_interactions_per_day=_min([p.voice.max_interactions_per_day for p in packs]),
            max_unanswered_per_number_per_day=_min(
                [p.voice.max_unanswered_per_number_per_day for p in packs]
            ),
            max_attempts_per_7_days=_min([p.voice.max_attempts_per_7_days for p in packs]),
            quiet_days_after_conversation=_max(
                [p.voice.quiet_days_after_conversation for p in packs]
            ),
        ),
        min_visit_collectors=max(p.min_visit_collectors for p in packs),
        # more failures before "unreachable": emergency contacts are asked later, never sooner
        unreachable_after_failures=max(p.unreachable_after_failures for p in packs),
        sms_requires_opt_out=any(p.sms_requires_opt_out for p in packs),
        crisis_line=packs[0].crisis_line,
        third_party_max_each=_min([p.third_party_max_each for p in packs]),
        moratorium=next((p.moratorium for p in packs if p.moratorium), None),
        robot_calls_need_consent=any(p.robot_calls_need_consent for p in packs),
        third_parties_location_only=any(p.third_parties_location_only for p in packs),
        limitation_years=_min([p.limitation_years for p in packs]),  # barred soonest: no suit after it
        validation_notice=next((p.validation_notice for p in packs if p.validation_notice), None),
        default_notice_days=_max([p.default_notice_days for p in packs]),
        arrears_notice=_strictest_arrears([p.arrears_notice for p in packs if p.arrears_notice]),
        visit_notice_days=_max([p.visit_notice_days for p in packs]),
        credit_report_notice=any(p.credit_report_notice for p in packs),
        voicemail="limited_content" if all(p.voicemail == "limited_content" for p in packs) else "none",
        charges=strictest_charges([p.charges for p in packs]),
        credit_effects=packs[0].credit_effects,  # the borrower's country's bureaus
        handoff=HandOffRules(
            credit_report_min_days_past_due=_max([p.handoff.credit_report_min_days_past_due for p in packs]),
            legal_min_days_past_due=_max([p.handoff.legal_min_days_past_due for p in packs]),
            message_counts_as_reached_after_days=_max(
                [p.handoff.message_counts_as_reached_after_days for p in packs]),
        ),
    )


# --- Policy profiles --------------------------------------------------------------------------


MessageChannel = Literal["sms", "email", "letter"]


class ContactPolicy(Strict):
    quiet_on_public_holidays: bool = Field(description="treat the borrower's public holidays as quiet days")
    holiday_years: int = Field(default=3, ge=1, le=10, description="years of holidays fixed at the case's start")
    max_messages_per_7_days: dict[MessageChannel, int] = Field(
        default_factory=dict, description="the lender's own cap on written messages to the borrower by channel in "
        "any 7 days (no regulator sets one: the packs' harassment rules are about calls)")


class ContactStep(Strict):
    channel: Literal[Channel.SMS, Channel.ROBOT_CALL, Channel.AGENT_CALL, Channel.EMAIL, Channel.LETTER]
    after: timedelta = Field(description="wait after the previous step (or the assessment)")
    template: str
    link: bool = Field(default=False, description="the message carries the borrower's self-service link "
                       "(its template has {link}); SMS, e-mail or a letter (whose code goes by SMS)")

    @model_validator(mode="after")
    def _link_in_a_message(self) -> ContactStep:
        if self.link and self.channel not in (Channel.SMS, Channel.EMAIL, Channel.LETTER):
            raise ValueError("a self-service link goes by SMS, e-mail or letter")
        return self


class SegmentTreatment(Strict):
    schedule: list[ContactStep] = Field(min_length=1)
    field_visit: bool
    escalate_at_end: bool = Field(description="hand off to recovery when the path is exhausted")


class Sender(Strict):
    name: str = Field(min_length=1)
    neutral_name: str = Field(min_length=1, description="to third parties: says nothing of a debt")
    contact_number: str = Field(min_length=3)


class VerificationPolicy(Strict):
    update_wait: timedelta


class VisitPolicy(Strict):
    min_balance: Decimal = Field(ge=0)
    outcome_deadline: timedelta
    earliest_after_approval: timedelta = timedelta(0)


class PromisePolicy(Strict):
    grace: timedelta
    max_days_ahead: int = Field(ge=1)
    max_broken: int = Field(ge=0, description="broken promises before the path ends")


class HardshipPolicy(Strict):
    default_instalments: int = Field(ge=2)
    instalment_interval: timedelta
    grace: timedelta
    approval_above_instalments: int = Field(ge=1)
    approval_above_waiver: Decimal = Field(ge=0)


Role = Literal["agent", "supervisor", "manager"]
ROLES: tuple[Role, ...] = ("agent", "supervisor", "manager")  # each may approve what those before it may
ReliefKind = Literal["interest_freeze", "token_payment", "longer_term", "settlement", "penalty_waiver"]


class ApprovalLimit(Strict):
    """One row of the approval matrix: what a role may grant on its own word."""

    role: Role
    kinds: list[ReliefKind] = Field(min_length=1)
    max_cost: dict[str, Decimal] = Field(default_factory=dict, description="by currency; a currency not named "
                                         "here is not within this row")
    max_share: Decimal = Field(ge=0, le=1, description="the cost as a share of the balance")


class ReliefPolicy(Strict):
    """What relief the lender offers, for how long, and who may grant how much (the approval matrix)."""

    max_months: int = Field(default=12, ge=1, le=60)
    offer_valid: timedelta = Field(default=timedelta(days=14), description="an offer lapses this long after it "
                                   "is made unless accepted")
    settlement_min_share: Decimal = Field(default=Decimal("0.5"), gt=0, le=1, description="the least share of "
                                          "the balance a settlement may ask")
    token_min_share: Decimal = Field(default=Decimal("0.005"), gt=0, le=1, description="a token payment's "
                                     "least monthly share of the balance")
    matrix: list[ApprovalLimit] = Field(default_factory=list, description="no row for an offer: refused")

    def approver(self, kind: str, cost: Decimal, share: Decimal, currency: str) -> Role | None:
        """The least role whose row covers the offer, or None: outside the policy's limits."""
        for role in ROLES:
            for row in self.matrix:
                if row.role == role and kind in row.kinds and share <= row.max_share \
                        and currency in row.max_cost and cost <= row.max_cost[currency]:
                    return role
        return None


class BooksPolicy(Strict):
    """How the engine keeps the books: whether it accrues the loan's interest and penalty itself (or the
    loan system does and sends balances), and what freezes accrual beyond the packs' own freezes."""

    accrue: bool = True
    freeze_during_plan: bool = Field(default=True, description="no interest while an arrangement to pay is kept")
    allocation_order: tuple[Component, ...] | None = Field(default=None, description="the agreement's order for "
                                                           "applying payments (else the pack's, else fees first)")
    relief: ReliefPolicy = Field(default_factory=ReliefPolicy)


class RelationshipPolicy(Strict):
    reminder_interval: timedelta
    duration: timedelta
    template: str


class WellbeingPolicy(Strict):
    review_within: timedelta


class ComplaintPolicy(Strict):
    acknowledge_within: timedelta
    resolve_within: timedelta
    pause_contact: bool = Field(description="hold all contact while a complaint is open")


class DeskPolicy(Strict):
    """How people's work on a case is organised: leases on assignments, deadlines for what people owe
    the case, and who may visit. The lender's own choices (no regulator sets these)."""

    lease: timedelta = Field(default=timedelta(hours=8), description="an assignment's lease when none is asked")
    lease_max: timedelta = Field(default=timedelta(days=7), description="the longest lease an assignment may ask")
    approval_within: timedelta = Field(default=timedelta(days=2), description="an approval is late after this")
    investigation_within: timedelta = Field(
        default=timedelta(days=14), description="a conduct investigation's deadline, for the staff member's supervisor")
    contact_data_within: timedelta = Field(default=timedelta(days=5), description="a contact-data task's deadline")
    collector_training: str = Field(default="collections-conduct", min_length=1, max_length=64,
                                    description="the course a collector must hold, unexpired, to be dispatched")
    collectors_retry: timedelta = Field(default=timedelta(days=1),
                                        description="with too few trained collectors in the region: look again after")
    collectors_wait_max: timedelta = Field(default=timedelta(days=7), description="then the visit is given up: "
                                           "the end of the path (a person decides what follows)")
    late_after: timedelta = Field(default=timedelta(hours=1), description="a task not done this long after its "
                                  "due time goes to a supervisor")
    care_team: str = Field(default="care", min_length=1, max_length=64,
                           description="who takes a borrower's request to talk to a person")
    replies_team: str = Field(default="collections", min_length=1, max_length=64,
                              description="who reads a borrower's reply that is not a stop")
    answer_within: timedelta = Field(default=timedelta(hours=4), description="a reply or a request to talk is "
                                     "answered by a person within this")


class SelfServicePolicy(Strict):
    """What the borrower's own page offers and how long its links live. The lender's choices."""

    link_valid: timedelta = Field(default=timedelta(days=14), description="a link opens the page this long")
    plan_instalments: list[int] = Field(default_factory=lambda: [3, 6], description="the plans the page offers: "
                                        "numbers of monthly instalments (within the hardship policy's limits)")

    @model_validator(mode="after")
    def _plans(self) -> SelfServicePolicy:
        if any(n < 2 or n > 60 for n in self.plan_instalments):
            raise ValueError("a plan has 2 to 60 instalments")
        return self


class ThirdPartyPolicy(Strict):
    max_messages_each: int = Field(ge=0, description="the lender's own cap; a pack's stricter cap wins")


class ScorecardPolicy(Strict):
    """Segment thresholds on the 0-100 scores of `domain.scorecard`."""

    hardship_below_ability: int = Field(ge=0, le=100)
    high_risk_below_willingness: int = Field(ge=0, le=100)


class PropensityPolicy(Strict):
    """How the lender uses a propensity model (docs/steering.md): the label's horizon the model is trained
    for, and the scores that move a case to the gentle or the strict path (`domain.propensity.segment`).
    The lender's own choices; no regulator sets them."""

    horizon: timedelta = Field(default=timedelta(days=30), description="cured within this long of the case's start")
    low_risk_from: float = Field(default=0.6, ge=0, le=1)
    high_risk_below: float = Field(default=0.25, ge=0, le=1)

    @model_validator(mode="after")
    def _order(self) -> PropensityPolicy:
        if self.high_risk_below > self.low_risk_from:
            raise ValueError("propensity: high_risk_below must not exceed low_risk_from")
        return self


class EarlyWarningPolicy(Strict):
    """Loans not yet overdue (docs/steering.md): who counts as at risk, the share kept back as a control
    group, when the friendly reminder goes, and when an unpaid loan becomes a case (how far ahead the export
    is read is the daily intake's `look_ahead_days`). The lender's own choices; no regulator sets them."""

    remind_before: timedelta = Field(default=timedelta(days=3), description="reminded this long before the due date")
    at_risk_below: float = Field(default=0.5, ge=0, le=1,
                                 description="a propensity (no model: the scorecard's rank) below this is at risk")
    control_share: float = Field(default=0.2, ge=0, lt=1, description="of those at risk, watched but not reminded")
    salt: str = Field(default="early-warning-1", min_length=1, max_length=40)
    template: str = "upcoming_due"
    grace: timedelta = Field(default=timedelta(0), description="overdue this long after the due date's end")


class HandOffPolicy(Strict):
    """The lender's own floor before a hand-off (a pack's stricter figure wins)."""

    credit_report_min_days_past_due: int = Field(default=0, ge=0)
    legal_min_days_past_due: int = Field(default=0, ge=0)
    message_counts_as_reached_after_days: int = Field(
        default=14, ge=0, description="a delivered message counts as having communicated after this many days")


class PolicyProfile(Strict):
    name: str
    version: str
    description: str = ""
    sender: Sender
    contact: ContactPolicy
    scorecard: ScorecardPolicy
    verification: VerificationPolicy
    segments: dict[Segment, SegmentTreatment]
    visit: VisitPolicy
    promise: PromisePolicy
    hardship: HardshipPolicy
    relationship: RelationshipPolicy
    wellbeing: WellbeingPolicy
    complaints: ComplaintPolicy
    third_party: ThirdPartyPolicy
    handoff: HandOffPolicy = Field(default_factory=HandOffPolicy)
    books: BooksPolicy = Field(default_factory=BooksPolicy)
    desk: DeskPolicy = Field(default_factory=DeskPolicy)
    propensity: PropensityPolicy = Field(default_factory=PropensityPolicy)
    early_warning: EarlyWarningPolicy = Field(default_factory=EarlyWarningPolicy)
    self_service: SelfServicePolicy = Field(default_factory=SelfServicePolicy)
    activity_timeout: timedelta = timedelta(seconds=30)
    history_event_budget: int | None = Field(
        default=None, ge=20, description="continue-as-new past this many events (else the server's hint)"
    )

    @model_validator(mode="after")
    def _all_segments(self) -> PolicyProfile:
        missing = [s.value for s in Segment if s not in self.segments]
        if missing:
            raise ValueError(f"segments missing a treatment: {', '.join(missing)}")
        return self


class CaseConfig(Strict):
    """What a case fixes at its start, so replays decide exactly as the first run did."""

    policy: PolicyProfile
    rules: EffectiveRules
    arm: str | None = None  # the champion/challenger arm the case was dealt (`domain.strategy`); None: no trial
    model: str | None = None  # the propensity model the worker had at the case's start; None: the rules alone


_SHARED: dict[str, CaseConfig] = {}
SHARED_LIMIT = 256  # distinct configurations kept; a process sees a handful (policy × country × year)


def shared(config: CaseConfig) -> CaseConfig:
    """The one copy of this configuration that every case in the process holds. Cases fix their
    configuration at their start and never change it (the models are frozen), so thousands of cached
    cases can share a few copies instead of carrying about 23 KB each."""
    key = config.model_dump_json()
    if key not in _SHARED:
        if len(_SHARED) >= SHARED_LIMIT:
            _SHARED.clear()
        _SHARED[key] = config
    return _SHARED[key]
