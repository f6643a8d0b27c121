"""Early warning (`workflows/upcoming_due.py`, `service/early_warning.py`): a friendly reminder inside the
rules before the due date for the warned group, none for the control group; paid on time it ends, unpaid it
becomes the case under the same id with nothing lost and nothing sent twice; every outcome on the ledger."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from adapters.config_files import load_rule_pack
from domain import clock
from domain.early_warning import Group, UpcomingLoan
from domain.enums import CeaseScope, Stage
from domain.messages import CeaseContact, Payment, PromiseRequest
from service.early_warning import watch
from testkit import cases as synthetic
from tests.factories import rejected
from workflows.case import OverdueCase
from workflows.upcoming_due import UpcomingDue

pytestmark = pytest.mark.asyncio
DUE_IN = timedelta(days=6)


async def upcoming(cases, group: Group, **overrides):
    """A loan due in six days, started as an early warning in `group` (and audited at the test's end)."""
    now = await cases.env.get_current_time()
    case = synthetic.case(days_past_due=0, **overrides)
    case = case.model_copy(update={"loan": case.loan.model_copy(update={"due_date": (now + DUE_IN).date()})})
    handle = await cases.client.start_workflow(
        UpcomingDue.run, UpcomingLoan(case=case, group=group, risk=0.3, risk_by="rules"),
        id=case.workflow_id, task_queue=cases.queue)
    cases.started.append(handle)
    return case, handle


async def warning_row(cases, case_id: str) -> dict:
    return (await cases.rows("SELECT * FROM early_warnings WHERE case_id = :c", c=case_id))[0]


async def attempts(cases, case_id: str) -> list[dict]:
    return await cases.rows("SELECT template, planned_at, idempotency_key FROM contact_attempts "
                            "WHERE case_id = :c ORDER BY planned_at", c=case_id)


async def test_the_warned_group_is_reminded_inside_the_window_and_a_payment_on_time_ends_it(cases):
    case, handle = await upcoming(cases, "warned")
    await cases.env.sleep(DUE_IN - timedelta(days=2))  # past the reminder's day (three days before)
    sent = await attempts(cases, case.case_id)
    assert [a["template"] for a in sent] == ["upcoming_due"]
    window = load_rule_pack("cn").contact_window
    local = clock.local(sent[0]["planned_at"], case.borrower.timezone)
    assert window.start <= local.time() <= window.end and local.date() < case.loan.due_date
    now = await cases.env.get_current_time()
    await rejected(handle.execute_update(UpcomingDue.record_payment, Payment(
        amount=Decimal("10"), paid_at=now, reference="X", currency="USD")), "does not match the loan's CNY")
    await handle.execute_update(UpcomingDue.record_payment, Payment(amount=Decimal("3000.00"), paid_at=now,
                                                                    reference="PAY-1"))
    outcome = await handle.result()
    assert outcome.paid_on_time and outcome.group == "warned" and outcome.reminded_at is not None
    row = await warning_row(cases, case.case_id)
    assert (row["group"], row["outcome"], row["reminded_at"] is not None) == ("warned", "paid_on_time", True)
    assert (await cases.rows("SELECT count(*) AS n FROM payments WHERE case_id = :c", c=case.case_id))[0]["n"] == 1


async def test_the_control_group_is_not_contacted_and_unpaid_it_becomes_the_case_under_the_same_id(cases):
    case, handle = await upcoming(cases, "control")
    await cases.env.sleep(DUE_IN)
    assert await attempts(cases, case.case_id) == []  # watched, never contacted before the due date
    status = await cases.until(handle, lambda s: s.stage is Stage.REMOTE_CONTACT, what="the case's contact")
    assert status.days_past_due >= 1 and status.balance == Decimal("3000.00")
    row = await warning_row(cases, case.case_id)
    assert (row["group"], row["outcome"], row["reminded_at"]) == ("control", "overdue", None)
    kinds = [r["kind"] for r in await cases.rows(
        "SELECT kind FROM case_events WHERE case_id = :c ORDER BY seq", c=case.case_id)]
    assert kinds.index("early_warning_ended") < kinds.index("case_opened")  # one journal, one chain, in order


async def test_a_warned_loan_unpaid_carries_its_reminder_and_part_payment_into_the_case(cases):
    case, handle = await upcoming(cases, "warned")
    await cases.env.sleep(DUE_IN - timedelta(days=2))
    now = await cases.env.get_current_time()
    await handle.execute_update(UpcomingDue.record_payment, Payment(amount=Decimal("1000.00"), paid_at=now,
                                                                    reference="PART-1"))
    status = await cases.until(handle, lambda s: s.stage is Stage.REMOTE_CONTACT
                               and s.contact_counts.get("sms", 0) >= 2, what="the case's first SMS")
    assert status.balance == Decimal("2000.00")  # what was paid before the due date is not asked again
    sent = await attempts(cases, case.case_id)
    assert sent[0]["template"] == "upcoming_due" and len({a["idempotency_key"] for a in sent}) == len(sent)
    # the case counts the reminder as its own contact (the guard's caps see it), under the key it was sent with
    assert sent[0]["idempotency_key"] in [a.key for a in status.last_contacts]
    # the same payment sent again to the case it became is recognised, not applied twice
    result = await handle.execute_update(OverdueCase.record_payment, Payment(
        amount=Decimal("1000.00"), paid_at=await cases.env.get_current_time(), reference="PART-1"))
    assert "already applied" in result.message and result.balance == Decimal("2000.00")


async def test_the_reminder_names_what_falls_due_and_other_updates_wait_for_the_case(cases):
    case, handle = await upcoming(cases, "warned", instalments={"amount": "500.00", "interval_days": 30,
                                                                 "arrears": "0"})
    await rejected(handle.execute_update(OverdueCase.promise_to_pay, PromiseRequest(
        amount=Decimal("500.00"), due_date=case.loan.due_date)), "the loan is not overdue yet")
    await cases.env.sleep(DUE_IN - timedelta(days=2))
    body = (await cases.rows("SELECT m.body FROM sandbox_messages m JOIN contact_attempts a USING (idempotency_key) "
                             "WHERE a.case_id = :c", c=case.case_id))[0]["body"]
    assert "500.00" in body and "3000.00" not in body  # the instalment, not the whole balance
    status = await cases.until(handle, lambda s: s.stage is Stage.REMOTE_CONTACT, what="the case")
    assert status.statement is not None and status.balance == Decimal("3000.00")


async def test_a_stop_sent_during_the_warning_is_kept_by_the_case_it_becomes(cases):
    case, handle = await upcoming(cases, "warned")
    await handle.signal(OverdueCase.cease_contact, CeaseContact(scope=CeaseScope.ALL, reason="asked by letter"))
    await cases.env.sleep(DUE_IN + timedelta(days=5))
    status = await handle.query(OverdueCase.status)
    assert "cease_all" in status.flags and status.stage is not Stage.UPCOMING
    assert await attempts(cases, case.case_id) == []  # no reminder, and nothing from the case either


async def test_only_loans_at_risk_are_watched_and_each_once(cases):
    safe = synthetic.case(profile="low_risk", days_past_due=0)
    risky = synthetic.case(profile="high_risk", days_past_due=0)
    assert (await watch(cases.client, cases.queue, safe)).decision == "not_at_risk"
    judged = await watch(cases.client, cases.queue, risky)
    assert judged.decision in ("warned", "control") and judged.risk_by == "rules" and judged.risk < 0.5
    cases.started.append(cases.client.get_workflow_handle(risky.workflow_id))
    assert (await watch(cases.client, cases.queue, risky)).decision == "already_running"
