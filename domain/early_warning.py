"""Early warning (提前预测, 早期识别…提前介入干预): loans not yet overdue that the model or the rules find at
risk get a friendly reminder before their due date, inside every rule; a control group, dealt by a stable
hash, is watched but not reminded, so the report can show what the reminder changed.

Pure decisions: who is at risk, which group, when the reminder goes and when an unpaid loan is overdue.
The `UpcomingDue` workflow acts on them; unpaid, it becomes the case (`OverdueCase`) under the same id.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Literal

from pydantic import Field

from domain import clock
from domain.case_input import CaseInput
from domain.policy import EarlyWarningPolicy
from domain.strategy import bucket
from domain.values import Model, Money

Group = Literal["warned", "control"]
SHARES = 10_000  # the control share's resolution: 0.01%


class UpcomingLoan(Model):
    """What starts an early warning: the case as the loan system describes it (0 days past due, its due
    date ahead), who judged it at risk, and the group it was dealt."""

    case: CaseInput
    group: Group
    risk: float | None = Field(default=None, ge=0, le=1, description="the propensity, or the scorecard's rank")
    risk_by: str = Field(pattern=r"^(rules|model:[A-Za-z0-9._-]{1,64})$")


class EarlyWarningOutcome(Model):
    case_id: str
    group: Group
    paid_on_time: bool
    paid: Money
    reminded_at: datetime | None


def at_risk(risk: float, policy: EarlyWarningPolicy) -> bool:
    return risk < policy.at_risk_below


def group(case_id: str, policy: EarlyWarningPolicy) -> Group:
    """The control group: the policy's share of at-risk loans, by a stable hash of the case id."""
    return "control" if bucket(case_id, policy.salt, SHARES) < round(policy.control_share * SHARES) else "warned"


def amount_due(case: CaseInput) -> Decimal:
    """What falls due on the due date: the instalment where the loan system gives one, else the balance."""
    loan = case.loan
    return min(loan.instalments.amount, loan.outstanding_balance) if loan.instalments else loan.outstanding_balance


def remind_at(due: date, tz: str, policy: EarlyWarningPolicy, opens: time) -> datetime:
    """The reminder's day (the policy's lead before the due date) at the hour the packs' window opens, in
    the borrower's time; the guard still decides."""
    return clock.at_local(due - timedelta(days=policy.remind_before.days), opens, tz)


def overdue_at(due: date, tz: str, policy: EarlyWarningPolicy) -> datetime:
    """The first instant after the due date's end (borrower's time), plus the policy's grace."""
    return clock.at_local(due + timedelta(days=1), time(0), tz) + policy.grace


def days_past_due(due: date, now: datetime, tz: str) -> int:
    return max(1, (clock.local(now, tz).date() - due).days)
