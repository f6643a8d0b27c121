"""`OverdueCase`: one overdue loan, from verification to settlement or hand-off, as one workflow.

The run loop reads like the process: verify, assess, remind within the rules, visit when remote
contact fails, follow promises and plans with durable timers, stop at once on distress, and after
settlement keep a light relationship. Each pass does what is due in the current stage (one module per
stage) and returns when it next needs to wake; operators' updates and providers' signals
(`messages.py`, `protections.py`) record facts and wake it. Decisions are pure functions in `domain`;
every side effect is an activity with a retry policy and an idempotency key from the case's sequence.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from temporalio import workflow

from workflows.case import (
    assessment,
    bookkeeping,
    desk,
    field_visit,
    hardship_plan,
    messages,
    money,
    notices,
    presentation,
    promise,
    protections,
    relationship,
    relief,
    remote_contact,
    scoring,
    verification,
    wellbeing,
)
from workflows.case.core import DESK, SCORING, CaseRun
from workflows.case.protection_handlers import ProtectionHandlers

with workflow.unsafe.imports_passed_through():
    from domain import clock
    from domain.case_input import CaseInput
    from domain.desk import Desk
    from domain.enums import ApprovalKind, Stage
    from domain.messages import (
        ApprovalDecision,
        Assignment,
        ContactInfoUpdate,
        ContactOutcome,
        HardshipReport,
        Payment,
        PromiseRequest,
        Release,
        TaskDone,
        UpdateResult,
        VisitOutcome,
    )
    from domain.relief import ReliefAcceptance, ReliefRequest
    from domain.state import Scoring
    from domain.statement import Statement
    from domain.status import CaseOutcome, CaseStatus

STEPS: dict[Stage, Callable[[CaseRun], Awaitable[datetime | None]]] = {
    Stage.VERIFICATION: verification.step,
    Stage.ASSESSMENT: assessment.step,
    Stage.REMOTE_CONTACT: remote_contact.step,
    Stage.FIELD_VISIT: field_visit.step,
    Stage.PROMISE: promise.step,
    Stage.HARDSHIP_PLAN: hardship_plan.step,
    Stage.WELLBEING_HOLD: wellbeing.step,
    Stage.RELATIONSHIP: relationship.step,
}


@workflow.defn(name="OverdueCase")
class OverdueCase(ProtectionHandlers):
    @workflow.init
    def __init__(self, case: CaseInput) -> None:
        self.c = CaseRun(case)

    # --- the process ------------------------------------------------------------------------

    @workflow.run
    async def run(self, case: CaseInput) -> CaseOutcome:
        c, s = self.c, self.c.s
        if s.config is None:
            await self._open_case()
        else:
            s.runs += 1
        while not s.stage.terminal:
            c.wake, c.stepping = False, True
            wake_at = await self._advance()
            if s.stage.terminal:
                break
            if c.history_is_long():
                await bookkeeping.settle(c)
                c.prune_attempts()
                workflow.continue_as_new(c.case.model_copy(update={"state": s}))
            if wake_at is None or wake_at > c.now:  # the case waits: show it and write what it owes
                if await c.handler_changed_case():
                    continue
                presentation.publish(c)  # search attributes at most once a step
                await bookkeeping.flush(c)  # what the step's own work did not carry to the ledger
            await c.sleep_until(wake_at)
        money.close(c)
        presentation.publish(c)
        await bookkeeping.settle(c)
        return CaseOutcome(case_id=c.case_id, stage=s.stage, balance=s.balance, total_paid=s.total_paid,
                           reason=s.outcome_reason)

    async def _open_case(self) -> None:
        await verification.open_case(self.c)
        money.open_books(self.c)
        if workflow.patched(DESK):  # decided once: worklists, tasks and the registry's collectors
            self.c.s.desk = Desk()
        if workflow.patched(SCORING):  # decided once: propensity scores (with a model at the start)
            self.c.s.scoring = Scoring()

    async def _advance(self) -> datetime | None:
        """Do what is due now; return when to look again (None: only when something happens)."""
        c, s = self.c, self.c.s
        if s.verification is not None and s.verified_version != s.contact_info_version:
            await verification.verify(c)
        money.sync(c)  # freezes as the case now stands (a hold, a dispute, a plan, a relief offer)
        offers_due_at = relief.due(c)  # offers lapse, settlements settle, freezes come up for review
        desk_due_at = desk.due(c)  # leases end, late tasks go to a supervisor
        relationship.enter_if_paid(c)
        if s.stage is not Stage.WELLBEING_HOLD and s.stage is not Stage.RELATIONSHIP:
            if s.flags.distress:
                wellbeing.enter_review(c, ApprovalKind.WELLBEING_REVIEW, "distress reported")
            elif s.flags.vulnerable:
                wellbeing.enter_review(c, ApprovalKind.VULNERABILITY_REVIEW, "vulnerability recorded")
        if protections.end_for_hard_stop(c):
            return None
        await scoring.again(c)  # the picture changed since the last score (nothing, unless one is pending)
        arrears_notice_at = await notices.post_arrears(c)  # while in arrears, in writing, through any hold
        hold = c.current_hold()
        if hold is not None:  # the hold's reason stays in the sealed journal
            wake = c.plan_next(f"On hold ({hold.kind.value})", hold.until)
        else:
            step = STEPS.get(s.stage)
            wake = await step(c) if step else None
        return clock.earliest(wake, arrears_notice_at, offers_due_at, desk_due_at)

    # --- operators and backends: updates (handlers in messages.py and protections.py) --------

    @workflow.update
    async def record_payment(self, payment: Payment) -> UpdateResult:
        async with self.c.turn():
            return await messages.record_payment(self.c, payment)

    @record_payment.validator
    def _check_payment(self, payment: Payment) -> None:
        messages.check_payment(self.c, payment)

    @workflow.update
    async def promise_to_pay(self, request: PromiseRequest) -> UpdateResult:
        async with self.c.turn():
            return await messages.promise_to_pay(self.c, request)

    @promise_to_pay.validator
    def _check_promise(self, request: PromiseRequest) -> None:
        messages.check_promise(self.c, request)

    @workflow.update
    async def report_hardship(self, report: HardshipReport) -> UpdateResult:
        async with self.c.turn():
            return await messages.report_hardship(self.c, report)

    @report_hardship.validator
    def _check_hardship(self, report: HardshipReport) -> None:
        messages.check_hardship(self.c, report)

    @workflow.update
    async def record_visit_outcome(self, outcome: VisitOutcome) -> UpdateResult:
        async with self.c.turn():
            return await messages.record_visit_outcome(self.c, outcome)

    @record_visit_outcome.validator
    def _check_visit_outcome(self, outcome: VisitOutcome) -> None:
        messages.check_visit_outcome(self.c, outcome)
        messages.check_visit_times(self.c, outcome)

    @workflow.update
    async def update_contact_info(self, update: ContactInfoUpdate) -> UpdateResult:
        async with self.c.turn():
            return await messages.update_contact_info(self.c, update)

    @update_contact_info.validator
    def _check_contact_info(self, update: ContactInfoUpdate) -> None:
        self.c.reject_if_closed()

    @workflow.update
    async def approve(self, decision: ApprovalDecision) -> UpdateResult:
        async with self.c.turn():
            return await messages.approve(self.c, decision)

    @approve.validator
    def _check_approve(self, decision: ApprovalDecision) -> None:
        messages.check_approve(self.c, decision)

    @workflow.update
    async def offer_relief(self, request: ReliefRequest) -> UpdateResult:
        async with self.c.turn():
            return self.c.result(*relief.offer(self.c, request))

    @offer_relief.validator
    def _check_offer(self, request: ReliefRequest) -> None:
        relief.check_offer(self.c, request)

    @workflow.update
    async def accept_relief(self, acceptance: ReliefAcceptance) -> UpdateResult:
        async with self.c.turn():
            return self.c.result(*relief.accept(self.c, acceptance))

    @accept_relief.validator
    def _check_acceptance(self, acceptance: ReliefAcceptance) -> None:
        relief.check_acceptance(self.c, acceptance)

    # --- the desk: outcomes, worklists, tasks (desk.py) ------------------------------------------

    @workflow.update
    async def record_contact_outcome(self, outcome: ContactOutcome) -> UpdateResult:
        """What a call or visit came to: who answered, why the loan is late, what was agreed, notes."""
        async with self.c.turn():
            return await desk.record_outcome(self.c, outcome)

    @record_contact_outcome.validator
    def _check_contact_outcome(self, outcome: ContactOutcome) -> None:
        desk.check_outcome(self.c, outcome)

    @workflow.update
    async def assign(self, assignment: Assignment) -> UpdateResult:
        """Into a team's queue, or an agent's for a lease that ends by itself."""
        async with self.c.turn():
            return await desk.assign(self.c, assignment)

    @assign.validator
    def _check_assign(self, assignment: Assignment) -> None:
        desk.check_assign(self.c, assignment)

    @workflow.update
    async def release(self, request: Release) -> UpdateResult:
        async with self.c.turn():
            return await desk.release(self.c, request)

    @release.validator
    def _check_release(self, request: Release) -> None:
        desk.check_release(self.c, request)

    @workflow.update
    async def complete_task(self, done: TaskDone) -> UpdateResult:
        async with self.c.turn():
            return await desk.task_done(self.c, done)

    @complete_task.validator
    def _check_task_done(self, done: TaskDone) -> None:
        desk.check_task_done(self.c, done)

    @workflow.query
    def status(self) -> CaseStatus:
        return presentation.status(self.c)

    @workflow.query
    def statement(self) -> Statement | None:
        """What is owed by component today, what accrued this period, every payment and how it was applied,
        every relief and freeze (None: a case opened before the balance engine)."""
        return presentation.statement(self.c)
