"""The balance engine in a running case, on the time-skipping server: accrual within the packs' cap, a
freeze, payments applied by component, relief offers through the approval matrix, settlements accepted
and lapsed, token payments reviewed. Every case is audited after its test (`conftest.Cases.close`): the
checker recomputes each balance from the journal."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from zoneinfo import ZoneInfo

import pytest

from adapters.ledger import Ledger
from domain.balance import Caps, Owed, Terms
from domain.books import Books
from domain.enums import ApprovalKind, ReliefStatus, Stage, VisitResult
from domain.messages import (
    ApprovalDecision,
    DisputeRequest,
    DisputeResolution,
    MoratoriumRequest,
    Payment,
    PromiseRequest,
    VisitOutcome,
)
from domain.relief import ReliefAcceptance, ReliefRequest
from domain.statement import build
from service.cases import Cases as Service
from tests import factories
from workflows.case import OverdueCase

CENT = Decimal("0.01")
RATES = {"annual_interest_rate": "0.18", "daily_penalty_rate": "0.0005"}  # 36.25% a year: above cn's 24%
PRINCIPAL = Decimal("2850.00")  # the testkit loan: 3000.00 outstanding, 150.00 of it penalty already accrued


def pay(amount: str, ref: str, at: datetime | None = None) -> Payment:
    return Payment(amount=Decimal(amount), reference=ref, paid_at=at or datetime.now(UTC))


def capped(days: int) -> tuple[Decimal, Decimal]:
    """cn's cap: interest and penalty together at most 24% a year of the principal (actual days / 365);
    interest at the loan's 18%, the penalty takes what the cap leaves."""
    interest = PRINCIPAL * Decimal("0.18") * days / 365
    total = PRINCIPAL * Decimal("0.24") * days / 365
    return interest.quantize(CENT, ROUND_DOWN), (total - interest).quantize(CENT, ROUND_DOWN)


async def test_interest_and_penalty_accrue_within_the_cap_and_a_payment_goes_penalty_first(cases, env):
    handle = await first_sms(cases)
    await env.sleep(timedelta(days=40))
    now = await env.get_current_time()
    result = await handle.execute_update(OverdueCase.record_payment, pay("500.00", "BANK-1", now))
    statement = await handle.query(OverdueCase.statement)
    [applied] = statement.payments
    days = (applied.on - statement.opened_on).days  # accrued up to the payment's day, then applied
    assert days >= 40
    interest, penalty = capped(days)
    before = PRINCIPAL + Decimal("150.00") + interest + penalty
    a = applied.allocation
    assert a.fees + a.penalty + a.interest + a.principal + a.overpaid == Decimal("500.00")
    rest = 500 - 150 - penalty - interest  # penalty first, then interest, then the principal (cn: Civil Code 561)
    assert (a.fees, a.penalty, a.interest, a.principal) == (0, Decimal("150.00") + penalty, interest, rest)
    assert result.balance == statement.total == before - 500 and statement.principal == PRINCIPAL - rest
    assert statement.period_start > statement.opened_on  # a month passed: a new statement period
    assert statement.lines[0] == f"本金: ¥{statement.principal:,}"  # the borrower's language and format
    [row] = await cases.rows("SELECT allocation FROM payments WHERE case_id = :c", c=statement.case_id)
    assert Decimal(row["allocation"]["penalty"]) == a.penalty
    # the service reads the ledger's copy (no wait on a worker) and draws the same statement from its books
    recorded = await Service(cases.client, cases.queue, Ledger(cases.engine)).statement(statement.case_id)
    assert recorded.lines == statement.lines and recorded.payments == statement.payments


async def test_a_dispute_freezes_accrual_until_it_is_resolved(cases, env):
    handle = await first_sms(cases)
    await env.sleep(timedelta(days=3))
    await handle.execute_update(OverdueCase.open_dispute, DisputeRequest(reason="not my debt"))
    frozen = await cases.until(handle, lambda s: s.statement.freezes, what="a freeze")
    opened = frozen.statement.freezes[0].start
    await env.sleep(timedelta(days=20))
    await handle.execute_update(OverdueCase.resolve_dispute, DisputeResolution(
        upheld=False, note="verified with the lender", decided_by="supervisor-1"))
    ended = await cases.until(handle, lambda s: s.statement.freezes[0].end is not None, what="the freeze ended")
    [freeze] = ended.statement.freezes
    assert freeze.reason == "dispute" and (freeze.end - opened).days >= 20
    assert ended.statement.total == frozen.statement.total  # nothing accrued while the dispute was open
    await env.sleep(timedelta(days=10))
    await handle.execute_update(OverdueCase.record_payment, pay("1.00", "BANK-2", await env.get_current_time()))
    resumed = await handle.query(OverdueCase.statement)
    unfrozen = (freeze.start - resumed.opened_on).days + (resumed.payments[0].on - freeze.end).days
    interest, penalty = capped(unfrozen)  # fractions of a cent carry across the freeze
    assert resumed.total == Decimal("3000.00") + interest + penalty - 1  # accrual ran again, and only then


