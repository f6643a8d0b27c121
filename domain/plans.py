"""Promises and hardship plans: deadlines, whether they were kept, and what a plan offers."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import ROUND_DOWN, Decimal

from domain import clock
from domain.books import months_after
from domain.case_input import Loan
from domain.enums import PlanStatus
from domain.messages import HardshipReport
from domain.money import minor_unit
from domain.policy import HardshipPolicy, PromisePolicy
from domain.state import HardshipPlan, Instalment, PromiseToPay


def promise_problem(amount: Decimal, due: date, today: date, balance: Decimal, policy: PromisePolicy) -> str | None:
    """Why a promise cannot be taken, or None. `today` is the borrower's local date."""
    if due < today:
        return f"due_date {due} is in the past (today is {today} for the borrower)"
    if due > today + timedelta(days=policy.max_days_ahead):
        return f"due_date is more than {policy.max_days_ahead} days ahead"
    if amount > balance:
        return f"amount {amount} is more than the balance {balance}"
    return None


def promise_deadline(due: date, tz: str, grace: timedelta) -> datetime:
    """The end of the due date in the borrower's time, plus grace."""
    return clock.end_of_local_day(due, tz) + grace


def promise_kept(promise: PromiseToPay, total_paid: Decimal) -> bool:
    return total_paid - promise.paid_at_start >= promise.amount


def propose_plan(
    plan_id: str,
    report: HardshipReport,
    loan: Loan,
    balance: Decimal,
    paid_so_far: Decimal,
    now: datetime,
    tz: str,
    policy: HardshipPolicy,
    penalty: Decimal | None = None,
) -> HardshipPlan:
    """Equal instalments over a longer term; penalties waived when asked. Approval is needed above
    the policy's thresholds. No lump sum, no new borrowing: the first instalment is one share."""
    count = report.requested_instalments or policy.default_instalments
    accrued = loan.penalties_accrued if penalty is None else penalty  # the books' penalty, where kept
    waiver = min(accrued, balance) if report.waive_penalty else Decimal("0")
    to_spread = balance - waiver
    share = (to_spread / count).quantize(minor_unit(loan.currency), rounding=ROUND_DOWN)
    first_due = clock.local(now, tz).date()
    instalments = []
    for n in range(1, count + 1):
        amount = share if n < count else to_spread - share * (count - 1)
        due_at = now + policy.instalment_interval * n
        due = clock.local(due_at, tz).date()
        instalments.append(
            Instalment(number=n, due_date=max(due, first_due), amount=amount,
                       deadline=max(due_at, clock.end_of_local_day(due, tz)) + policy.grace)
        )
    needs_approval = count > policy.approval_above_instalments or waiver > policy.approval_above_waiver
    effect = (
        f"{count} instalments of about {share} {loan.currency}; reported to the credit bureau as an "
        "arrangement to pay" + (f"; penalties of {waiver} waived" if waiver else "")
    )
    return HardshipPlan(
        plan_id=plan_id, reason=report.reason, instalments=instalments, penalty_waived=waiver,
        needs_approval=needs_approval, status=PlanStatus.PENDING_APPROVAL if needs_approval else PlanStatus.ACTIVE,
        paid_at_start=paid_so_far, credit_effect=effect,
    )


def instalments_covered(plan: HardshipPlan, total_paid: Decimal) -> Decimal:
    """How much of the plan has been paid since it started (payments count in instalment order)."""
    return total_paid - plan.paid_at_start


def due_instalment_shortfall(plan: HardshipPlan, total_paid: Decimal, upto: int) -> Decimal:
    """What is missing for instalments 1..upto to be paid."""
    owed = sum((i.amount for i in plan.instalments[:upto]), Decimal("0"))
    return max(Decimal("0"), owed - instalments_covered(plan, total_paid))


def token_instalments(months: int, amount: Decimal, accepted: datetime, tz: str, grace: timedelta) -> list[Instalment]:
    """Token payments: one a month for `months`, each due on the acceptance's day of the month, with the
    plan's grace."""
    start = clock.local(accepted, tz).date()
    out = []
    for n in range(1, months + 1):
        due = months_after(start, n)
        out.append(Instalment(number=n, due_date=due, amount=amount, deadline=clock.end_of_local_day(due, tz) + grace))
    return out
