"""`UpcomingDue`: a loan not yet overdue that the model or the rules found at risk (`domain.early_warning`).

The warned group gets one friendly reminder before the due date, inside every rule (the same guard and
contact activity as a case); the control group is only watched. Paid by the due date, it ends. Unpaid, it
continues as new as the case itself (`OverdueCase`), under the same workflow id, carrying its place in the
case's key sequence, the reminder (the guard counts it) and any part payment: nothing lost, nothing sent
twice. Either way the outcome is on the ledger (`early_warnings`) for the report's comparison.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from temporalio import workflow
from temporalio.common import RawValue

from workflows.case import bookkeeping, contact, presentation, verification
from workflows.case.core import CaseRun
from workflows.case.protection_handlers import ProtectionHandlers
from workflows.case.workflow import OverdueCase

with workflow.unsafe.imports_passed_through():
    from activities.case_data import CaseDataActivities
    from activities.contracts import ContactResult, EarlyWarningRecord, LoadConfigRequest, PaymentRecord
    from activities.ledger import LedgerActivities
    from domain import clock, early_warning
    from domain.case_input import CaseInput
    from domain.early_warning import EarlyWarningOutcome, UpcomingLoan
    from domain.enums import Channel, Stage
    from domain.messages import Payment, UpdateResult
    from domain.policy import shared
    from domain.state import EarlyWarningCarry
    from domain.status import CaseStatus


@workflow.defn(name="UpcomingDue")
class UpcomingDue(ProtectionHandlers):
    """The borrower's protections apply from the first day (`ProtectionHandlers`: stop contact, pause,
    hard stops, vulnerability, disputes, complaints, preferences), and go on with the case it becomes."""

    @workflow.init
    def __init__(self, upcoming: UpcomingLoan) -> None:
        self.upcoming = upcoming
        self.c = CaseRun(upcoming.case.model_copy())
        self.c.s.stage = Stage.UPCOMING
        self.due = early_warning.amount_due(upcoming.case)
        self.paid = Decimal(0)  # before the loan became a case
        self.paid_on_time = Decimal(0)  # of which paid by the due date (its `paid_at`)
        self.overdue_at: datetime | None = None
        self.reminded_at: datetime | None = None

    @workflow.run
    async def run(self, upcoming: UpcomingLoan) -> EarlyWarningOutcome:
        c, loan, tz = self.c, upcoming.case.loan, upcoming.case.borrower.timezone
        async with c.lock:
            c.s.config = shared(await c.act(CaseDataActivities.load_case_config, LoadConfigRequest(
                policy=c.case.policy, country=c.case.borrower.country, extra_packs=c.case.extra_rule_packs,
                today=clock.local(c.now, tz).date()), "Load policy and rule packs", timeout=timedelta(seconds=30)))
        c.s.opened_at = c.now
        policy = c.config.policy.early_warning
        overdue_at = self.overdue_at = early_warning.overdue_at(loan.due_date, tz, policy)
        c.owe(self._record())
        c.event("early_warning_started", {  # what an auditor needs first: the rules it runs under
            "group": upcoming.group, "risk": upcoming.risk, "risk_by": upcoming.risk_by,
            "due_date": loan.due_date.isoformat(), "amount_due": str(self.due),
            "policy": f"{c.config.policy.name}@{c.config.policy.version}",
            "rules": c.config.rules.model_dump(mode="json"),
            "timezone": tz, "days_past_due": 0, "balance": str(loan.outstanding_balance)})
        if upcoming.group == "warned":
            await verification.verify(c)
            remind_at = early_warning.remind_at(loan.due_date, tz, policy, c.config.rules.contact_window.start)
            await self._remind(max(remind_at, c.now), overdue_at, policy.template)
        c.plan_next(f"Due {loan.due_date}: overdue from {overdue_at:%Y-%m-%d %H:%M} UTC unless paid", overdue_at)
        presentation.publish(c)
        await bookkeeping.flush(c)
        await self._until(overdue_at)
        on_time = self.paid_on_time >= self.due
        c.owe(self._record("paid_on_time" if on_time else "overdue"))
        c.event("early_warning_ended", {"group": upcoming.group, "paid_on_time": on_time, "paid": str(self.paid)})
        if on_time:
            c.to_stage(Stage.SETTLED, "paid on time")
            presentation.publish(c)
            await bookkeeping.settle(c)
            return EarlyWarningOutcome(case_id=c.case_id, group=upcoming.group, paid_on_time=True, paid=self.paid,
                                       reminded_at=self.reminded_at)
        c.to_stage(Stage.VERIFICATION, "overdue: the case begins")
        await bookkeeping.settle(c)
        workflow.continue_as_new(self._overdue_case(), workflow=OverdueCase.run)

    async def _remind(self, at: datetime, overdue_at: datetime, template: str) -> None:
        """One reminder, when the guard allows it before the loan falls overdue (deferred: tried again)."""
        c = self.c
        while at < overdue_at and self.paid_on_time < self.due:
            await self._until(at)
            ref = contact.borrower_number(c)
            if ref is None or self.paid_on_time >= self.due or c.now >= overdue_at:
                c.event("step_skipped", {"step": None, "reason": "no usable borrower number" if ref is None
                                         else "paid or overdue before the reminder"})
                return
            result = await contact.contact(c, Channel.SMS, template, ref, step=None,  # what falls due, not the balance
                                           summary="Friendly reminder before the due date",
                                           extra={"amount": str(self.due - self.paid)})
            deferral = contact.deferred(result)
            if deferral is None:  # sent (or refused for good: then no reminder)
                if isinstance(result, ContactResult) and not result.outcome.is_failure:
                    self.reminded_at = c.now
                    c.owe(self._record())
                return
            at = deferral.until or overdue_at

    async def _until(self, at: datetime) -> None:
        """Wait for `at`, or until the amount due is paid."""
        c = self.c
        if at > c.now:
            with contextlib.suppress(TimeoutError):  # the time came
                await workflow.wait_condition(lambda: self.paid_on_time >= self.due, timeout=at - c.now,
                                              timeout_summary=c.s.next_action.what if c.s.next_action else None)

    def _record(self, outcome: str | None = None) -> EarlyWarningRecord:
        u, c = self.upcoming, self.c
        return EarlyWarningRecord(
            case_id=c.case_id, loan_id=u.case.loan.loan_id, group=u.group,
            risk=Decimal(str(round(u.risk, 4))) if u.risk is not None else None, risk_by=u.risk_by,
            country=u.case.borrower.country, currency=u.case.loan.currency, amount_due=self.due,
            due_date=u.case.loan.due_date, started_at=c.s.opened_at or c.now, reminded_at=self.reminded_at,
            outcome=outcome, outcome_at=c.now if outcome else None)  # type: ignore[arg-type]

    def _overdue_case(self) -> CaseInput:
        """The case as it begins: days past due from the due date, the balance less what was paid, and what
        the early warning did (its keys, its contact, its payments) carried on."""
        c, case = self.c, self.upcoming.case
        missed = max(Decimal(0), self.due - self.paid)
        instalments = case.loan.instalments
        loan = case.loan.model_copy(update={
            "days_past_due": early_warning.days_past_due(case.loan.due_date, c.now, case.borrower.timezone),
            "outstanding_balance": case.loan.outstanding_balance - self.paid,
            # the instalment that fell due unpaid is in arrears now (what an arrears notice is judged on)
            "instalments": instalments.model_copy(update={"arrears": instalments.arrears + missed})
            if instalments else None})
        carry = EarlyWarningCarry(seq=c.s.seq, attempts=c.s.attempts, payment_refs=c.s.payment_refs, paid=self.paid,
                                  group=self.upcoming.group, flags=c.s.flags, complaints_opened=c.s.complaints_opened)
        return case.model_copy(update={"loan": loan, "early_warning": carry, "state": None})

    @workflow.update
    async def record_payment(self, payment: Payment) -> UpdateResult:
        """A payment before the loan falls overdue (the loan system's feed, as for a case)."""
        c = self.c
        if payment.reference in c.s.payment_refs:
            return c.result(f"payment {payment.reference} was already applied", payment.reference)
        c.s.payment_refs.append(payment.reference)
        self.paid += payment.amount
        if self.overdue_at is None or payment.paid_at < self.overdue_at:
            self.paid_on_time += payment.amount
        c.s.total_paid, c.s.balance = self.paid, max(Decimal(0), c.case.loan.outstanding_balance - self.paid)
        async with c.lock:
            await c.act(LedgerActivities.record_payment, PaymentRecord(
                case_id=c.case_id, reference=payment.reference, amount=payment.amount, currency=c.case.loan.currency,
                paid_at=payment.paid_at, balance_after=c.s.balance, owed=bookkeeping.take(c)),
                f"Payment {payment.amount} {c.case.loan.currency} before the due date")
        return c.result(f"payment of {payment.amount} received before the due date", payment.reference)

    @record_payment.validator
    def _check_payment(self, payment: Payment) -> None:
        """Taken in every stage, also while the loan is becoming a case (it carries what was paid)."""
        c = self.c
        if payment.currency and payment.currency != c.case.loan.currency:
            raise ValueError(f"currency {payment.currency} does not match the loan's {c.case.loan.currency}")
        c.exact(payment.amount)
        if payment.amount > c.case.loan.outstanding_balance - self.paid:
            raise ValueError(f"payment {payment.amount} is more than the loan's outstanding balance")

    @workflow.query
    def status(self) -> CaseStatus:
        return presentation.status(self.c)

    @workflow.update(dynamic=True)
    async def not_yet(self, name: str, args: Sequence[RawValue]) -> None:
        """Any other update of a case (a promise, a plan, a visit report): refused by its validator."""

    @not_yet.validator
    def _not_yet(self, name: str, args: Sequence[RawValue]) -> None:
        due = self.upcoming.case.loan.due_date
        raise ValueError(f"{name}: the loan is not overdue yet (due {due}; an early warning until then). Payments, "
                         "stop-contact, holds, disputes, complaints and vulnerability are taken now; this one once it "
                         "is a case, from the day after its due date")