async def first_sms(cases, **overrides):
    """A case with the loan's rates, once its first reminder went."""
    handle = await cases.start(**RATES, **overrides)
    await cases.until(handle, lambda s: s.contact_counts.get("sms", 0) >= 1, what="first SMS")
    return handle


async def written(cases, sql: str, **params) -> list[dict]:
    """Rows the case's ledger write brings (it follows the step the query already shows)."""
    for _ in range(100):
        rows = await cases.rows(sql, **params)
        if rows:
            return rows
        await asyncio.sleep(0.05)
    raise AssertionError(f"nothing written for {sql}")


async def offer(handle, **request) -> str:
    result = await handle.execute_update(OverdueCase.offer_relief, ReliefRequest(offered_by="agent-7", **request))
    assert result.ref
    return result.ref


async def test_a_settlement_accepted_before_expiry_and_paid_writes_off_the_rest(cases):
    handle = await first_sms(cases)
    await factories.rejected(handle.execute_update(OverdueCase.offer_relief, ReliefRequest(
        kind="settlement", amount=Decimal("1000.00"), offered_by="agent-7", role="supervisor")), "at least")
    offer_id = await offer(handle, kind="settlement", amount=Decimal("2400.00"))  # 20% off: a supervisor's
    status = await handle.query(OverdueCase.status)
    [pending] = status.pending_approvals
    assert pending.kind is ApprovalKind.RELIEF and status.offers[0].approver == "supervisor"
    await factories.rejected(handle.execute_update(OverdueCase.approve, ApprovalDecision(
        approval_id=offer_id, approve=True, decided_by="agent-9", role="agent")), "supervisor or above")
    await handle.execute_update(OverdueCase.approve, ApprovalDecision(
        approval_id=offer_id, approve=True, decided_by="sup-1", role="supervisor"))
    await handle.execute_update(OverdueCase.accept_relief, ReliefAcceptance(offer_id=offer_id))
    await handle.execute_update(OverdueCase.record_payment, pay("2400.00", "BANK-S"))
    status = await cases.until(handle, lambda s: s.stage is Stage.RELATIONSHIP, what="settled")
    assert status.balance == 0 and status.statement.written_off == Decimal("600.00")
    events = await written(cases, "SELECT kind, data FROM case_events WHERE case_id = :c AND kind IN "
                                  "('settlement', 'written_off') ORDER BY seq", c=status.case_id)
    assert [e["kind"] for e in events] == ["written_off", "settlement"]
    assert events[1]["data"]["paid"] == "2400.00" and events[1]["data"]["written_off"] == "600.00"


async def test_a_longer_term_not_kept_breaks_and_its_offer_with_it(cases, env):
    handle = await first_sms(cases)
    await factories.rejected(handle.execute_update(OverdueCase.offer_relief, ReliefRequest(
        kind="longer_term", instalments=4, months=3, offered_by="sup-1", role="supervisor")), "takes no months")
    offer_id = await offer(handle, kind="longer_term", instalments=4, role="supervisor")
    await handle.execute_update(OverdueCase.accept_relief, ReliefAcceptance(offer_id=offer_id))
    await env.sleep(timedelta(days=20))  # past the offer's own expiry: the plan, not the offer, runs now
    status = await cases.status(handle)
    assert status.stage is Stage.HARDSHIP_PLAN and len(status.plan.instalments) == 4
    status = await cases.stage(handle, Stage.REMOTE_CONTACT)  # the first instalment is missed
    assert [o.status for o in status.statement.reliefs] == [ReliefStatus.BROKEN]
    assert status.plan is None and not [f for f in status.statement.freezes if f.end is None]


async def test_a_settlement_not_accepted_lapses_by_its_timer_and_cannot_be_accepted_after(cases, env):
    handle = await first_sms(cases)
    offer_id = await offer(handle, kind="settlement", amount=Decimal("2900.00"), role="supervisor")
    status = await handle.query(OverdueCase.status)
    assert status.offers[0].status is ReliefStatus.OFFERED and not status.pending_approvals
    await env.sleep(timedelta(days=15))  # the standard policy's offers last 14 days
    status = await cases.until(handle, lambda s: not s.offers, what="the offer lapsed")
    assert [o.status for o in status.statement.reliefs] == [ReliefStatus.LAPSED]
    await factories.rejected(handle.execute_update(OverdueCase.accept_relief, ReliefAcceptance(offer_id=offer_id)),
                             "lapsed")


