"""5a. Promise to pay: taken by an agent, a collector or the borrower, followed by a durable timer to
the end of its due date plus grace (borrower's time). Kept: back to monitoring. Broken: the schedule
resumes, and after the policy's number of broken promises the path ends."""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

from workflows.case import field_visit, money, remote_contact, scoring
from workflows.case.core import CaseRun

with workflow.unsafe.imports_passed_through():
    from activities.contracts import PromiseRecord
    from domain import clock, plans
    from domain.enums import PromiseStatus, ScoreTrigger, Stage
    from domain.messages import PromiseRequest
    from domain.state import PromiseToPay


def problem(run: CaseRun, request: PromiseRequest, validating: bool = True) -> str | None:
    """Why this promise cannot be taken now, or None (`domain.plans.promise_problem`). An amount finer than
    the currency is the validator's to refuse; a handler (which may replay an older history) lets it be."""
    if validating:
        try:
            run.exact(request.amount)
        except ValueError as e:
            return str(e)
    if run.s.config is None:
        return None  # checked again by the handler once the case has its policy
    today = clock.local(run.now, run.case.borrower.timezone).date()
    balance = money.balance_today(run)
    return plans.promise_problem(request.amount, request.due_date, today, balance, run.config.policy.promise)


def take(run: CaseRun, request: PromiseRequest) -> tuple[str, str]:
    """Enter the promise stage: record the promise and set its deadline."""
    s = run.s
    deadline = plans.promise_deadline(request.due_date, run.case.borrower.timezone, run.config.policy.promise.grace)
    promise = PromiseToPay(promise_id=run.key("promise"), amount=request.amount, due_date=request.due_date,
                           deadline=deadline, paid_at_start=s.total_paid, taken_by=request.taken_by)
    s.promise = promise
    run.wake = True
    record(run, promise, PromiseStatus.OPEN)
    run.to_stage(Stage.PROMISE, "promise to pay taken")
    return f"promise of {promise.amount} by {promise.due_date} recorded", promise.promise_id


async def step(run: CaseRun) -> datetime | None:
    s, promise = run.s, run.s.promise
    if promise is None:  # the last promise broke and the path ended here: its hand-off is being decided
        return await field_visit.enter(run)
    if plans.promise_kept(promise, s.total_paid):
        close(run, PromiseStatus.KEPT)
        return remote_contact.resume(run, "promise kept: back to monitoring")
    if run.now >= promise.deadline:
        close(run, PromiseStatus.BROKEN)
        s.promises_broken += 1
        scoring.want(run, ScoreTrigger.BROKEN_PROMISE)
        if s.promises_broken > run.config.policy.promise.max_broken:
            return await field_visit.enter(run)
        return remote_contact.resume(run, "promise broken: treatment resumes at the next step")
    return run.plan_next(f"Promise due {promise.due_date}, grace to {promise.deadline:%Y-%m-%d %H:%M} UTC",
                         promise.deadline)


def close(run: CaseRun, status: PromiseStatus) -> None:
    promise = run.s.promise
    assert promise is not None
    promise.status = status
    record(run, promise, status)
    run.s.promise = None


def record(run: CaseRun, promise: PromiseToPay, status: PromiseStatus) -> None:
    run.owe(PromiseRecord(
        case_id=run.case_id, promise_id=promise.promise_id, amount=promise.amount, due_date=promise.due_date,
        deadline=promise.deadline, taken_by=promise.taken_by, status=status, at=run.now))
