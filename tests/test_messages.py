"""Operators' and backends' messages: bad input refused without a trace, duplicates applied once,
signals that stop or pause contact, provider receipts, and continue-as-new losing nothing."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
from temporalio.api.enums.v1 import EventType

from adapters.providers.sandbox import SandboxProvider
from domain import clock
from domain.enums import ApprovalKind, Channel, Outcome, Stage
from domain.messages import (
    ApprovalDecision,
    CeaseContact,
    ContactPreferences,
    DeliveryReceipt,
    DialRequest,
    PauseRequest,
    Payment,
    PromiseRequest,
)
from service.cases import Cases
from tests import factories
from workflows.case import OverdueCase

UPDATE_EVENTS = {EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ADMITTED,
                 EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
                 EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_REJECTED,
                 EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED}


async def update_events(handle) -> list:
    return [e.event_type async for e in handle.fetch_history_events() if e.event_type in UPDATE_EVENTS]


async def test_an_invalid_case_is_refused_with_reasons_and_starts_nothing(cases):
    good = json.loads(factories.case().model_dump_json(exclude={"state"}))
    bad = json.loads(factories.case().model_dump_json(exclude={"state"}))
    bad["loan"]["outstanding_balance"] = "-5"
    bad["borrower"]["timezone"] = "Mars/Olympus"
    reports = await Cases(cases.client, cases.queue).start_all([good, bad])
    assert [r.status for r in reports] == ["started", "rejected"]
    assert "loan.outstanding_balance" in reports[1].detail and "Mars/Olympus" in reports[1].detail
    with pytest.raises(Exception, match="not found"):
        await cases.client.get_workflow_handle(f"case-{bad['case_id']}").describe()
    cases.started.append(cases.client.get_workflow_handle(f"case-{good['case_id']}"))


async def test_starting_a_running_case_again_returns_it_and_starts_no_second(cases):
    case = factories.case()
    first = await Cases(cases.client, cases.queue).start(case)
    handle = cases.client.get_workflow_handle(case.workflow_id)
    cases.started.append(handle)
    second = await Cases(cases.client, cases.queue).start(case)
    assert (first.status, second.status) == ("started", "already_running")
    assert first.run_id == second.run_id == (await handle.describe()).run_id


async def test_invalid_updates_are_rejected_and_leave_history_untouched(cases):
    handle = await cases.start()
    await cases.until(handle, lambda s: s.contact_counts.get("sms", 0) >= 1, what="first SMS")
    now = await cases.env.get_current_time()

    await factories.rejected(handle.execute_update(OverdueCase.record_payment, {
        "amount": "0", "paid_at": now.isoformat(), "reference": "R-0"}), "greater than 0")
    await factories.rejected(handle.execute_update(OverdueCase.record_payment, Payment(
        amount=Decimal("10"), paid_at=now + timedelta(days=2), reference="R-F")), "in the future")
    await factories.rejected(handle.execute_update(OverdueCase.record_payment, Payment(
        amount=Decimal("10"), paid_at=now, reference="R-C", currency="USD")), "does not match")
    await factories.rejected(handle.execute_update(OverdueCase.promise_to_pay, PromiseRequest(
        amount=Decimal("100"), due_date=(now - timedelta(days=3)).date())), "in the past")
    await factories.rejected(handle.execute_update(OverdueCase.promise_to_pay, PromiseRequest(
        amount=Decimal("99999"), due_date=(now + timedelta(days=3)).date())), "more than the balance")
    await factories.rejected(handle.execute_update(OverdueCase.approve, ApprovalDecision(
        approval_id="nothing", approve=True, decided_by="x")), "nothing on this case is awaiting approval")
    await factories.rejected(handle.execute_update(OverdueCase.record_visit_outcome, {
        "visit_id": "v-1", "result": "met", "collectors": ["a", "b"]}), "no visit")

    assert await update_events(handle) == []
    status = await cases.status(handle)
    assert status.balance == Decimal("3000.00") and status.pending_promise is None
    await handle.execute_update(OverdueCase.record_payment, Payment(amount=Decimal("10"), paid_at=now, reference="OK"))
    assert await update_events(handle) == [EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
                                           EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED]


async def test_the_same_payment_reference_twice_is_applied_once(cases):
    handle = await cases.start()
    await cases.stage(handle, Stage.REMOTE_CONTACT)
    payment = Payment(amount=Decimal("400.00"), paid_at=datetime.now(UTC), reference="BANK-42")
    first = await handle.execute_update(OverdueCase.record_payment, payment)
    again = await handle.execute_update(OverdueCase.record_payment, payment)
    assert first.balance == again.balance == Decimal("2600.00")
    assert "already applied" in again.message
    rows = await cases.rows("SELECT amount FROM payments WHERE case_id = :c", c=(await cases.status(handle)).case_id)
    assert [r["amount"] for r in rows] == [Decimal("400.00")]


async def test_cease_all_contact_stops_every_outbound_action(cases):
    handle = await cases.start(profile="high_risk")
    status = await cases.until(handle, lambda s: s.contact_counts.get("sms", 0) >= 1, what="first SMS")
    await handle.signal(OverdueCase.cease_contact, CeaseContact(scope="all", reason="borrower asked in writing"))
    await cases.until(handle, lambda s: bool(s.pending_approvals), what="a hand-off to decide")  # no visit
    pending = (await cases.status(handle)).pending_approvals
    await handle.execute_update(OverdueCase.approve, ApprovalDecision(
        approval_id=pending[0].approval_id, approve=True, decided_by="supervisor-1"))
    outcome = await handle.result()
    assert outcome.stage is Stage.ESCALATED  # stopping contact does not stop a lawful hand-off
    rows = await cases.rows("SELECT channel, template FROM contact_attempts WHERE case_id = :c", c=status.case_id)
    letters = [r["template"] for r in rows if r["channel"] == "letter"]  # what the law requires still goes
    assert letters == ["credit_report_notice"] and len(rows) - 1 == sum(status.contact_counts.values())
    denials = await cases.rows(  # from the borrower's request on (before it, the hour may have deferred contact)
        "SELECT data FROM case_events WHERE case_id = :c AND kind = 'guard_decision' AND at >= "
        "(SELECT at FROM case_events WHERE case_id = :c AND kind = 'cease_contact')", c=status.case_id)
    assert denials and {d["data"]["rule"] for d in denials if "channel" in d["data"]} == {"cease.all"}


async def test_cease_one_number_moves_contact_to_the_next(cases):
    handle = await cases.start(mobile=[factories.ANSWERS, factories.TALKS])
    await cases.until(handle, lambda s: s.contact_counts.get("sms", 0) >= 1, what="first SMS")
    await handle.signal(OverdueCase.cease_contact, CeaseContact(scope="number", number="13800138050"))
    status = await cases.until(handle, lambda s: s.contact_counts.get("robot_call", 0) >= 1, what="robot call")
    [first, second] = status.last_contacts[-2:]
    assert first.phone_ref != second.phone_ref and second.outcome is Outcome.CONVERSATION


async def test_a_wrong_party_hears_nothing_of_the_debt_and_their_number_is_never_called_again(cases):
    handle = await cases.start(mobile=["+8613800138072", factories.TALKS])  # the first number is a stranger's
    status = await cases.until(handle, lambda s: s.contact_counts.get("agent_call", 0) >= 1, what="an agent call")
    [robot] = [c for c in status.last_contacts if c.channel is Channel.ROBOT_CALL]
    [agent] = [c for c in status.last_contacts if c.channel is Channel.AGENT_CALL]
    assert robot.outcome is Outcome.WRONG_PARTY and "wrong_number" in status.flags
    assert agent.phone_ref != robot.phone_ref and agent.outcome is Outcome.CONVERSATION  # the borrower's own
    [call] = await cases.rows("SELECT a.played, m.body FROM contact_attempts a JOIN sandbox_messages m "
                              "ON m.idempotency_key = a.idempotency_key WHERE a.case_id = :c "
                              "AND a.channel = 'robot_call'", c=status.case_id)
    assert call["played"] == "identify" and "3000" not in call["body"]  # the stranger heard only the question
    later = await cases.rows("SELECT channel FROM contact_attempts WHERE case_id = :c AND phone_ref = :r "
                             "AND planned_at > :t", c=status.case_id, r=robot.phone_ref, t=robot.at)
    assert later == []


async def test_the_borrowers_own_hours_days_and_language_hold_for_every_later_contact(cases):
    handle = await cases.start(profile="high_risk")
    first = await cases.until(handle, lambda s: s.contact_counts.get("sms", 0) >= 1, what="first SMS")
    await factories.rejected(handle.execute_update(OverdueCase.set_contact_preferences, ContactPreferences(
        window={"start": "22:30", "end": "23:30"}, recorded_by="agent-1")), "outside the lawful")
    await handle.execute_update(OverdueCase.set_contact_preferences, ContactPreferences(
        window={"start": "19:00", "end": "21:00"}, quiet_weekdays=[6], locale="en", reason="works days",
        recorded_by="agent-1"))
    status = await cases.until(handle, lambda s: sum(s.contact_counts.values()) >= sum(first.contact_counts.values())
                               + 3, what="three more contacts")
    rows = await cases.rows("SELECT a.planned_at, m.body FROM contact_attempts a JOIN sandbox_messages m ON "
                            "m.idempotency_key = a.idempotency_key WHERE a.case_id = :c AND a.person = 'borrower' "
                            "ORDER BY a.id", c=status.case_id)
    later = [(clock.local(r["planned_at"], "Asia/Shanghai"), r["body"]) for r in rows[1:]]
    assert len(later) >= 3
    assert all(time(19) <= at.time() < time(21) and at.weekday() != 6 for at, _ in later), later
    assert all(body.isascii() for at, body in later if body), later  # their language: English templates


async def test_a_borrower_who_wants_texts_only_and_no_visit_at_home_gets_texts_and_no_visit(cases):
    handle = await cases.start(profile="high_risk")  # its schedule: SMS, robot and agent calls, then a visit
    await cases.until(handle, lambda s: s.contact_counts.get("sms", 0) >= 1, what="first SMS")
    await handle.execute_update(OverdueCase.set_contact_preferences, ContactPreferences(
        medium="sms", no_home_visits=True, reason="texts only, not at home", recorded_by="agent-1"))
    status = await cases.until(handle, lambda s: bool(s.pending_approvals), what="the end of the path")
    assert [a.kind for a in status.pending_approvals] == [ApprovalKind.HANDOFF]  # no visit was proposed
    after = await cases.rows(
        "SELECT channel FROM contact_attempts WHERE case_id = :c AND person = 'borrower' AND planned_at > "
        "(SELECT at FROM case_events WHERE case_id = :c AND kind = 'contact_preferences')", c=status.case_id)
    assert after and {r["channel"] for r in after} <= {"sms", "letter"}, after


async def test_an_agents_task_lapses_when_the_contact_window_closes(cases):
    handle = await cases.start(mobile="+8613800138085")  # the sandbox's agents dial this number only when told
    status = await cases.until(handle, lambda s: s.contact_counts.get("agent_call", 0) >= 1, what="an agent task")
    [task] = [c for c in status.last_contacts if c.channel is Channel.AGENT_CALL]
    assert task.dial_by is not None and not task.dialled and task.outcome is Outcome.TASK_CREATED
    await cases.env.sleep(task.dial_by - await cases.env.get_current_time() + timedelta(minutes=1))
    late = await handle.execute_update(OverdueCase.may_dial, DialRequest(attempt_key=task.key, agent="agent-7"))
    assert (late.allowed, late.rule) == (False, "task.expired") and late.expires_at == task.dial_by
    for _ in range(50):  # the refusal is journalled with the case's next write
        refused = await cases.rows("SELECT data FROM case_events WHERE case_id = :c AND kind = 'guard_decision'",
                                   c=status.case_id)
        if any(r["data"].get("rule") == "task.expired" for r in refused):
            break
        await asyncio.sleep(0.1)
    assert any(r["data"].get("rule") == "task.expired" for r in refused)


async def test_pause_holds_every_action_until_resume(cases):
    handle = await cases.start()
    status = await cases.until(handle, lambda s: s.contact_counts.get("sms", 0) >= 1, what="first SMS")
    await handle.signal(OverdueCase.pause, PauseRequest(reason="complaint call", by="ops"))
    await cases.env.sleep(timedelta(days=20))
    paused = await cases.status(handle)
    assert paused.contact_counts == status.contact_counts and "pause" in paused.flags
    await handle.signal(OverdueCase.resume, PauseRequest(reason="resolved", by="ops"))
    resumed = await cases.until(handle, lambda s: s.contact_counts.get("robot_call", 0) >= 1, what="next step")
    assert "pause" not in resumed.flags


async def test_delivery_receipts_update_the_attempt_in_state_and_ledger(env, engine, config_dir):
    """A gateway that answers 'sent' and reports delivery later, as a signal."""
    from adapters.providers.base import ProviderResponse
    from tests.conftest import Cases
    from worker import build_worker

    class LateReceipts:
        name = "late"

        async def deliver(self, request):
            return ProviderResponse(provider=self.name, message_id=f"m-{request.idempotency_key}",
                                    outcome=Outcome.SENT)

    async with build_worker(env.client, engine, LateReceipts(), "late-receipts", config_dir):
        cases = Cases(env, "late-receipts", engine)
        handle = await cases.start()
        status = await cases.until(handle, lambda s: s.contact_counts.get("sms", 0) >= 1, what="first SMS")
        attempt = status.last_contacts[-1]
        assert attempt.outcome is Outcome.SENT
        await handle.signal(OverdueCase.delivery_receipt, DeliveryReceipt(attempt_key=attempt.key,
                                                                          outcome=Outcome.FAILED))
        status = await cases.until(handle, lambda s: s.last_contacts[-1].outcome is Outcome.FAILED, what="receipt")
        for _ in range(50):  # the state changes first; the ledger write follows in an activity
            receipts = await cases.rows("SELECT data FROM case_events WHERE kind = 'receipt' AND case_id = :c",
                                        c=status.case_id)
            if receipts:
                break
            await asyncio.sleep(0.1)
        assert [r["data"]["outcome"] for r in receipts] == ["failed"]
        [row] = await cases.rows("SELECT outcome FROM contact_attempts WHERE idempotency_key = :k", k=attempt.key)
        assert row["outcome"] == "failed"
        await cases.close()


async def test_continue_as_new_carries_the_whole_state_and_loses_no_update(cases):
    handle = await cases.start(policy="tiny-history")
    await cases.until(handle, lambda s: s.run >= 2, what="a continue-as-new")
    now = await cases.env.get_current_time()
    await handle.execute_update(OverdueCase.record_payment, Payment(amount=Decimal("100"), paid_at=now,
                                                                    reference="CAN-1"))
    await handle.execute_update(OverdueCase.promise_to_pay, PromiseRequest(
        amount=Decimal("200"), due_date=(now + timedelta(days=2)).date()))
    status = await cases.until(handle, lambda s: s.run >= 3, what="another continue-as-new")
    assert status.balance == Decimal("2900.00") and status.total_paid == Decimal("100")
    again = await handle.execute_update(OverdueCase.record_payment, Payment(
        amount=Decimal("100"), paid_at=now, reference="CAN-1"))
    assert "already applied" in again.message and again.balance == Decimal("2900.00")
    assert status.contact_counts.get("sms", 0) >= 1
    history = [e async for e in handle.fetch_history_events()]
    assert history[0].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
    assert len(history) < 400
    promise_rows = await cases.rows("SELECT status FROM promises WHERE case_id = :c", c=status.case_id)
    assert len(promise_rows) == 1


async def test_a_gateway_refusing_a_message_fails_that_attempt_not_the_case(env, engine, config_dir):
    from adapters.providers import ProviderError
    from tests.conftest import Cases
    from worker import build_worker

    class RefusesSms:
        name = "refuses-sms"

        async def deliver(self, request):
            if request.channel is Channel.SMS:
                raise ProviderError("number blocked by the carrier")
            return await SandboxProvider(engine).deliver(request)

    async with build_worker(env.client, engine, RefusesSms(), "refusing", config_dir):
        cases = Cases(env, "refusing", engine)
        handle = await cases.start()
        status = await cases.until(handle, lambda s: s.contact_counts.get("robot_call", 0) >= 1, what="next step")
        assert status.stage is Stage.REMOTE_CONTACT
        assert status.last_contacts[0].outcome is Outcome.FAILED and status.last_contacts[1].outcome is Outcome.ANSWERED
        await cases.close()


async def test_two_operators_deciding_the_same_approval_at_once_get_one_decision(cases):
    import asyncio as aio

    handle = await cases.start(profile="hardship")
    await cases.stage(handle, Stage.REMOTE_CONTACT)
    from domain.enums import HardshipReason
    from domain.messages import HardshipReport
    await handle.execute_update(OverdueCase.report_hardship, HardshipReport(
        reason=HardshipReason.ILLNESS, requested_instalments=12))
    approval = (await cases.status(handle)).pending_approvals[0]
    decisions = [ApprovalDecision(approval_id=approval.approval_id, approve=a, decided_by=f"op-{a}")
                 for a in (True, False)]
    results = await aio.gather(*(handle.execute_update(OverdueCase.approve, d) for d in decisions),
                               return_exceptions=True)
    assert sorted(type(r).__name__ for r in results) == ["UpdateResult", "WorkflowUpdateFailedError"]
    status = await cases.status(handle)
    assert status.pending_approvals == []
    for _ in range(50):  # the decision is in the case at once; its journal entry follows with the step's write
        decided = await cases.rows("SELECT data FROM case_events WHERE case_id = :c AND kind = 'approval_decided'",
                                   c=status.case_id)
        if decided:
            break
        await aio.sleep(0.1)
    await aio.sleep(0.5)  # and no second decision follows
    assert len(await cases.rows("SELECT data FROM case_events WHERE case_id = :c AND kind = 'approval_decided'",
                                c=status.case_id)) == 1
