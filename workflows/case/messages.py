"""What operators and backends tell a case about money and the process: payments, promises,
hardship, visit outcomes, new contact data, approvals. Each update has a validator (`check_*`: a
rejected update leaves no trace in history) and a handler that runs in the case's turn.
Borrower-protection messages (holds, disputes, complaints, cease, receipts) are in `protections.py`.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from workflows.case import (
    assessment,
    bookkeeping,
    hardship_plan,
    money,
    promise,
    relationship,
    relief,
    scoring,
    tasks,
)
from workflows.case.core import LEANER_STEPS, MORE_NOTICES, CaseRun

with workflow.unsafe.imports_passed_through():
    from activities.contracts import PaymentRecord, VisitRecord
    from activities.ledger import LedgerActivities
    from domain.enums import (
        ApprovalKind,
        HandOff,
        HandOffStatus,
        PlanStatus,
        Segment,
        Stage,
        TaskKind,
        VisitResult,
        VisitStatus,
    )
    from domain.messages import (
        ApprovalDecision,
        ContactInfoUpdate,
        HardshipReport,
        Payment,
        PromiseRequest,
        UpdateResult,
        VisitOutcome,
    )
    from domain.payments import apply_payment

FUTURE_TOLERANCE = timedelta(minutes=5)  # clock skew between a bank's system and ours


# --- payments --------------------------------------------------------------------------------

def check_payment(run: CaseRun, payment: Payment) -> None:
    run.reject_if_closed()
    if payment.currency and payment.currency != run.case.loan.currency:
        raise ValueError(f"currency {payment.currency} does not match the loan's {run.case.loan.currency}")
    run.exact(payment.amount)
    if payment.paid_at > run.now + FUTURE_TOLERANCE:
        raise ValueError(f"paid_at {payment.paid_at.isoformat()} is in the future")


async def record_payment(run: CaseRun, payment: Payment) -> UpdateResult:
    s, currency = run.s, run.case.loan.currency
    payment = payment.model_copy(update={"amount": run.exact(payment.amount, refuse=False)})  # "10.5": 10.50 CNY
    applied = apply_payment(s.balance, s.total_paid, s.payment_refs, payment.amount, payment.reference)
    if applied.duplicate:
        return run.result(f"payment {payment.reference} was already applied", payment.reference)
    s.payment_refs.append(payment.reference)
    run.wake = True
    allocation = None
    if s.books is not None:  # by component, in the books' order; beyond what is owed, a credit to refund
        booked = money.pay(run, payment.reference, payment.amount, payment.paid_at)
        s.total_paid, allocation, overpaid = applied.total_paid, booked.allocation, booked.allocation.overpaid
    else:
        s.total_paid, s.balance, overpaid = applied.total_paid, applied.balance, applied.overpaid
        if workflow.patched(MORE_NOTICES):  # an entry takes a key: older histories keep their keys as they were
            run.event("payment_applied", {"amount": str(payment.amount), "balance_after": str(s.balance)})
    if overpaid:
        run.event("overpayment", {"reference": payment.reference, "amount": str(overpaid),
                                  "action": "refund due to the borrower"})
    answer = run.result(f"payment of {payment.amount} applied; balance {s.balance}", payment.reference)
    scoring.paid_in_part(run)
    async with run.exclusive():  # waits at most for the case's activity in flight
        # Paid in full while the case waited: the payment's own write carries its move to the
        # relationship (mid-step, the loop moves it when the step ends).
        if not run.stepping and relationship.paid_off(run) and workflow.patched(LEANER_STEPS):
            relationship.enter(run)
        await run.act(LedgerActivities.record_payment, PaymentRecord(
            case_id=run.case_id, reference=payment.reference, amount=payment.amount, currency=currency,
            paid_at=payment.paid_at, balance_after=answer.balance, owed=bookkeeping.take(run),
            allocation=allocation.model_dump(mode="json") if allocation is not None else None),
            f"Payment {payment.amount} {currency}: balance {answer.balance}")
    return answer


# --- promises and hardship -------------------------------------------------------------------

def check_promise(run: CaseRun, request: PromiseRequest, validating: bool = True) -> None:
    run.reject_if_closed()
    if run.s.promise is not None:
        raise ValueError(f"a promise is already open (due {run.s.promise.due_date})")
    if run.s.stage in (Stage.WELLBEING_HOLD, Stage.RELATIONSHIP):
        raise ValueError(f"no promise can be taken in stage {run.s.stage.value}")
    plan = run.s.plan
    if validating and run.s.books is not None and plan is not None \
            and plan.status in (PlanStatus.PENDING_APPROVAL, PlanStatus.ACTIVE):
        raise ValueError(f"an arrangement to pay is {plan.status.value}: payments count toward its instalments")
    problem = promise.problem(run, request, validating)
    if problem:
        raise ValueError(problem)


async def promise_to_pay(run: CaseRun, request: PromiseRequest) -> UpdateResult:
    # with the policy loaded, whatever the validator saw
    run.recheck(lambda r: check_promise(run, r, validating=False), request)
    return run.result(*promise.take(run, request))


def check_hardship(run: CaseRun, report: HardshipReport) -> None:
    run.reject_if_closed()
    if run.s.plan is not None and run.s.plan.status in (PlanStatus.PENDING_APPROVAL, PlanStatus.ACTIVE):
        raise ValueError(f"a hardship plan is already {run.s.plan.status.value}")
    if run.s.stage is Stage.RELATIONSHIP:
        raise ValueError("the loan is paid in full")


async def report_hardship(run: CaseRun, report: HardshipReport) -> UpdateResult:
    run.recheck(lambda r: check_hardship(run, r), report)
    return run.result(*hardship_plan.propose(run, report))


# --- field visits ----------------------------------------------------------------------------

def check_visit_outcome(run: CaseRun, outcome: VisitOutcome, validating: bool = True) -> None:
    run.reject_if_closed()
    visit = run.s.visit
    if visit is None or visit.visit_id != outcome.visit_id:
        raise ValueError(f"no visit {outcome.visit_id!r} on this case")
    if visit.status not in (VisitStatus.DISPATCHED, VisitStatus.OVERDUE):
        raise ValueError(f"visit {outcome.visit_id} is {visit.status.value}, not awaiting an outcome")
    needed = run.config.rules.min_visit_collectors
    named = len(set(outcome.collectors))
    if named < needed:
        raise ValueError(f"a visit needs at least {needed} collectors together; {named} named")
    strangers = sorted(set(outcome.collectors) - set(visit.collectors)) if visit.collectors else []
    if strangers:
        raise ValueError(f"{', '.join(strangers)} not dispatched on this visit: it was given to "
                         f"{', '.join(visit.collectors)} (collectors of the region with current training)")
    if outcome.result is not VisitResult.MET and (outcome.promise or outcome.hardship or outcome.relief):
        raise ValueError("a promise, hardship report or relief offer needs result 'met'")
    if outcome.relief is not None and (outcome.promise or outcome.hardship):
        raise ValueError("a relief offer goes alone: not with a promise or a hardship report")
    if outcome.relief is not None:
        try:
            relief.check_offer(run, outcome.relief, validating)
        except ValueError as e:
            raise ValueError(f"relief: {e}") from e
    if outcome.promise is not None:
        problem = promise.problem(run, outcome.promise, validating)
        if problem:
            raise ValueError(f"promise: {problem}")


def check_visit_times(run: CaseRun, outcome: VisitOutcome) -> None:
    """When the collectors were there, so the audit can check the visit window. In the validator only:
    validators do not run on replay, and reports accepted before this check replay as they ran."""
    if outcome.started_at is None or outcome.ended_at is None:
        raise ValueError("a visit report needs started_at and ended_at (when the collectors were there)")
    if not outcome.started_at < outcome.ended_at <= run.now + FUTURE_TOLERANCE:
        raise ValueError("started_at must come before ended_at, and ended_at may not be in the future")


async def record_visit_outcome(run: CaseRun, outcome: VisitOutcome) -> UpdateResult:
    s = run.s
    run.recheck(lambda o: check_visit_outcome(run, o, validating=False), outcome)
    visit = s.visit
    assert visit is not None
    visit.status, visit.result = VisitStatus.REPORTED, outcome.result
    run.owe(VisitRecord(
        case_id=run.case_id, visit_id=visit.visit_id, status=VisitStatus.REPORTED, result=outcome.result.value,
        collectors=outcome.collectors, distress=outcome.distress))
    run.event("visit_reported", {
        "visit_id": visit.visit_id, "result": outcome.result.value, "collectors": len(set(outcome.collectors)),
        "collector_ids": sorted(set(outcome.collectors)), "distress": outcome.distress,
        "started_at": outcome.started_at.isoformat() if outcome.started_at else None,
        "ended_at": outcome.ended_at.isoformat() if outcome.ended_at else None})
    run.wake = True
    if outcome.distress:
        s.flags.distress = True
        return run.result("distress recorded: automated contact stopped, review requested")
    if outcome.promise is not None:
        return run.result(*promise.take(run, outcome.promise))
    if outcome.hardship is not None:
        return run.result(*hardship_plan.propose(run, outcome.hardship))
    if outcome.relief is not None:
        return run.result(*relief.offer(run, outcome.relief))
    return run.result(f"visit outcome {outcome.result.value} recorded")


# --- contact data ----------------------------------------------------------------------------

async def update_contact_info(run: CaseRun, update: ContactInfoUpdate) -> UpdateResult:
    changed = update.model_dump(exclude_none=True)
    borrower = run.case.borrower
    if update.mobile_numbers is not None:
        borrower.mobile_numbers = update.mobile_numbers
        # consent to robot calls was given for a number: it goes with the number
        borrower.robot_call_consent = [n for n in borrower.robot_call_consent if n in update.mobile_numbers]
    if update.address is not None or update.email is not None:
        borrower.address, borrower.email = update.address or borrower.address, update.email or borrower.email
    if update.emergency_contacts is not None:
        run.case.emergency_contacts = update.emergency_contacts
    run.s.contact_info_version += 1
    run.wake = True
    run.event("contact_data_updated", {"fields": sorted(changed)})
    tasks.close(run, TaskKind.CONTACT_DATA, "new contact data came")
    return run.result(f"updated {', '.join(sorted(changed))}; verification runs again")


# --- approvals -------------------------------------------------------------------------------

def check_approve(run: CaseRun, decision: ApprovalDecision) -> None:
    run.reject_if_closed()
    pending = [a.approval_id for a in run.s.approvals]
    if not pending:
        raise ValueError("nothing on this case is awaiting approval")
    if decision.approval_id not in pending:
        raise ValueError(f"approval {decision.approval_id!r} is not pending (pending: {', '.join(pending)})")
    relief.check_approval(run, decision)


async def approve(run: CaseRun, decision: ApprovalDecision) -> UpdateResult:
    """A supervisor's or trained reviewer's decision on what the case asked them."""
    s = run.s
    run.recheck(lambda d: check_approve(run, d), decision)
    pending = next(a for a in s.approvals if a.approval_id == decision.approval_id)
    s.approvals.remove(pending)
    run.wake = True
    verdict = "approved" if decision.approve else "rejected"
    decided = {"approval_id": pending.approval_id, "kind": pending.kind.value, "verdict": verdict,
               "by": decision.decided_by, "note": decision.note}
    run.event("approval_decided", decided | ({"role": decision.role} if decision.role else {}))
    match pending.kind:
        case ApprovalKind.VISIT:
            assert s.visit is not None
            s.visit.status = VisitStatus.APPROVED if decision.approve else VisitStatus.REJECTED
            s.next_step_at = run.now + run.config.policy.visit.earliest_after_approval
            run.owe(VisitRecord(case_id=run.case_id, visit_id=s.visit.visit_id, status=s.visit.status,
                                decided_by=decision.decided_by))
        case ApprovalKind.HARDSHIP_PLAN:
            assert s.plan is not None
            if decision.approve:
                hardship_plan.activate(run)
            else:
                s.plan.status = PlanStatus.REJECTED
            hardship_plan.record(run, decided_by=decision.decided_by)
        case ApprovalKind.RELIEF:
            relief.decide(run, pending.approval_id, decision.approve)
        case ApprovalKind.HANDOFF:
            assert s.handoff is not None
            s.handoff.status = HandOffStatus.APPROVED if decision.approve else HandOffStatus.REJECTED
            s.handoff.decided_by = decision.decided_by
        case ApprovalKind.WELLBEING_REVIEW | ApprovalKind.VULNERABILITY_REVIEW:
            tasks.close(run, TaskKind.REVIEW, f"review decided by {decision.decided_by}")
            s.flags.distress = s.flags.vulnerable = False
            s.review_due = None
            if decision.approve and s.assessment is None:
                run.to_stage(Stage.ASSESSMENT, "review: resume")
            elif decision.approve:
                s.flags.hardship = True
                assessment.start_treatment(run, Segment.HARDSHIP, "review: resume gently on the soft path")
            else:
                run.finish(Stage.REFERRED, HandOff.WELLBEING_TEAM, "review: handed to specialists")
    return run.result(f"{pending.kind.value} {verdict}", pending.approval_id)
