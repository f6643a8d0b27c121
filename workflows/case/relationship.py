"""7. Relationship: paid in full, the case keeps a light touch for a while (credit-health reminders at
the policy's interval, within the same rules), then settles; an opt-out settles it at once."""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

from workflows.case import contact, hardship_plan, promise, relief
from workflows.case.core import CaseRun

with workflow.unsafe.imports_passed_through():
    from domain import schedule
    from domain.enums import Channel, PlanStatus, PromiseStatus, Stage


def paid_off(run: CaseRun) -> bool:
    """Paid in full and not yet in the relationship (or closed)."""
    return run.s.balance <= 0 and run.s.stage is not Stage.RELATIONSHIP and not run.s.stage.terminal


def enter_if_paid(run: CaseRun) -> None:
    if paid_off(run):
        enter(run)


def enter(run: CaseRun) -> None:
    """Paid in full: close what is open (a promise kept, a plan completed) and start the relationship."""
    s, policy = run.s, run.config.policy
    relief.paid_in_full(run)
    if s.promise is not None:
        promise.close(run, PromiseStatus.KEPT)
    if s.plan is not None and s.plan.status is PlanStatus.ACTIVE:
        s.plan.status = PlanStatus.COMPLETED
        hardship_plan.arrangement(run)
        hardship_plan.record(run)
    s.approvals = []
    s.flags.distress = False
    s.relationship_until = schedule.relationship_until(run.now, policy.relationship)
    s.relationship_next_at = schedule.reminder_at(run.now, policy.relationship)
    run.event("paid_in_full", {"total_paid": str(s.total_paid)})
    run.to_stage(Stage.RELATIONSHIP, "paid in full")


async def step(run: CaseRun) -> datetime | None:
    s = run.s
    assert s.relationship_until is not None and s.relationship_next_at is not None
    opted_out = s.flags.relationship_opt_out or s.flags.cease_all or Channel.SMS.value in s.flags.cease_channels
    if opted_out or run.now >= s.relationship_until:
        run.finish(Stage.SETTLED, None, "settled" + (" (reminders opted out)" if opted_out else ""))
        return None
    if run.now >= s.relationship_next_at:
        ref = contact.borrower_number(run)
        if ref is not None:
            result = await contact.contact(run, Channel.SMS, run.config.policy.relationship.template, ref, step=None,
                                           summary=f"Credit-health reminder {s.relationship_sent + 1}",
                                           unchanged=run.moment())
            deferral = contact.deferred(result)
            if deferral:
                assert deferral.until is not None
                s.relationship_next_at = deferral.until
                wake = schedule.relationship_wake(deferral.until, s.relationship_until)
                return run.plan_next("Credit-health reminder", wake)
            s.relationship_sent += 1
        s.relationship_next_at = schedule.reminder_at(run.now, run.config.policy.relationship)
    wake = schedule.relationship_wake(s.relationship_next_at, s.relationship_until)
    return run.plan_next("Credit-health reminder", wake)
