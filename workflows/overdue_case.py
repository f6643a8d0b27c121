"""`OverdueCase`: one overdue loan, from verification to settlement or hand-off, as one workflow.

The run loop reads like the process: verify, assess, remind within the rules, visit when remote
contact fails, follow promises and plans with durable timers, stop at once on distress, and after
settlement keep a light relationship. Each pass of the loop does what is due in the current stage
and returns when it next needs to wake; operators' updates and providers' signals record facts and
wake it. Decisions (guard, scorecard, plans) are pure functions from `domain`; every side effect is
an activity with a retry policy and an idempotency key built from the case's own sequence.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.case_data import CaseDataActivities
    from activities.contact import ContactActivities
    from activities.contracts import (
        CaseUpdate,
        ContactRequest,
        ContactResult,
        EscalationRecord,
        EventRecord,
        LoadConfigRequest,
        OpenCaseRequest,
        PaymentRecord,
        PlanRecord,
        PromiseRecord,
        ReceiptRecord,
        VerifyRequest,
        VisitRecord,
    )
    from activities.ledger import LedgerActivities
    from domain import clock, contacts, plans, scorecard
    from domain.case_input import CaseInput
    from domain.enums import ApprovalKind, CeaseScope, Channel, HoldKind, Outcome, Segment, Stage, VisitResult
    from domain.guard import GuardDecision, PlannedAction, evaluate
    from domain.messages import (
        ApprovalDecision,
        CapacityHoldRequest,
        CeaseContact,
        ComplaintClosed,
        ComplaintInput,
        ComplaintRequest,
        ContactInfoUpdate,
        CrisisTreatmentEnd,
        DeliveryReceipt,
        DisputeRequest,
        DisputeResolution,
        HardshipReport,
        MoratoriumRequest,
        PauseRequest,
        Payment,
        PromiseRequest,
        ThirdPartyRefusal,
        UpdateResult,
        VisitOutcome,
        VulnerabilityReport,
    )
    from domain.policy import CaseConfig, SegmentTreatment
    from domain.state import (
        CaseState,
        ContactAttempt,
        Hold,
        NextAction,
        PendingApproval,
        PromiseToPay,
        Visit,
        Vulnerability,
    )
    from domain.status import CaseOutcome, CaseStatus
    from workflows import search
    from workflows.complaint import Complaint

TASK_QUEUE = "overdue-cases"
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                    maximum_interval=timedelta(minutes=1))
LEDGER_WINDOW = timedelta(days=8)  # attempts older than this no longer count for any cap
CONTACT_ACTIVITY = {
    Channel.SMS: ContactActivities.send_sms,
    Channel.ROBOT_CALL: ContactActivities.place_robot_call,
    Channel.AGENT_CALL: ContactActivities.create_agent_call_task,
    Channel.VISIT: ContactActivities.dispatch_visit,
}
LABEL = {Channel.SMS: "SMS reminder", Channel.ROBOT_CALL: "Robot call",
         Channel.AGENT_CALL: "Agent call task", Channel.VISIT: "Field visit"}


@workflow.defn(name="OverdueCase")
class OverdueCase:
    @workflow.init
    def __init__(self, case: CaseInput) -> None:
        self.case = case.model_copy(update={"state": None})
        self.s: CaseState = case.state or CaseState(balance=case.loan.outstanding_balance)
        self._wake = False
        self._published: dict[str, object] = {}
        # Handlers and the loop take turns, so a handler's changes land whole before the loop acts.
        self._lock = asyncio.Lock()

    # --- the process ------------------------------------------------------------------------

    @workflow.run
    async def run(self, case: CaseInput) -> CaseOutcome:
        if self.s.config is None:
            async with self._lock:
                await self._open_case()
        else:
            self.s.runs += 1
        while not self.s.stage.terminal:
            self._wake = False
            async with self._lock:
                wake_at = await self._advance()
            self._publish()
            if self.s.stage.terminal:
                break
            if self._history_is_long():
                await workflow.wait_condition(workflow.all_handlers_finished)
                self._prune_ledger()
                workflow.continue_as_new(self.case.model_copy(update={"state": self.s}))
            await self._sleep_until(wake_at)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return CaseOutcome(case_id=self.case.case_id, stage=self.s.stage, balance=self.s.balance,
                           total_paid=self.s.total_paid, reason=self.s.outcome_reason)

    async def _open_case(self) -> None:
        self.s.config = await self._act(
            CaseDataActivities.load_case_config,
            LoadConfigRequest(policy=self.case.policy, country=self.case.borrower.country,
                              extra_packs=self.case.extra_rule_packs,
                              today=clock.local(self.now, self.case.borrower.timezone).date()),
            "Load policy and rule packs", timeout=timedelta(seconds=30),
        )
        loan = self.case.loan
        self.s.opened_at = self.now
        await self._act(LedgerActivities.open_case, OpenCaseRequest(
            case_id=self.case.case_id, workflow_id=workflow.info().workflow_id, policy=self.config.policy.name,
            rule_packs=self.config.rules.packs, country=self.case.borrower.country, currency=loan.currency,
            principal=loan.principal, balance=self.s.balance, stage=self.s.stage.value, opened_at=self.now,
        ), "Open the case in the ledger")
        await self._event("case_opened", {"policy": f"{self.config.policy.name}@{self.config.policy.version}",
                                           "rules": self.config.rules.model_dump(mode="json"),
                                           "timezone": self.case.borrower.timezone,
                                           "days_past_due": loan.days_past_due})

    async def _advance(self) -> datetime | None:
        """Do what is due now; return when to look again (None: only when something happens)."""
        s = self.s
        if s.verification is not None and s.verified_version != s.contact_info_version:
            await self._verify()
        if s.balance <= 0 and s.stage is not Stage.RELATIONSHIP:
            await self._enter_relationship()
        if s.stage is not Stage.WELLBEING_HOLD and s.stage is not Stage.RELATIONSHIP:
            if s.flags.distress:
                await self._enter_review(ApprovalKind.WELLBEING_REVIEW, "distress reported")
            elif s.flags.vulnerable:
                await self._enter_review(ApprovalKind.VULNERABILITY_REVIEW, "vulnerability recorded")
        hold = await self._current_hold()
        if hold is not None:
            return self._plan_next(f"On hold ({hold.kind.value}): {hold.reason}", hold.until)
        match s.stage:
            case Stage.VERIFICATION:
                return await self._verification()
            case Stage.ASSESSMENT:
                return await self._assessment()
            case Stage.REMOTE_CONTACT:
                return await self._remote_contact()
            case Stage.FIELD_VISIT:
                return await self._field_visit()
            case Stage.PROMISE:
                return await self._promise()
            case Stage.HARDSHIP_PLAN:
                return await self._hardship_plan()
            case Stage.WELLBEING_HOLD:
                return await self._wellbeing_hold()
            case Stage.RELATIONSHIP:
                return await self._relationship()
        return None

    # 1. Verification ---------------------------------------------------------------------

    async def _verify(self) -> None:
        report = await self._act(CaseDataActivities.verify_contact_data, VerifyRequest(
            case_id=self.case.case_id, borrower=self.case.borrower, emergency_contacts=self.case.emergency_contacts,
        ), "Verify phone numbers and address")
        self.s.verification, self.s.verified_version = report, self.s.contact_info_version
        await self._event("contact_data_verified", {
            "missing": report.missing, "address_complete": report.address_complete,
            "phones": [p.model_dump(mode="json") for p in report.phones]})

    async def _verification(self) -> datetime | None:
        s = self.s
        if s.verification is None:
            await self._verify()
        if s.verification.complete:
            return await self._to_stage(Stage.ASSESSMENT, "contact data verified")
        if s.verification_deadline is not None and self.now >= s.verification_deadline:
            return await self._to_stage(Stage.ASSESSMENT, "no update within the wait: proceed with what is usable")
        if not s.verification_asked:
            refs = s.verification.reachable_refs
            if refs:
                result = await self._contact(Channel.SMS, "verify_update", refs[0], step=None)
                if isinstance(result, GuardDecision) and result.verdict == "defer":
                    return self._plan_next("Ask the borrower to update contact data", result.until)
            else:
                await self._event("contact_data_task", {"missing": s.verification.missing,
                                                        "task": "obtain contact data through lawful channels"})
            s.verification_asked = True
            s.verification_deadline = self.now + self.config.policy.verification.update_wait
        return self._plan_next("Wait for updated contact data", s.verification_deadline)

    # 2. Assessment -------------------------------------------------------------------------

    async def _assessment(self) -> datetime | None:
        result = scorecard.assess(self.case.profile, self.case.loan, self.config.policy.scorecard)
        self.s.assessment = result
        await self._event("assessed", {"inputs": self.case.profile.model_dump(mode="json"),
                                       "balance": str(self.s.balance), **result.model_dump(mode="json")})
        return await self._start_treatment(result.segment, "assessed")

    async def _start_treatment(self, segment: Segment, why: str) -> datetime | None:
        assert self.s.assessment is not None
        self.s.assessment = self.s.assessment.model_copy(update={"segment": segment})
        self.s.step_index = 0
        self.s.next_step_at = self.now + self.treatment.schedule[0].after
        await self._sync_case()
        return await self._to_stage(Stage.REMOTE_CONTACT, f"{why}: {segment.value} path")

    # 3. Remote contact ---------------------------------------------------------------------

    async def _remote_contact(self) -> datetime | None:
        s, schedule = self.s, self.treatment.schedule
        if s.step_index >= len(schedule):
            return await self._path_exhausted()
        step = schedule[s.step_index]
        label = f"{LABEL[step.channel]} {s.step_index + 1} of {len(schedule)}"
        if s.next_step_at and self.now < s.next_step_at:
            return self._plan_next(label, s.next_step_at)
        if self._borrower_unreachable():
            await self._ask_third_parties()
        ref = self._borrower_number()
        if ref is None:
            await self._event("step_skipped", {"step": s.step_index, "reason": "no usable borrower number"})
        else:
            result = await self._contact(step.channel, step.template, ref, step=s.step_index, summary=label)
            if isinstance(result, GuardDecision) and result.verdict == "defer":
                s.next_step_at = result.until
                return self._plan_next(f"{label} ({result.reason})", result.until)
        s.step_index += 1
        if s.stage is Stage.REMOTE_CONTACT and s.step_index < len(schedule):
            s.next_step_at = self.now + schedule[s.step_index].after
        return self.now

    async def _path_exhausted(self) -> datetime | None:
        """The treatment's remote path is done and nothing resolved it: visit, hand-off or referral."""
        s, policy, treatment = self.s, self.config.policy, self.treatment
        visit_possible = (
            treatment.field_visit and s.visit is None and s.balance >= policy.visit.min_balance
            and s.verification is not None and s.verification.address_complete
            and not s.flags.cease_all and "visit" not in s.flags.cease_channels
        )
        if visit_possible:
            visit_id = self._key("visit")
            s.visit = Visit(visit_id=visit_id, status="awaiting_approval")
            await self._ask_approval(ApprovalKind.VISIT, visit_id,
                                     f"Field visit: {s.balance} {self.case.loan.currency} unpaid after remote contact")
            await self._act(LedgerActivities.record_visit, VisitRecord(
                case_id=self.case.case_id, visit_id=visit_id, status="awaiting_approval"), "Record visit request")
            return await self._to_stage(Stage.FIELD_VISIT, "remote contact failed")
        return await self._end_of_path("remote contact path exhausted")

    async def _end_of_path(self, why: str) -> datetime | None:
        if not self.treatment.escalate_at_end:
            return await self._finish(Stage.REFERRED, "hardship_team", f"{why}; referred to the hardship team")
        for action in ("credit_report", "legal_handoff"):
            decision = self._guard(PlannedAction(action=action))
            if not decision.allowed:  # a hold or a review stands in the way: a person decides
                await self._event("guard_decision", {"action": action, **decision.model_dump(mode="json")})
                return self._plan_next(f"Hand-off held: {decision.reason}", None)
        await self._escalate("credit_bureau", f"delinquency of {self.s.balance} {self.case.loan.currency} reported")
        return await self._finish(Stage.ESCALATED, "legal_recovery", f"{why}; wilful non-payment: legal / recovery hand-off")

    # 4. Field visit ------------------------------------------------------------------------

    async def _field_visit(self) -> datetime | None:
        s, visit = self.s, self.s.visit
        assert visit is not None
        match visit.status:
            case "awaiting_approval":
                return self._plan_next("Wait for visit approval", None)
            case "rejected":
                return await self._end_of_path("field visit not approved")
            case "approved":
                if s.next_step_at and self.now < s.next_step_at:
                    return self._plan_next("Field visit (notice period)", s.next_step_at)
                decision = self._guard(PlannedAction(channel=Channel.VISIT))
                if not decision.allowed:
                    await self._record_guard(decision, Channel.VISIT)
                    if decision.verdict == "deny":
                        return await self._end_of_path(f"field visit denied: {decision.reason}")
                    return self._plan_next(f"Field visit ({decision.reason})", decision.until)
                await self._send(Channel.VISIT, "visit_brief", None, self._address_text(), None, decision,
                                 f"Dispatch {self.config.rules.min_visit_collectors} collectors")
                visit.status = "dispatched"
                visit.outcome_deadline = self.now + self.config.policy.visit.outcome_deadline
                await self._act(LedgerActivities.record_visit, VisitRecord(
                    case_id=self.case.case_id, visit_id=visit.visit_id, status="dispatched"), "Record visit dispatch")
                return self._plan_next("Wait for the visit outcome", visit.outcome_deadline)
            case "dispatched":
                if visit.outcome_deadline and self.now >= visit.outcome_deadline:
                    visit.status = "overdue"
                    await self._escalate("supervisor", "visit outcome not reported by its deadline")
                return self._plan_next("Wait for the visit outcome", visit.outcome_deadline if visit.status == "dispatched" else None)
            case "overdue":
                return self._plan_next("Visit outcome overdue: supervisor alerted", None)
            case "reported":
                return await self._end_of_path(f"field visit: {visit.result.value if visit.result else 'no result'}")
        return None

    # 5. Promises and hardship plans --------------------------------------------------------

    async def _promise(self) -> datetime | None:
        s, promise = self.s, self.s.promise
        assert promise is not None
        if plans.promise_kept(promise, s.total_paid):
            await self._close_promise("kept")
            return await self._resume_contact("promise kept: back to monitoring")
        if self.now >= promise.deadline:
            await self._close_promise("broken")
            s.promises_broken += 1
            if s.promises_broken > self.config.policy.promise.max_broken:
                return await self._path_exhausted()
            return await self._resume_contact("promise broken: treatment resumes at the next step")
        return self._plan_next(f"Promise due {promise.due_date}, grace to {promise.deadline:%Y-%m-%d %H:%M} UTC",
                               promise.deadline)

    async def _close_promise(self, status: str) -> None:
        promise = self.s.promise
        assert promise is not None
        promise.status = status
        await self._act(LedgerActivities.record_promise, PromiseRecord(
            case_id=self.case.case_id, promise_id=promise.promise_id, amount=promise.amount,
            due_date=promise.due_date, deadline=promise.deadline, taken_by=promise.taken_by, status=status,
        ), f"Promise {status}")
        self.s.promise = None

    async def _hardship_plan(self) -> datetime | None:
        s, plan = self.s, self.s.plan
        assert plan is not None
        if plan.status == "pending_approval":
            return self._plan_next("Wait for plan approval", None)
        if plan.status == "rejected":
            s.plan = None
            return await self._resume_contact("hardship plan not approved")
        for n, instalment in enumerate(plan.instalments, start=1):
            if instalment.status != "due":
                continue
            if plans.due_instalment_shortfall(plan, s.total_paid, n) <= 0:
                instalment.status = "paid"
                await self._record_plan()
                continue
            if self.now >= instalment.deadline:
                instalment.status = "missed"
                plan.status = "broken"
                await self._record_plan()
                s.plan = None
                return await self._resume_contact(f"instalment {n} missed: plan broken")
            return self._plan_next(f"Instalment {n} of {len(plan.instalments)} due {instalment.due_date}",
                                   instalment.deadline)
        plan.status = "completed"
        await self._record_plan()
        return self.now

    async def _resume_contact(self, why: str) -> datetime | None:
        schedule = self.treatment.schedule
        if self.s.step_index < len(schedule):
            self.s.next_step_at = self.now + schedule[self.s.step_index].after
        return await self._to_stage(Stage.REMOTE_CONTACT, why)

    # 6. Wellbeing --------------------------------------------------------------------------

    async def _enter_review(self, kind: ApprovalKind, why: str) -> None:
        """Stop all contact and hand the case to a trained person; for distress, refer to the crisis line."""
        line = self.config.rules.crisis_line
        if kind is ApprovalKind.WELLBEING_REVIEW:
            await self._event("wellbeing_referral", {"crisis_line": line.model_dump(), "automated_contact": "stopped",
                                                     "handed_to": "trained person"})
        self.s.review_due = self.now + self.config.policy.wellbeing.review_within
        await self._ask_approval(kind, self._key("review"),
                                 f"{why[0].upper()}{why[1:]}: review by a trained person (crisis line {line.number})")
        await self._to_stage(Stage.WELLBEING_HOLD, why)

    async def _wellbeing_hold(self) -> datetime | None:
        s = self.s
        reviews = (ApprovalKind.WELLBEING_REVIEW, ApprovalKind.VULNERABILITY_REVIEW)
        if not any(a.kind in reviews for a in s.approvals):  # decided: see `approve`
            return self.now
        if s.review_due and self.now >= s.review_due:
            await self._escalate("supervisor", "wellbeing review overdue")
            s.review_due = None
        return self._plan_next("Wellbeing review by a trained person", s.review_due)

    # 7. Resolution and relationship --------------------------------------------------------

    async def _enter_relationship(self) -> None:
        s, policy = self.s, self.config.policy
        if s.promise is not None:
            await self._close_promise("kept")
        if s.plan is not None and s.plan.status == "active":
            s.plan.status = "completed"
            await self._record_plan()
        s.approvals = []
        s.flags.distress = False
        s.relationship_until = self.now + policy.relationship.duration
        s.relationship_next_at = self.now + policy.relationship.reminder_interval
        await self._event("paid_in_full", {"total_paid": str(s.total_paid)})
        await self._to_stage(Stage.RELATIONSHIP, "paid in full")

    async def _relationship(self) -> datetime | None:
        s = self.s
        opted_out = s.flags.relationship_opt_out or s.flags.cease_all or "sms" in s.flags.cease_channels
        if opted_out or (s.relationship_until and self.now >= s.relationship_until):
            return await self._finish(Stage.SETTLED, None, "settled" + (" (reminders opted out)" if opted_out else ""))
        if s.relationship_next_at and self.now >= s.relationship_next_at:
            ref = self._borrower_number()
            if ref is not None:
                result = await self._contact(Channel.SMS, self.config.policy.relationship.template, ref, step=None,
                                             summary=f"Credit-health reminder {s.relationship_sent + 1}")
                if isinstance(result, GuardDecision) and result.verdict == "defer":
                    s.relationship_next_at = result.until
                    return self._plan_next("Credit-health reminder", min(result.until, s.relationship_until))
                s.relationship_sent += 1
            s.relationship_next_at = self.now + self.config.policy.relationship.reminder_interval
        return self._plan_next("Credit-health reminder", min(s.relationship_next_at, s.relationship_until))

    async def _finish(self, stage: Stage, hand_off: str | None, reason: str) -> None:
        if hand_off is not None:
            await self._escalate(hand_off, reason)
        self.s.outcome_reason = reason
        self.s.approvals = []
        await self._to_stage(stage, reason)
        await self._sync_case(closed=True)
        return None

    # --- operators and backends: updates -----------------------------------------------------

    @workflow.update
    async def record_payment(self, payment: Payment) -> UpdateResult:
        async with self._turn():
            s = self.s
            if payment.reference in s.payment_refs:
                return self._result(f"payment {payment.reference} was already applied", payment.reference)
            s.payment_refs.append(payment.reference)
            s.total_paid += payment.amount
            overpaid = max(Decimal("0"), payment.amount - s.balance)
            s.balance = max(Decimal("0"), s.balance - payment.amount)
            self._wake = True
            await self._act(LedgerActivities.record_payment, PaymentRecord(
                case_id=self.case.case_id, reference=payment.reference, amount=payment.amount,
                currency=self.case.loan.currency, paid_at=payment.paid_at, balance_after=s.balance,
            ), f"Record payment {payment.amount} {self.case.loan.currency}")
            if overpaid:
                await self._event("overpayment", {"reference": payment.reference, "amount": str(overpaid),
                                                  "action": "refund due to the borrower"})
            return self._result(f"payment of {payment.amount} applied; balance {s.balance}", payment.reference)

    @record_payment.validator
    def _check_payment(self, payment: Payment) -> None:
        self._reject_if_closed()
        if payment.currency and payment.currency != self.case.loan.currency:
            raise ValueError(f"currency {payment.currency} does not match the loan's {self.case.loan.currency}")
        if payment.paid_at > self.now + timedelta(minutes=5):
            raise ValueError(f"paid_at {payment.paid_at.isoformat()} is in the future")

    @workflow.update
    async def promise_to_pay(self, request: PromiseRequest) -> UpdateResult:
        async with self._turn():
            self._recheck(self._check_promise, request)  # with the policy loaded, whatever the validator saw
            return self._result(*await self._take_promise(request))

    @promise_to_pay.validator
    def _check_promise(self, request: PromiseRequest) -> None:
        self._reject_if_closed()
        if self.s.promise is not None:
            raise ValueError(f"a promise is already open (due {self.s.promise.due_date})")
        if self.s.stage in (Stage.WELLBEING_HOLD, Stage.RELATIONSHIP):
            raise ValueError(f"no promise can be taken in stage {self.s.stage.value}")
        problem = self._promise_problem(request)
        if problem:
            raise ValueError(problem)

    @workflow.update
    async def report_hardship(self, report: HardshipReport) -> UpdateResult:
        async with self._turn():
            self._recheck(self._check_hardship, report)
            return self._result(*await self._propose_plan(report))

    @report_hardship.validator
    def _check_hardship(self, report: HardshipReport) -> None:
        self._reject_if_closed()
        if self.s.plan is not None and self.s.plan.status in ("pending_approval", "active"):
            raise ValueError(f"a hardship plan is already {self.s.plan.status}")
        if self.s.stage is Stage.RELATIONSHIP:
            raise ValueError("the loan is paid in full")

    @workflow.update
    async def record_visit_outcome(self, outcome: VisitOutcome) -> UpdateResult:
        async with self._turn():
            s = self.s
            self._recheck(self._check_visit_outcome, outcome)
            visit = s.visit
            visit.status, visit.result = "reported", outcome.result
            await self._act(LedgerActivities.record_visit, VisitRecord(
                case_id=self.case.case_id, visit_id=visit.visit_id, status="reported", result=outcome.result.value,
                collectors=outcome.collectors, distress=outcome.distress), "Record visit outcome")
            await self._event("visit_reported", {"visit_id": visit.visit_id, "result": outcome.result.value,
                                                 "collectors": len(set(outcome.collectors)),
                                                 "distress": outcome.distress})
            self._wake = True
            if outcome.distress:
                s.flags.distress = True
                return self._result("distress recorded: automated contact stopped, review requested")
            if outcome.promise is not None:
                return self._result(*await self._take_promise(outcome.promise))
            if outcome.hardship is not None:
                return self._result(*await self._propose_plan(outcome.hardship))
            return self._result(f"visit outcome {outcome.result.value} recorded")

    @record_visit_outcome.validator
    def _check_visit_outcome(self, outcome: VisitOutcome) -> None:
        self._reject_if_closed()
        visit = self.s.visit
        if visit is None or visit.visit_id != outcome.visit_id:
            raise ValueError(f"no visit {outcome.visit_id!r} on this case")
        if visit.status not in ("dispatched", "overdue"):
            raise ValueError(f"visit {outcome.visit_id} is {visit.status}, not awaiting an outcome")
        needed = self.config.rules.min_visit_collectors
        if len(set(outcome.collectors)) < needed:
            raise ValueError(f"a visit needs at least {needed} collectors together; {len(set(outcome.collectors))} named")
        if outcome.result is not VisitResult.MET and (outcome.promise or outcome.hardship):
            raise ValueError("a promise or hardship report needs result 'met'")
        if outcome.promise is not None:
            problem = self._promise_problem(outcome.promise)
            if problem:
                raise ValueError(f"promise: {problem}")

    @workflow.update
    async def update_contact_info(self, update: ContactInfoUpdate) -> UpdateResult:
        async with self._turn():
            changed = update.model_dump(exclude_none=True)
            borrower = self.case.borrower
            if update.mobile_numbers is not None:
                borrower.mobile_numbers = update.mobile_numbers
            if update.address is not None:
                borrower.address = update.address
            if update.emergency_contacts is not None:
                self.case.emergency_contacts = update.emergency_contacts
            self.s.contact_info_version += 1
            self._wake = True
            await self._event("contact_data_updated", {"fields": sorted(changed)})
            return self._result(f"updated {', '.join(sorted(changed))}; verification runs again")

    @update_contact_info.validator
    def _check_contact_info(self, update: ContactInfoUpdate) -> None:
        self._reject_if_closed()

    @workflow.update
    async def approve(self, decision: ApprovalDecision) -> UpdateResult:
        async with self._turn():
            s = self.s
            self._recheck(self._check_approve, decision)
            pending = next(a for a in s.approvals if a.approval_id == decision.approval_id)
            s.approvals.remove(pending)
            self._wake = True
            verdict = "approved" if decision.approve else "rejected"
            await self._event("approval_decided", {"approval_id": pending.approval_id, "kind": pending.kind.value,
                                                   "verdict": verdict, "by": decision.decided_by, "note": decision.note})
            match pending.kind:
                case ApprovalKind.VISIT:
                    assert s.visit is not None
                    s.visit.status = "approved" if decision.approve else "rejected"
                    s.next_step_at = self.now + self.config.policy.visit.earliest_after_approval
                    await self._act(LedgerActivities.record_visit, VisitRecord(
                        case_id=self.case.case_id, visit_id=s.visit.visit_id, status=s.visit.status,
                        decided_by=decision.decided_by), f"Visit {verdict}")
                case ApprovalKind.HARDSHIP_PLAN:
                    assert s.plan is not None
                    if decision.approve:
                        await self._activate_plan()
                    else:
                        s.plan.status = "rejected"
                    await self._record_plan(decided_by=decision.decided_by)
                case ApprovalKind.WELLBEING_REVIEW | ApprovalKind.VULNERABILITY_REVIEW:
                    s.flags.distress = s.flags.vulnerable = False
                    s.review_due = None
                    if decision.approve and s.assessment is None:
                        await self._to_stage(Stage.ASSESSMENT, "review: resume")
                    elif decision.approve:
                        s.flags.hardship = True
                        await self._start_treatment(Segment.HARDSHIP, "review: resume gently on the soft path")
                    else:
                        await self._finish(Stage.REFERRED, "wellbeing_team", "review: handed to specialists")
            return self._result(f"{pending.kind.value} {verdict}", pending.approval_id)

    @approve.validator
    def _check_approve(self, decision: ApprovalDecision) -> None:
        self._reject_if_closed()
        pending = [a.approval_id for a in self.s.approvals]
        if not pending:
            raise ValueError("nothing on this case is awaiting approval")
        if decision.approval_id not in pending:
            raise ValueError(f"approval {decision.approval_id!r} is not pending (pending: {', '.join(pending)})")

    @workflow.update
    async def open_dispute(self, dispute: DisputeRequest) -> UpdateResult:
        async with self._turn():
            await self._start_hold(HoldKind.DISPUTE, dispute.reason)
            await self._event("dispute_opened", dispute.model_dump())
            return self._result("dispute opened: collection paused until it is verified")

    @open_dispute.validator
    def _check_dispute(self, dispute: DisputeRequest) -> None:
        self._reject_if_closed()
        if self.s.flags.hold(HoldKind.DISPUTE):
            raise ValueError("a dispute is already open")

    @workflow.update
    async def resolve_dispute(self, resolution: DisputeResolution) -> UpdateResult:
        async with self._turn():
            await self._event("dispute_resolved", resolution.model_dump(mode="json"))
            if resolution.upheld:
                await self._finish(Stage.WITHDRAWN, None, f"dispute upheld: {resolution.note}")
                return self._result("dispute upheld: the case is withdrawn")
            if resolution.corrected_balance is not None:
                self.s.balance = resolution.corrected_balance
            await self._end_hold(HoldKind.DISPUTE, "debt verified")
            return self._result(f"debt verified; balance {self.s.balance}: collection resumes")

    @resolve_dispute.validator
    def _check_resolution(self, resolution: DisputeResolution) -> None:
        self._reject_if_closed()
        if not self.s.flags.hold(HoldKind.DISPUTE):
            raise ValueError("no dispute is open")

    @workflow.update
    async def set_capacity_hold(self, request: CapacityHoldRequest) -> UpdateResult:
        async with self._turn():
            if request.on:
                await self._start_hold(HoldKind.CAPACITY, request.reason)
            else:
                await self._end_hold(HoldKind.CAPACITY, request.reason)
            return self._result(f"capacity hold {'on' if request.on else 'off'}")

    @set_capacity_hold.validator
    def _check_capacity(self, request: CapacityHoldRequest) -> None:
        self._reject_if_closed()

    @workflow.update
    async def start_moratorium(self, request: MoratoriumRequest) -> UpdateResult:
        async with self._turn():
            scheme = self.config.rules.moratorium
            until = self.now + timedelta(days=scheme.standard_days) if request.kind == "standard" else None
            await self._start_hold(HoldKind.MORATORIUM, f"{request.kind} moratorium {request.reference}", until,
                                   request.reference)
            await self._event("moratorium_started", {"kind": request.kind, "reference": request.reference,
                                                     "interest_and_fees": "frozen"})
            return self._result(f"moratorium {request.reference}: no contact, interest and fees frozen")

    @start_moratorium.validator
    def _check_moratorium(self, request: MoratoriumRequest) -> None:
        self._reject_if_closed()
        if self.s.config is None or self.config.rules.moratorium is None:
            raise ValueError("no moratorium scheme applies under this case's rule packs")

    @workflow.update
    async def end_crisis_treatment(self, end: CrisisTreatmentEnd) -> UpdateResult:
        async with self._turn():
            hold = self.s.flags.hold(HoldKind.MORATORIUM)
            days = self.config.rules.moratorium.after_crisis_treatment_days
            hold.until = clock.end_of_local_day(end.ended_on, self.case.borrower.timezone) + timedelta(days=days)
            self._wake = True
            await self._event("moratorium_ends", {"until": hold.until.isoformat(), "reference": hold.ref})
            return self._result(f"moratorium ends {hold.until:%Y-%m-%d}")

    @end_crisis_treatment.validator
    def _check_crisis_end(self, end: CrisisTreatmentEnd) -> None:
        self._reject_if_closed()
        hold = self.s.flags.hold(HoldKind.MORATORIUM)
        if hold is None or hold.until is not None:
            raise ValueError("no open-ended (mental health crisis) moratorium on this case")

    @workflow.update
    async def record_vulnerability(self, report: VulnerabilityReport) -> UpdateResult:
        async with self._turn():
            self.s.vulnerability = Vulnerability(
                driver=report.driver if report.consent_to_record else None, source=report.source,
                recorded_at=self.now, review_due=self.now + self.config.policy.wellbeing.review_within)
            self.s.flags.vulnerable = True
            self._wake = True
            await self._event("vulnerability_recorded", {
                "driver": report.driver.value if report.consent_to_record else "withheld (no consent)",
                "source": report.source})
            return self._result("vulnerability recorded: contact stops until a trained person reviews")

    @record_vulnerability.validator
    def _check_vulnerability(self, report: VulnerabilityReport) -> None:
        self._reject_if_closed()

    @workflow.update
    async def open_complaint(self, request: ComplaintRequest) -> UpdateResult:
        async with self._turn():
            s, policy = self.s, self.config.policy.complaints
            s.complaints_opened += 1
            complaint_id = f"complaint-{self.case.case_id}-{s.complaints_opened}"
            await workflow.start_child_workflow(
                Complaint.run, ComplaintInput(
                    case_id=self.case.case_id, complaint_id=complaint_id, request=request,
                    acknowledge_within=policy.acknowledge_within, resolve_within=policy.resolve_within,
                    currency=self.case.loan.currency),
                id=complaint_id, parent_close_policy=ParentClosePolicy.ABANDON,
                static_summary=f"Complaint ({request.category}) on case {self.case.case_id}")
            if policy.pause_contact:
                await self._start_hold(HoldKind.COMPLAINT, f"complaint {complaint_id} under review", ref=complaint_id)
            return self._result(f"complaint {complaint_id} opened", complaint_id)

    @open_complaint.validator
    def _check_complaint(self, request: ComplaintRequest) -> None:
        self._reject_if_closed()

    # --- providers and operators: signals ----------------------------------------------------

    @workflow.signal
    async def delivery_receipt(self, receipt: DeliveryReceipt) -> None:
        async with self._turn():
            attempt = next((a for a in self.s.attempts if a.key == receipt.attempt_key), None)
            if attempt is None:
                workflow.logger.warning("receipt for an unknown attempt", extra={"attempt_key": receipt.attempt_key})
                return
            self._apply_outcome(attempt, receipt.outcome, receipt.distress)
            await self._act(LedgerActivities.record_receipt, ReceiptRecord(
                case_id=self.case.case_id, key=receipt.attempt_key, outcome=receipt.outcome, distress=receipt.distress,
                at=self.now), "Record delivery receipt")

    @workflow.signal
    async def cease_contact(self, request: CeaseContact) -> None:
        async with self._turn():
            flags = self.s.flags
            if request.scope is CeaseScope.ALL:
                flags.cease_all = True
            elif request.scope is CeaseScope.CHANNEL and request.channel not in flags.cease_channels:
                flags.cease_channels.append(request.channel)
            elif request.scope is CeaseScope.NUMBER:
                flags.cease_numbers.append(contacts.phone_ref(self.case.case_id, request.number, self.case.borrower.country))
            if self.s.stage is Stage.RELATIONSHIP:
                flags.relationship_opt_out = True
            self._wake = True
            await self._event("cease_contact", {"scope": request.scope.value, "channel": request.channel,
                                                "number_ref": flags.cease_numbers[-1] if request.number else None,
                                                "reason": request.reason})

    @workflow.signal
    async def pause(self, request: PauseRequest) -> None:
        async with self._turn():
            await self._start_hold(HoldKind.PAUSE, f"{request.reason} ({request.by})")

    @workflow.signal
    async def resume(self, request: PauseRequest) -> None:
        async with self._turn():
            await self._end_hold(HoldKind.PAUSE, f"{request.reason} ({request.by})")

    @workflow.signal
    async def third_party_refused(self, request: ThirdPartyRefusal) -> None:
        """An emergency contact asked not to be contacted again: never again, on any channel."""
        async with self._turn():
            ref = contacts.phone_ref(self.case.case_id, request.number, self.case.borrower.country)
            if ref not in self.s.flags.third_parties_refused:
                self.s.flags.third_parties_refused.append(ref)
            await self._event("third_party_refused", {"phone_ref": ref})

    @workflow.signal
    async def complaint_closed(self, closed: ComplaintClosed) -> None:
        """From the complaint's own workflow, when it is resolved."""
        async with self._turn():
            hold = self.s.flags.hold(HoldKind.COMPLAINT)
            if hold is not None and hold.ref == closed.complaint_id:
                await self._end_hold(HoldKind.COMPLAINT, "complaint resolved")
            await self._event("complaint_closed", closed.model_dump(mode="json"))

    @workflow.query
    def status(self) -> CaseStatus:
        s = self.s
        return CaseStatus(
            case_id=self.case.case_id, stage=s.stage, segment=s.assessment.segment if s.assessment else None,
            currency=self.case.loan.currency, balance=s.balance, total_paid=s.total_paid,
            days_past_due=self.days_past_due, flags=s.flags.active(), contact_counts=dict(s.counts),
            last_contacts=s.attempts[-5:], pending_promise=s.promise, plan=s.plan, visit=s.visit,
            pending_approvals=s.approvals, vulnerability=s.vulnerability, next_action=s.next_action,
            verification_missing=s.verification.missing if s.verification else [],
            policy=self.case.policy, rule_packs=self.config.rules.packs if s.config else [], run=s.runs,
        )

    # --- helpers ----------------------------------------------------------------------------

    def _recheck(self, validator: Any, arg: Any) -> None:
        """Run an update's validator again once it has its turn: another message may have changed
        the case while it waited (two operators deciding the same approval)."""
        try:
            validator(arg)
        except ValueError as e:
            raise ApplicationError(str(e), type="InvalidUpdate", non_retryable=True) from e

    @asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        """A handler's turn: once the case is open (a message can arrive before `run` starts), and
        never while the loop or another handler is part-way through a change."""
        await workflow.wait_condition(lambda: self.s.config is not None)
        async with self._lock:
            yield

    @property
    def config(self) -> CaseConfig:
        assert self.s.config is not None
        return self.s.config

    @property
    def treatment(self) -> SegmentTreatment:
        assert self.s.assessment is not None
        return self.config.policy.segments[self.s.assessment.segment]

    @property
    def now(self) -> datetime:
        return workflow.now()

    @property
    def days_past_due(self) -> int:
        """As the loan system said at the start, plus the days the case has run since."""
        opened = self.s.opened_at or self.now
        return self.case.loan.days_past_due + (self.now - opened).days

    def _key(self, kind: str) -> str:
        self.s.seq += 1
        return f"{self.case.case_id}:{kind}:{self.s.seq}"

    def _result(self, message: str, ref: str | None = None) -> UpdateResult:
        return UpdateResult(message=message, stage=self.s.stage, balance=self.s.balance, ref=ref)

    def _reject_if_closed(self) -> None:
        if self.s.stage.terminal:
            raise ValueError(f"the case is closed ({self.s.stage.value})")

    def _history_is_long(self) -> bool:
        info = workflow.info()
        budget = self.config.policy.history_event_budget if self.s.config else None
        return info.is_continue_as_new_suggested() or (budget is not None and info.get_current_history_length() > budget)

    def _prune_ledger(self) -> None:
        keep_after = self.now - LEDGER_WINDOW
        kept = [a for a in self.s.attempts if a.at >= keep_after]
        self.s.attempts_pruned += len(self.s.attempts) - len(kept)
        self.s.attempts = kept

    def _publish(self) -> None:
        """Search attributes for operators' lists: upserted when they change."""
        s = self.s
        values = search.case_attributes(
            s.stage, s.assessment.segment.value if s.assessment else None, self.case.borrower.country,
            self.days_past_due, float(s.balance), s.flags.active() + (["promise"] if s.promise else [])
            + [f"awaiting_{a.kind.value}" for a in s.approvals],
            s.next_action.at if s.next_action and not s.stage.terminal else None,
        )
        changes = search.updates(values, self._published)
        if changes:
            workflow.upsert_search_attributes(changes)
            self._published = values
        workflow.set_current_details(self._details())

    def _details(self) -> str:
        """The case at a glance, for the Web UI (a query, not stored in history)."""
        s, loan, tz = self.s, self.case.loan, self.case.borrower.timezone
        lines = [f"### {s.stage.value.replace('_', ' ').capitalize()}"
                 + (f" · {s.assessment.segment.value.replace('_', ' ')}" if s.assessment else ""),
                 f"**Balance** {s.balance} {loan.currency} (paid {s.total_paid}) · "
                 f"**{self.days_past_due}** days past due"]
        if s.flags.active():
            lines.append("**Flags** " + ", ".join(s.flags.active()))
        if s.next_action:
            when = f" at {clock.local(s.next_action.at, tz):%Y-%m-%d %H:%M} {tz}" if s.next_action.at else ""
            lines.append(f"**Next** {s.next_action.what}{when}")
        for item in s.approvals:
            lines.append(f"**Awaiting approval** {item.summary} (`{item.approval_id}`)")
        if s.promise:
            lines.append(f"**Promise** {s.promise.amount} by {s.promise.due_date}")
        if s.attempts:
            lines.append("**Last contacts**")
            lines += [f"- {clock.local(a.at, tz):%m-%d %H:%M} {a.channel.value} → {a.outcome.value}"
                      for a in s.attempts[-5:]]
        return "\n\n".join(lines[:4]) + ("\n\n" + "\n".join(lines[4:]) if lines[4:] else "")

    def _plan_next(self, what: str, at: datetime | None) -> datetime | None:
        self.s.next_action = NextAction(what=what, at=at)
        return at

    async def _sleep_until(self, at: datetime | None) -> None:
        summary = self.s.next_action.what if self.s.next_action else None
        if at is not None and at <= self.now:
            return
        try:
            await workflow.wait_condition(
                lambda: self._wake, timeout=(at - self.now) if at else None,
                timeout_summary=summary if at else None,
            )
        except asyncio.TimeoutError:
            pass

    async def _act(self, method: Any, arg: Any, summary: str, timeout: timedelta | None = None) -> Any:
        return await workflow.execute_activity_method(
            method, arg,
            start_to_close_timeout=timeout or (self.s.config.policy.activity_timeout if self.s.config else timedelta(seconds=30)),
            retry_policy=RETRY, summary=summary,
        )

    async def _event(self, kind: str, data: dict[str, Any]) -> None:
        await self._act(LedgerActivities.record_event, EventRecord(
            case_id=self.case.case_id, key=self._key(kind), kind=kind, at=self.now, data=data,
        ), f"Ledger: {kind.replace('_', ' ')}")

    async def _to_stage(self, stage: Stage, why: str) -> datetime:
        if stage is not self.s.stage:
            previous, self.s.stage = self.s.stage, stage
            self._wake = True
            await self._event("stage_changed", {"from": previous.value, "to": stage.value, "why": why})
            await self._sync_case()
        return self.now

    async def _sync_case(self, closed: bool = False) -> None:
        s = self.s
        await self._act(LedgerActivities.update_case, CaseUpdate(
            case_id=self.case.case_id, stage=s.stage.value, balance=s.balance,
            segment=s.assessment.segment.value if s.assessment else None,
            closed_at=self.now if closed else None, outcome_reason=s.outcome_reason if closed else None,
        ), "Update the case in the ledger")

    async def _escalate(self, kind: str, reason: str) -> None:
        """A hand-off to people or a partner (supervisor, legal / recovery, credit bureau), on record."""
        await self._act(LedgerActivities.hand_off, EscalationRecord(
            case_id=self.case.case_id, key=self._key(f"handoff-{kind}"), kind=kind, reason=reason, at=self.now,
        ), f"Hand off: {kind.replace('_', ' ')}")
        await self._event("handed_off", {"kind": kind, "reason": reason})

    async def _ask_approval(self, kind: ApprovalKind, approval_id: str, summary: str) -> None:
        self.s.approvals.append(PendingApproval(approval_id=approval_id, kind=kind, requested_at=self.now,
                                                summary=summary))
        await self._event("approval_requested", {"approval_id": approval_id, "kind": kind.value, "summary": summary})

    async def _current_hold(self) -> Hold | None:
        """The hold in force, if any; holds whose time is up are lifted here."""
        for hold in list(self.s.flags.holds):
            if hold.until is not None and self.now >= hold.until:
                await self._end_hold(hold.kind, "its time is up")
        return self.s.flags.holds[0] if self.s.flags.holds else None

    async def _start_hold(self, kind: HoldKind, reason: str, until: datetime | None = None,
                          ref: str | None = None) -> None:
        flags = self.s.flags
        flags.holds = [h for h in flags.holds if h.kind is not kind]
        flags.holds.append(Hold(kind=kind, reason=reason, since=self.now, until=until, ref=ref))
        self._wake = True
        await self._event("hold_started", {"kind": kind.value, "reason": reason,
                                           "until": until.isoformat() if until else None, "ref": ref})

    async def _end_hold(self, kind: HoldKind, reason: str) -> None:
        flags = self.s.flags
        if flags.hold(kind) is None:
            return
        flags.holds = [h for h in flags.holds if h.kind is not kind]
        self._wake = True
        await self._event("hold_ended", {"kind": kind.value, "reason": reason})

    def _borrower_unreachable(self) -> bool:
        """No valid number of their own, or the rule packs' count of consecutive failures reached. A
        number the borrower asked us not to use does not make them unreachable: asking their contacts
        instead would go around their request."""
        report = self.s.verification
        return (report is not None and not report.reachable_refs) or (
            self.s.consecutive_failures >= self.config.rules.unreachable_after_failures)

    async def _ask_third_parties(self) -> None:
        """Ask each emergency contact, once, only to pass on a message: never the debt."""
        report = self.s.verification
        for phone in [p for p in report.phones if p.owner == "emergency_contact" and p.valid] if report else []:
            if phone.ref in self.s.third_parties_asked:
                continue
            result = await self._contact(Channel.SMS, "whereabouts_request", phone.ref, step=None,
                                         person="emergency_contact",
                                         summary=f"Ask emergency contact {phone.index + 1} to pass on a message")
            if not (isinstance(result, GuardDecision) and result.verdict == "defer"):
                self.s.third_parties_asked.append(phone.ref)  # sent, or refused by the guard: done

    def _borrower_number(self) -> str | None:
        """The first verified borrower number that the borrower has not refused."""
        report = self.s.verification
        if report is None:
            return None
        return next((r for r in report.reachable_refs if r not in self.s.flags.cease_numbers), None)

    def _number_for(self, ref: str) -> str:
        check = next(p for p in self.s.verification.phones if p.ref == ref)
        numbers = self.case.borrower.mobile_numbers if check.owner == "borrower" else [
            c.phone for c in self.case.emergency_contacts]
        return numbers[check.index]

    def _address_text(self) -> str:
        a = self.case.borrower.address
        return ", ".join(part for part in (a.line1, a.line2, a.city, a.region, a.postal_code) if part)

    def _guard(self, action: PlannedAction) -> GuardDecision:
        return evaluate(action, now=self.now, timezone=self.case.borrower.timezone, flags=self.s.flags,
                        attempts=self.s.attempts, rules=self.config.rules,
                        borrower_unreachable=self._borrower_unreachable(),
                        third_party_cap=self.config.policy.third_party.max_messages_each)

    async def _record_guard(self, decision: GuardDecision, channel: Channel) -> None:
        await self._event("guard_decision", {"channel": channel.value, **decision.model_dump(mode="json")})

    async def _contact(self, channel: Channel, template: str, ref: str, step: int | None,
                       summary: str | None = None, person: str = "borrower") -> ContactResult | GuardDecision:
        """Ask the guard, then act; a deferral or denial is recorded and returned instead."""
        decision = self._guard(PlannedAction(channel=channel, phone_ref=ref, person=person))
        if not decision.allowed:
            await self._record_guard(decision, channel)
            return decision
        return await self._send(channel, template, ref, self._number_for(ref), step, decision,
                                summary or LABEL[channel], person)

    async def _send(self, channel: Channel, template: str, ref: str | None, to: str, step: int | None,
                    decision: GuardDecision, summary: str, person: str = "borrower") -> ContactResult:
        sender, loan = self.config.policy.sender, self.case.loan
        key = self._key(channel.value)
        if person == "borrower":
            variables = {"sender_name": sender.name, "sender_number": sender.contact_number,
                         "amount": str(self.s.balance), "currency": loan.currency,
                         "due_date": loan.due_date.isoformat()}
        else:  # a third party learns nothing of the debt, not even the lender's name
            variables = {"neutral_sender": sender.neutral_name, "sender_number": sender.contact_number,
                         "contact_person": self.case.borrower.name.split()[0]}
        request = ContactRequest(
            case_id=self.case.case_id, key=key, channel=channel, person=person, phone_ref=ref, to=to,
            template=template, locale=self.case.borrower.locale, variables=variables,
            with_opt_out=self.config.rules.sms_requires_opt_out and channel is Channel.SMS,
            step=step, robot=channel is Channel.ROBOT_CALL, guard=decision, planned_at=self.now,
        )
        try:
            result: ContactResult = await self._act(CONTACT_ACTIVITY[channel], request, summary)
        except ActivityError as e:  # refused for good (bad number, bad template): a failed attempt
            workflow.logger.warning("contact refused", extra={"key": key, "reason": str(e.cause)})
            result = ContactResult(key=key, outcome=Outcome.FAILED, distress=False, provider="", message_id="")
        attempt = ContactAttempt(key=key, channel=channel, person=person, phone_ref=ref, template=template, at=self.now,
                                 outcome=Outcome.SENT, robot=channel is Channel.ROBOT_CALL, step=step)
        self.s.attempts.append(attempt)
        self.s.counts[channel.value] = self.s.counts.get(channel.value, 0) + 1
        self._apply_outcome(attempt, result.outcome, result.distress)
        return result

    def _apply_outcome(self, attempt: ContactAttempt, outcome: Outcome, distress: bool) -> None:
        attempt.outcome = outcome
        counts = self.s.counts
        if attempt.person != "borrower":
            pass  # a third party's phone says nothing of whether the borrower can be reached
        elif outcome.is_failure:
            self.s.consecutive_failures += 1
        elif outcome.is_interaction or outcome is Outcome.DELIVERED:
            self.s.consecutive_failures = 0
        if outcome is Outcome.CONVERSATION:
            counts["conversations"] = counts.get("conversations", 0) + 1
        if distress:
            attempt.distress = True
            self.s.flags.distress = True
            self._wake = True

    def _promise_problem(self, request: PromiseRequest) -> str | None:
        if self.s.config is None:
            return None  # checked again by the handler once the case has its policy
        today = clock.local(self.now, self.case.borrower.timezone).date()
        return plans.promise_problem(request.amount, request.due_date, today, self.s.balance,
                                     self.config.policy.promise)

    async def _take_promise(self, request: PromiseRequest) -> tuple[str, str]:
        s = self.s
        deadline = plans.promise_deadline(request.due_date, self.case.borrower.timezone,
                                          self.config.policy.promise.grace)
        promise = PromiseToPay(promise_id=self._key("promise"), amount=request.amount, due_date=request.due_date,
                               deadline=deadline, paid_at_start=s.total_paid, taken_by=request.taken_by)
        s.promise = promise
        self._wake = True
        await self._act(LedgerActivities.record_promise, PromiseRecord(
            case_id=self.case.case_id, promise_id=promise.promise_id, amount=promise.amount,
            due_date=promise.due_date, deadline=deadline, taken_by=promise.taken_by, status="open",
        ), f"Record promise: {promise.amount} by {promise.due_date}")
        await self._to_stage(Stage.PROMISE, "promise to pay taken")
        return f"promise of {promise.amount} by {promise.due_date} recorded", promise.promise_id

    async def _propose_plan(self, report: HardshipReport) -> tuple[str, str]:
        s = self.s
        s.flags.hardship = True
        plan = plans.propose_plan(self._key("plan"), report, self.case.loan, s.balance, s.total_paid, self.now,
                                  self.case.borrower.timezone, self.config.policy.hardship)
        s.plan = plan
        if s.promise is not None:
            await self._close_promise("superseded")
        self._wake = True
        await self._event("hardship_reported", {"reason": report.reason.value, "plan_id": plan.plan_id,
                                                "needs_approval": plan.needs_approval})
        if plan.needs_approval:
            await self._ask_approval(ApprovalKind.HARDSHIP_PLAN, plan.plan_id, f"Hardship plan: {plan.credit_effect}")
        else:
            await self._activate_plan()
        await self._record_plan()
        await self._to_stage(Stage.HARDSHIP_PLAN, f"hardship: {report.reason.value}")
        state = "awaits approval" if plan.needs_approval else "is active"
        return f"plan of {len(plan.instalments)} instalments {state}", plan.plan_id

    async def _activate_plan(self) -> None:
        plan = self.s.plan
        assert plan is not None
        plan.status = "active"
        if plan.penalty_waived:
            self.s.balance -= plan.penalty_waived
            await self._event("penalty_waived", {"plan_id": plan.plan_id, "amount": str(plan.penalty_waived)})

    async def _record_plan(self, decided_by: str | None = None) -> None:
        plan = self.s.plan
        assert plan is not None
        await self._act(LedgerActivities.record_plan, PlanRecord(
            case_id=self.case.case_id, plan_id=plan.plan_id, status=plan.status, reason=plan.reason.value,
            instalments=[i.model_dump(mode="json") for i in plan.instalments], penalty_waived=plan.penalty_waived,
            credit_effect=plan.credit_effect, decided_by=decided_by,
        ), f"Record hardship plan ({plan.status})")