async def test_token_payments_are_reviewed_after_their_months_and_treatment_resumes(cases, env):
    handle = await first_sms(cases)
    offer_id = await offer(handle, kind="token_payment", months=2, amount=Decimal("50.00"), role="supervisor")
    await handle.execute_update(OverdueCase.accept_relief, ReliefAcceptance(offer_id=offer_id))
    status = await cases.stage(handle, Stage.HARDSHIP_PLAN)
    assert [i.amount for i in status.plan.instalments] == [Decimal("50.00")] * 2
    assert [f.reason for f in status.statement.freezes if f.end is None] == ["plan", "relief"]
    frozen_total, review_at = status.statement.total, status.offers[0].review_at
    await handle.execute_update(OverdueCase.record_payment, pay("50.00", "TOKEN-1"))
    await cases.until(handle, lambda s: s.next_action and "Instalment 2" in s.next_action.what, what="instalment 2")
    await env.sleep(review_at - await env.get_current_time() + timedelta(hours=2))  # the last one, paid late
    status = await cases.status(handle)  # the review date has passed; the last instalment's grace has not
    assert status.stage is Stage.HARDSHIP_PLAN and status.offers[0].status is ReliefStatus.ACCEPTED
    await handle.execute_update(OverdueCase.record_payment, pay("50.00", "TOKEN-2"))
    status = await cases.stage(handle, Stage.REMOTE_CONTACT)
    assert [o.status for o in status.statement.reliefs] == [ReliefStatus.REVIEWED]
    assert status.statement.total == frozen_total - 100  # nothing accrued in the two months
    assert all(f.end is not None for f in status.statement.freezes)


async def test_collectors_offer_relief_at_a_visit_and_the_borrower_accepts_it(cases):
    handle = await cases.start(profile="high_risk", mobile=factories.UNREACHABLE, **RATES)
    status = await cases.stage(handle, Stage.FIELD_VISIT)
    await handle.execute_update(OverdueCase.approve, ApprovalDecision(
        approval_id=status.pending_approvals[0].approval_id, approve=True, decided_by="supervisor-1"))
    status = await cases.until(handle, lambda s: s.visit.status == "dispatched", what="visit dispatched")
    hours = factories.visit_hours(await cases.env.get_current_time(), "Asia/Shanghai")
    freeze = ReliefRequest(kind="interest_freeze", months=1, offered_by="collector-a")
    await factories.rejected(handle.execute_update(OverdueCase.record_visit_outcome, VisitOutcome(
        visit_id=status.visit.visit_id, result=VisitResult.NOT_HOME, collectors=["collector-a", "collector-b"],
        relief=freeze, **hours)), "needs result 'met'")
    result = await handle.execute_update(OverdueCase.record_visit_outcome, VisitOutcome(
        visit_id=status.visit.visit_id, result=VisitResult.MET, collectors=["collector-a", "collector-b"],
        relief=freeze, **hours))
    assert "interest_freeze offered" in result.message
    await handle.execute_update(OverdueCase.accept_relief, ReliefAcceptance(offer_id=result.ref))
    status = await cases.until(handle, lambda s: s.statement.freezes, what="the freeze")
    assert [f.reason for f in status.statement.freezes] == ["relief"]
    assert status.statement.reliefs[0].offered_by == "collector-a"


async def test_nothing_accrues_in_a_breathing_space_under_uk_rules_and_accrual_resumes_after(cases, env):
    """uk-conc has no rate cap: interest at the loan's 18% and penalty 0.05% a day, except the 60 days."""
    handle = await first_sms(cases, country="GB", timezone="Europe/London", mobile="+447400123450")
    await handle.execute_update(OverdueCase.start_moratorium, MoratoriumRequest(kind="standard", reference="BS-1"))
    status = await cases.until(handle, lambda s: s.statement.freezes, what="the freeze")
    assert [f.reason for f in status.statement.freezes] == ["moratorium"]
    await cases.until(handle, lambda s: s.statement.freezes[0].end is not None, what="the moratorium's end")
    await env.sleep(timedelta(days=5))
    await handle.execute_update(OverdueCase.record_payment, pay("1.00", "BANK-1", await env.get_current_time()))
    statement = await handle.query(OverdueCase.statement)
    [freeze] = statement.freezes
    assert (freeze.end - freeze.start).days == 60
    days = (freeze.start - statement.opened_on).days + (statement.payments[0].on - freeze.end).days
    interest = (PRINCIPAL * Decimal("0.18") * days / 365).quantize(CENT, ROUND_DOWN)
    penalty = (PRINCIPAL * Decimal("0.0005") * days).quantize(CENT, ROUND_DOWN)  # no cap in uk-conc
    assert statement.total == Decimal("3000.00") + interest + penalty - 1


