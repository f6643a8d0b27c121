"""5b. Hardship plan: when the borrower cannot pay, instalments (and a penalty waiver) instead of
pressure; above the policy's thresholds a supervisor approves. Each instalment has its own durable
deadline; a missed one breaks the plan and the schedule resumes."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from temporalio import workflow

from workflows.case import money, promise, remote_contact
from workflows.case.core import ARRANGEMENT_EVENTS, CaseRun

with workflow.unsafe.imports_passed_through():
    from activities.contracts import PlanRecord
    from domain import plans
    from domain.enums import ApprovalKind, InstalmentStatus, PlanStatus, PromiseStatus, ReliefStatus, Stage
    from domain.messages import HardshipReport
    from domain.payments import waive
    from domain.state import Instalment


def propose(run: CaseRun, report: HardshipReport, approved: bool = False, offer_id: str | None = None,
            token: tuple[list[Instalment], datetime, str] | None = None) -> tuple[str, str]:
    """Enter the plan stage: propose a plan from the report, active at once or awaiting approval (a relief
    offer's plan was approved as an offer)."""
    s = run.s
    s.flags.hardship = True
    if s.books is not None:  # the plan spreads today's balance, and waives the penalty the books hold
        money.accrue(run)
    penalty = s.books.owed.penalty if s.books is not None else run.case.loan.penalties_accrued
    plan = plans.propose_plan(run.key("plan"), report, run.case.loan, s.balance, s.total_paid, run.now,
                              run.case.borrower.timezone, run.config.policy.hardship, penalty)
    if approved:
        plan = plan.model_copy(update={"needs_approval": False, "status": PlanStatus.ACTIVE})
    if token is not None:  # token payments: their own instalments, and a review at the end
        plan.instalments, plan.review_at, plan.credit_effect = token
    if s.books is not None:  # priced, with the credit record's effect as the borrower's pack describes it
        plan.cost = money.plan_cost(run, plan.instalments[-1].deadline, plan.penalty_waived)
        if token is None:
            effect = run.config.rules.credit_effects.get("longer_term", "an arrangement to pay")
            plan.credit_effect = (f"{len(plan.instalments)} instalments of about {plan.instalments[0].amount} "
                                  f"{run.case.loan.currency}; {effect}; costs {plan.cost} {run.case.loan.currency}")
    plan.offer_id = offer_id
    s.plan = plan
    if s.promise is not None:
        promise.close(run, PromiseStatus.SUPERSEDED)
    run.wake = True
    run.event("hardship_reported", {"reason": report.reason.value, "plan_id": plan.plan_id,
                                          "needs_approval": plan.needs_approval})
    if plan.needs_approval:
        run.ask_approval(ApprovalKind.HARDSHIP_PLAN, plan.plan_id, f"Hardship plan: {plan.credit_effect}")
    else:
        activate(run)
    record(run)
    run.to_stage(Stage.HARDSHIP_PLAN, f"hardship: {report.reason.value}")
    state = "awaits approval" if plan.needs_approval else "is active"
    return f"plan of {len(plan.instalments)} instalments {state}", plan.plan_id


def activate(run: CaseRun) -> None:
    plan = run.s.plan
    assert plan is not None
    plan.status = PlanStatus.ACTIVE
    arrangement(run)
    if plan.penalty_waived and run.s.books is not None:
        money.waive_penalty(run, f"plan {plan.plan_id}", plan.penalty_waived)
    elif plan.penalty_waived:
        run.s.balance = waive(run.s.balance, plan.penalty_waived)
        run.event("penalty_waived", {"plan_id": plan.plan_id, "amount": str(plan.penalty_waived)})
    money.sync(run)


async def step(run: CaseRun) -> datetime | None:
    s, plan = run.s, run.s.plan
    assert plan is not None
    if plan.status is PlanStatus.PENDING_APPROVAL:
        return run.plan_next("Wait for plan approval", None)
    if plan.status is PlanStatus.REJECTED:
        s.plan = None
        return remote_contact.resume(run, "hardship plan not approved")
    for n, instalment in enumerate(plan.instalments, start=1):
        if instalment.status is not InstalmentStatus.DUE:
            continue
        if plans.due_instalment_shortfall(plan, s.total_paid, n) <= 0:
            instalment.status = InstalmentStatus.PAID
            record(run)
            continue
        if run.now >= instalment.deadline:
            instalment.status = InstalmentStatus.MISSED
            plan.status = PlanStatus.BROKEN
            arrangement(run)
            record(run)
            s.plan = None
            if plan.offer_id:
                money.end_offer(run, plan.offer_id, ReliefStatus.BROKEN, f"instalment {n} missed")
            money.sync(run)
            return remote_contact.resume(run, f"instalment {n} missed: plan broken")
        return run.plan_next(f"Instalment {n} of {len(plan.instalments)} due {instalment.due_date}",
                             instalment.deadline)
    if plan.review_at is not None and run.now < plan.review_at:
        return run.plan_next(f"Token payments reviewed {plan.review_at:%Y-%m-%d}", plan.review_at)
    plan.status = PlanStatus.COMPLETED
    arrangement(run)
    record(run)
    if plan.offer_id or (s.books is not None and s.balance > 0):  # reviewed, or a balance accrued beyond it
        s.plan = None
        if plan.offer_id:
            done = ReliefStatus.REVIEWED if plan.review_at is not None else ReliefStatus.COMPLETED
            money.end_offer(run, plan.offer_id, done, "its arrangement ran its course")
        money.sync(run)
        if s.balance > 0:
            return remote_contact.resume(run, "arrangement ended: reviewed, and treatment resumes")
    return run.now


def arrangement(run: CaseRun) -> None:
    """An arrangement to pay is an event with its amounts, and its status goes with any credit report."""
    plan = run.s.plan
    assert plan is not None
    if not workflow.patched(ARRANGEMENT_EVENTS):  # an entry takes a key: older histories keep theirs
        return
    run.s.arrangement = plan.status
    total = sum((i.amount for i in plan.instalments), Decimal(0))
    run.event("arrangement_to_pay", {"plan_id": plan.plan_id, "status": plan.status.value,
                                     "instalments": len(plan.instalments), "total": str(total),
                                     "currency": run.case.loan.currency,
                                     "penalty_waived": str(plan.penalty_waived)})


def record(run: CaseRun, decided_by: str | None = None) -> None:
    plan = run.s.plan
    assert plan is not None
    run.owe(PlanRecord(
        case_id=run.case_id, plan_id=plan.plan_id, status=plan.status, reason=plan.reason.value,
        instalments=[i.model_dump(mode="json") for i in plan.instalments], penalty_waived=plan.penalty_waived,
        credit_effect=plan.credit_effect, decided_by=decided_by))
