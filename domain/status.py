"""What a case shows: the `status` query and the outcome a closed case returns."""

from __future__ import annotations

from domain.desk import Desk
from domain.enums import Segment, Stage
from domain.policy import Window
from domain.relief import ReliefOffer
from domain.scripts import ChosenScript
from domain.state import ContactAttempt, HardshipPlan, NextAction, PendingApproval, PromiseToPay, Visit, Vulnerability
from domain.statement import Statement
from domain.values import Model, Money


class BorrowerPreferences(Model):
    """The borrower's own restrictions in force (`ContactPreferences`, as last recorded): what their page
    shows and keeps when they change one of them."""

    window: Window | None = None
    quiet_weekdays: list[int] = []
    medium: str | None = None
    no_home_visits: bool = False
    locale: str | None = None


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
    statement: Statement | None = None  # the balance engine's (None: a case opened before it)
    offers: list[ReliefOffer] = []  # relief offers still open, accepted or awaiting approval
    desk: Desk | None = None  # who works the case, its tasks, the borrower's profile (None: opened before the desk)
    script: ChosenScript | None = None  # what to say now, and why (the worker's script library)
    strategy_arm: str | None = None  # the champion/challenger arm the case was dealt (None: no trial)
    propensity: float | None = None  # the latest propensity-to-pay score (None: the rules alone)
    model_version: str | None = None  # the model that gave it
    preferences: BorrowerPreferences | None = None  # the borrower's own restrictions (None: a copy saved before)


class CaseOutcome(Model):
    case_id: str
    stage: Stage
    balance: Money
    total_paid: Money
    reason: str