async def test_a_promise_of_todays_balance_is_taken_though_the_books_last_accrued_weeks_ago(cases, env):
    handle = await cases.start(**RATES)
    status = await cases.until(handle, lambda s: s.contact_counts.get("sms", 0) >= 1, what="first SMS")
    await env.sleep(timedelta(days=30))  # nothing moves money: the books accrue nothing until it does
    now = (await env.get_current_time()).astimezone(ZoneInfo("Asia/Shanghai"))
    interest, penalty = capped((now.date() - status.statement.opened_on).days)
    today = Decimal("3000.00") + interest + penalty
    await factories.rejected(handle.execute_update(OverdueCase.promise_to_pay, PromiseRequest(
        amount=today + CENT, due_date=now.date() + timedelta(days=3))), f"more than the balance {today}")
    result = await handle.execute_update(OverdueCase.promise_to_pay, PromiseRequest(
        amount=today, due_date=now.date() + timedelta(days=3)))
    assert "promise of" in result.message


def test_a_statement_in_a_language_cldr_does_not_know_reads_english():
    books = Books(currency="GBP", terms=Terms(annual_interest_rate=Decimal(0)), caps=Caps(),
                  opened_on=date(2026, 12, 1), owed=Owed(principal=Decimal("12.50")), accrued_to=date(2026, 12, 1))
    assert build("C", books, date(2026, 12, 2), [], "qq", "Europe/London").lines[0] == "Principal: £12.50"
    assert build("C", books, date(2026, 12, 2), [], "zh-CN", "Asia/Shanghai").lines[0] == "本金: £12.50"


@pytest.mark.parametrize(("paid", "credit"), [("2500.00", "100.00"), ("3100.00", "700.00")])
async def test_paid_beyond_an_accepted_settlement_is_refunded_once_and_the_write_off_stays(cases, paid, credit):
    """Beyond the settlement (2,400 of 3,000), within the balance or beyond it: the same 600 written off."""
    handle = await first_sms(cases)
    offer_id = await offer(handle, kind="settlement", amount=Decimal("2400.00"), role="supervisor")
    await handle.execute_update(OverdueCase.accept_relief, ReliefAcceptance(offer_id=offer_id))
    await handle.execute_update(OverdueCase.record_payment, pay(paid, "BANK-S"))
    status = await cases.until(handle, lambda s: s.stage is Stage.RELATIONSHIP, what="settled")
    assert (status.statement.credit, status.statement.written_off) == (Decimal(credit), Decimal("600.00"))


async def test_an_offer_the_balance_no_longer_bears_cannot_be_accepted(cases):
    handle = await first_sms(cases)
    offer_id = await offer(handle, kind="settlement", amount=Decimal("2400.00"), role="supervisor")
    await handle.execute_update(OverdueCase.record_payment, pay("1000.00", "BANK-1"))
    await factories.rejected(handle.execute_update(OverdueCase.accept_relief, ReliefAcceptance(offer_id=offer_id)),
                             "the offer no longer applies")


async def test_no_promise_is_taken_while_an_arrangement_is_in_force(cases):
    handle = await first_sms(cases)
    offer_id = await offer(handle, kind="token_payment", months=2, amount=Decimal("50.00"), role="supervisor")
    await handle.execute_update(OverdueCase.accept_relief, ReliefAcceptance(offer_id=offer_id))
    await cases.stage(handle, Stage.HARDSHIP_PLAN)
    due = (await cases.env.get_current_time()).date() + timedelta(days=3)
    await factories.rejected(handle.execute_update(OverdueCase.promise_to_pay, PromiseRequest(
        amount=Decimal("100.00"), due_date=due)), "an arrangement to pay is active")


async def test_accrual_after_a_corrected_balance_audits_clean(cases, env):
    """The auditor keeps the fractions of a cent the books carry across a person's correction."""
    handle = await first_sms(cases)
    await env.sleep(timedelta(days=3))
    await handle.execute_update(OverdueCase.open_dispute, DisputeRequest(reason="the sum is wrong"))
    await handle.execute_update(OverdueCase.resolve_dispute, DisputeResolution(
        upheld=False, corrected_balance=Decimal("2990.00"), note="a fee removed", decided_by="supervisor-1"))
    await env.sleep(timedelta(days=1, hours=1))
    await handle.execute_update(OverdueCase.record_payment, pay("10.00", "BANK-1", await env.get_current_time()))
    statement = await handle.query(OverdueCase.statement)
    assert statement.total > Decimal("2980.00")  # accrued again after the correction; the audit is the check
