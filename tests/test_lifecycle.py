"""Every path of the case lifecycle on the time-skipping server: real workflow, real activities,
real Postgres ledger, the sandbox provider choosing outcomes by number."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from adapters.config_files import load_policy
from domain.enums import ApprovalKind, HardshipReason, Stage, VisitResult
from domain.messages import (
    ApprovalDecision,
    ContactInfoUpdate,
    ContactPreferences,
    HardshipReport,
    PauseRequest,
    Payment,
    PromiseRequest,
    VisitOutcome,
)
from tests import factories
from workflows import search
from workflows.case import OverdueCase


def pay(amount: str, ref: str) -> Payment:
    return Payment(amount=Decimal(amount), reference=ref, paid_at=datetime.now(UTC))


async def test_paid_in_full_goes_through_relationship_to_settled(cases):
    handle = await cases.start()
    status = await cases.until(handle, lambda s: s.contact_counts.get("sms", 0) >= 1, what="first SMS")
    assert status.stage is Stage.REMOTE_CONTACT and status.segment.value == "low_risk"

    result = await handle.execute_update(OverdueCase.record_payment, pay("3000.00", "BANK-1"))
    assert result.balance == 0

    outcome = await handle.result()
    assert outcome.stage is Stage.SETTLED and outcome.total_paid == Decimal("3000.00")
    case_id = outcome.case_id
    reminders = await cases.rows(
        "SELECT count(*) AS n FROM contact_attempts WHERE case_id = :c AND template = 'credit_health'", c=case_id)
    rel = load_policy("standard").relationship  # one reminder per interval strictly inside the period
    assert reminders[0]["n"] == -(-rel.duration // rel.reminder_interval) - 1
    [row] = await cases.rows("SELECT stage, balance, closed_at FROM cases WHERE case_id = :c", c=case_id)
    assert row["stage"] == "settled" and row["balance"] == 0 and row["closed_at"] is not None


async def decide(handle, approve: bool = True, by: str = "supervisor-1"):
    status = await handle.query(OverdueCase.status)
    assert len(status.pending_approvals) == 1, status.pending_approvals
    return await handle.execute_update(OverdueCase.approve, ApprovalDecision(
        approval_id=status.pending_approvals[0].approval_id, approve=approve, decided_by=by))


async def test_wilful_default_never_reached_goes_to_visit_then_to_a_supervisor_not_to_legal(cases):
    handle = await cases.start(profile="high_risk", mobile=factories.UNREACHABLE)
    status = await cases.stage(handle, Stage.FIELD_VISIT)
    assert status.segment.value == "high_risk"
    assert status.pending_approvals[0].kind is ApprovalKind.VISIT
    schedule = load_policy("standard").segments["high_risk"].schedule
    people = await cases.rows("SELECT person, template, count(*) AS n FROM contact_attempts WHERE case_id = :c "
                              "GROUP BY person, template", c=status.case_id)
    assert sum(r["n"] for r in people if r["person"] == "borrower") == len(schedule)
    # the borrower's number never answers: after 3 failures its emergency contact is asked, once
    assert [(r["template"], r["n"]) for r in people if r["person"] == "emergency_contact"] == [
        ("whereabouts_request", 1)]

    await decide(handle)
    status = await cases.until(handle, lambda s: s.visit.status == "dispatched", what="visit dispatched")
    visit_id = status.visit.visit_id
    hours = factories.visit_hours(await cases.env.get_current_time(), "Asia/Shanghai")
    await factories.rejected(handle.execute_update(OverdueCase.record_visit_outcome, VisitOutcome(
        visit_id=visit_id, result=VisitResult.NOT_HOME, collectors=["collector-a"], **hours)), "at least 2 collectors")
    await factories.rejected(handle.execute_update(OverdueCase.record_visit_outcome, VisitOutcome(
        visit_id=visit_id, result=VisitResult.NOT_HOME, collectors=["collector-a", "collector-b"])), "started_at")
    await handle.execute_update(OverdueCase.record_visit_outcome, VisitOutcome(
        visit_id=visit_id, result=VisitResult.NOT_HOME, collectors=["collector-a", "collector-b"], **hours))

    outcome = await handle.result()  # no conversation, no message delivered: never reported, never sued
    assert outcome.stage is Stage.REFERRED and "never been reached" in outcome.reason
    rows = await cases.rows("SELECT kind FROM escalations WHERE case_id = :c ORDER BY id", c=outcome.case_id)
    assert [r["kind"] for r in rows] == ["supervisor"]
    [visit] = await cases.rows("SELECT status, result, collectors FROM visits WHERE case_id = :c", c=outcome.case_id)
    assert visit == {"status": "reported", "result": "not_home", "collectors": ["collector-a", "collector-b"]}
    [dispatch] = await cases.rows(
        "SELECT outcome, guard_rule FROM contact_attempts WHERE case_id = :c AND channel = 'visit'", c=outcome.case_id)
    assert dispatch == {"outcome": "task_created", "guard_rule": "ok"}


async def test_a_hand_off_waits_for_its_days_past_due_and_a_persons_approval(cases):
    handle = await cases.start(mobile=factories.TALKS, days_past_due=10)  # able and willing, reached by phone
    status = await cases.until(handle, lambda s: bool(s.pending_approvals), what="a hand-off to decide")
    assert [a.kind for a in status.pending_approvals] == [ApprovalKind.HANDOFF]
    assert status.days_past_due >= load_policy("standard").handoff.legal_min_days_past_due
    held = await cases.rows("SELECT data FROM case_events WHERE case_id = :c AND kind = 'guard_decision'",
                            c=status.case_id)
    assert {h["data"]["rule"] for h in held if h["data"].get("action")} == {"handoff.min_days_past_due"}
    assert await cases.rows("SELECT kind FROM escalations WHERE case_id = :c", c=status.case_id) == []

    await decide(handle, approve=True, by="supervisor-7")
    outcome = await handle.result()
    assert outcome.stage is Stage.ESCALATED and "approved by supervisor-7" in outcome.reason
    rows = await cases.rows("SELECT kind FROM escalations WHERE case_id = :c ORDER BY id", c=outcome.case_id)
    assert [r["kind"] for r in rows] == ["credit_bureau", "legal_recovery"]


async def test_a_declined_hand_off_goes_to_a_supervisor(cases):
    handle = await cases.start(mobile=factories.TALKS, days_past_due=120)
    await cases.until(handle, lambda s: bool(s.pending_approvals), what="a hand-off to decide")
    await decide(handle, approve=False, by="supervisor-7")
    outcome = await handle.result()
    assert outcome.stage is Stage.REFERRED and "declined by supervisor-7" in outcome.reason
    rows = await cases.rows("SELECT kind FROM escalations WHERE case_id = :c ORDER BY id", c=outcome.case_id)
    assert [r["kind"] for r in rows] == ["supervisor"]


async def test_overdue_visit_report_alerts_a_supervisor_and_a_met_visit_can_take_a_promise(cases):
    handle = await cases.start(profile="high_risk", mobile=factories.UNREACHABLE)
    await cases.stage(handle, Stage.FIELD_VISIT)
    await decide(handle)
    status = await cases.until(handle, lambda s: s.visit.status == "overdue", what="visit overdue")
    rows = await cases.rows("SELECT kind FROM escalations WHERE case_id = :c", c=status.case_id)
    assert [r["kind"] for r in rows] == ["supervisor"]

    now = await cases.env.get_current_time()
    due = (now + timedelta(days=3)).date()
    result = await handle.execute_update(OverdueCase.record_visit_outcome, VisitOutcome(
        visit_id=status.visit.visit_id, result=VisitResult.MET, collectors=["collector-a", "collector-b"],
        promise=PromiseRequest(amount=Decimal("500.00"), due_date=due), **factories.visit_hours(now, "Asia/Shanghai")))
    assert result.stage is Stage.PROMISE
    status = await cases.status(handle)
    assert status.pending_promise.amount == Decimal("500.00") and status.pending_promise.due_date == due


async def test_kept_promise_returns_to_monitoring_and_broken_one_resumes_at_next_step(cases):
    handle = await cases.start()
    before = await cases.until(handle, lambda s: s.contact_counts.get("sms", 0) >= 1, what="first SMS")
    now = await cases.env.get_current_time()
    await handle.execute_update(OverdueCase.promise_to_pay, PromiseRequest(
        amount=Decimal("1000.00"), due_date=(now + timedelta(days=3)).date()))
    assert (await cases.status(handle)).stage is Stage.PROMISE
    await handle.execute_update(OverdueCase.record_payment, pay("1000.00", "P-1"))
    kept = await cases.stage(handle, Stage.REMOTE_CONTACT)
    assert kept.balance == Decimal("2000.00") and kept.pending_promise is None

    now = await cases.env.get_current_time()
    await handle.execute_update(OverdueCase.promise_to_pay, PromiseRequest(
        amount=Decimal("500.00"), due_date=(now + timedelta(days=2)).date()))
    counts_at_promise = dict((await cases.status(handle)).contact_counts)
    broken = await cases.stage(handle, Stage.REMOTE_CONTACT)
    assert broken.contact_counts == counts_at_promise, "no contact while a promise is open"
    rows = await cases.rows("SELECT status FROM promises WHERE case_id = :c ORDER BY id", c=kept.case_id)
    assert [r["status"] for r in rows] == ["kept", "broken"]
    assert before.stage is Stage.REMOTE_CONTACT


async def test_a_third_broken_promise_ends_the_path_and_the_case_waits_for_its_hand_off(cases):
    handle = await cases.start(mobile=factories.TALKS, days_past_due=120)  # low risk: no visit at the end
    await cases.until(handle, lambda s: s.contact_counts.get("sms", 0) >= 1, what="first SMS")
    for n in range(3):  # the policy tolerates two broken promises
        now = await cases.env.get_current_time()
        await handle.execute_update(OverdueCase.promise_to_pay, PromiseRequest(
            amount=Decimal("100.00"), due_date=(now + timedelta(days=1)).date()))
        await cases.until(handle, lambda s: s.pending_promise is None, what=f"promise {n + 1} broken")
    waiting = await cases.until(handle, lambda s: bool(s.pending_approvals), what="a hand-off to decide")
    assert [a.kind for a in waiting.pending_approvals] == [ApprovalKind.HANDOFF]
    await cases.env.sleep(timedelta(days=3))  # the case keeps waiting, its workflow task does not fail
    assert (await cases.status(handle)).pending_approvals == waiting.pending_approvals
    [told] = await cases.rows("SELECT template FROM contact_attempts WHERE case_id = :c AND channel = 'letter'",
                              c=waiting.case_id)
    assert told["template"] == "credit_report_notice"  # cn: told before any report (征信业管理条例 Art. 15)
    await decide(handle, approve=True, by="supervisor-7")
    assert (await handle.result()).stage is Stage.ESCALATED


async def test_a_uk_case_is_served_an_arrears_notice_then_a_default_notice_before_any_legal_hand_off(cases):
    handle = await cases.start(mobile=factories.TALKS, days_past_due=120, country="GB", timezone="Europe/London")
    waiting = await cases.until(handle, lambda s: bool(s.pending_approvals), what="a hand-off to decide")
    arrears, letter = await cases.rows("SELECT template, planned_at FROM contact_attempts WHERE case_id = :c "
                                       "AND channel = 'letter' ORDER BY id", c=waiting.case_id)
    first = await cases.rows("SELECT min(planned_at) AS at FROM contact_attempts WHERE case_id = :c "
                             "AND channel <> 'letter'", c=waiting.case_id)
    assert arrears["template"] == "arrears_notice" and arrears["planned_at"] <= first[0]["at"]  # CCA s.86B
    assert letter["template"] == "default_notice"
    now = await cases.env.get_current_time()
    assert now - letter["planned_at"] >= timedelta(days=14)  # the remedy days ran before a person was asked
    await cases.env.sleep(timedelta(days=181))  # still in arrears while the hand-off waits: the notice again
    again = await cases.rows("SELECT planned_at FROM contact_attempts WHERE case_id = :c AND template = "
                             "'arrears_notice' ORDER BY id", c=waiting.case_id)
    assert len(again) == 2
    assert abs(again[1]["planned_at"] - again[0]["planned_at"] - timedelta(days=180)) < timedelta(minutes=1)
    await decide(handle, approve=True, by="supervisor-7")
    assert (await handle.result()).stage is Stage.ESCALATED


async def test_a_uk_visit_comes_after_its_written_notice_and_the_arrears_notice_when_two_instalments_are_due(cases):
    handle = await cases.start(profile="high_risk", mobile=factories.UNREACHABLE, country="GB",
                               timezone="Europe/London",
                               instalments={"amount": "500.00", "interval_days": 30, "arrears": "900.00"})
    await cases.stage(handle, Stage.FIELD_VISIT)
    await decide(handle)
    status = await cases.until(handle, lambda s: s.visit.status == "dispatched", what="visit dispatched")
    letters = await cases.rows("SELECT template, planned_at FROM contact_attempts WHERE case_id = :c "
                               "AND channel IN ('letter', 'visit') ORDER BY id", c=status.case_id)
    assert [r["template"] for r in letters] == ["visit_notice", "visit_brief"]  # no arrears notice: 900 < 2 x 500
    assert letters[1]["planned_at"] - letters[0]["planned_at"] >= timedelta(days=7)  # CONC 7.9.12R, the pack's 7
    [sent] = await cases.rows("SELECT data FROM case_events WHERE case_id = :c AND kind = 'notice_sent'",
                              c=status.case_id)
    assert sent["data"]["kind"] == "visit" and sent["data"]["visit_from"]
    [opened] = await cases.rows("SELECT at FROM case_events WHERE case_id = :c AND kind = 'case_opened'",
                                c=status.case_id)
    await cases.env.sleep(opened["at"] + timedelta(days=31) - await cases.env.get_current_time())
    [arrears] = await cases.rows("SELECT a.planned_at, m.body FROM contact_attempts a JOIN sandbox_messages m ON "
                                 "m.idempotency_key = a.idempotency_key WHERE a.case_id = :c AND "
                                 "a.template = 'arrears_notice'", c=status.case_id)
    assert abs(arrears["planned_at"] - opened["at"] - timedelta(days=30)) < timedelta(minutes=1)  # now 1,400
    assert "1400.00 CNY is due and unpaid" in arrears["body"]


async def test_a_uk_case_with_no_address_for_its_arrears_notice_goes_to_a_supervisor_not_to_legal(cases):
    handle = await cases.start(mobile=factories.TALKS, days_past_due=120, country="GB", timezone="Europe/London",
                               address=False)
    outcome = await handle.result()
    assert outcome.stage is Stage.REFERRED and "no complete address for the arrears notice" in outcome.reason
    letters = await cases.rows("SELECT template FROM contact_attempts WHERE case_id = :c AND channel = 'letter'",
                               c=outcome.case_id)
    assert "arrears_notice" not in {r["template"] for r in letters}


async def test_no_visit_notice_goes_to_a_borrower_who_then_asked_not_to_be_visited_at_home(cases):
    handle = await cases.start(profile="high_risk", mobile=factories.UNREACHABLE, country="GB",
                               timezone="Europe/London")
    await cases.stage(handle, Stage.FIELD_VISIT)  # the visit waits for a supervisor's approval
    await handle.execute_update(OverdueCase.set_contact_preferences, ContactPreferences(
        no_home_visits=True, reason="not at home", recorded_by="agent-1"))
    await decide(handle)
    status = await cases.until(handle, lambda s: s.stage is not Stage.FIELD_VISIT, what="past the visit")
    letters = await cases.rows("SELECT template FROM contact_attempts WHERE case_id = :c AND channel IN "
                               "('letter', 'visit')", c=status.case_id)
    assert "visit_notice" not in {r["template"] for r in letters} and "visit_brief" not in {
        r["template"] for r in letters}
    denied = await cases.rows("SELECT data FROM case_events WHERE case_id = :c AND kind = 'guard_decision' "
                              "AND data->>'channel' = 'visit'", c=status.case_id)
    assert [d["data"]["rule"] for d in denied] == ["borrower.place"], denied


async def test_a_us_case_starts_with_its_validation_notice(cases):
    handle = await cases.start(country="US", timezone="America/New_York", mobile="+12125550150")
    status = await cases.until(handle, lambda s: s.contact_counts.get("sms", 0) >= 1, what="first SMS")
    rows = await cases.rows("SELECT channel, template FROM contact_attempts WHERE case_id = :c ORDER BY id",
                            c=status.case_id)
    assert rows[0] == {"channel": "letter", "template": "validation_notice"}
    [sent] = await cases.rows("SELECT data FROM case_events WHERE case_id = :c AND kind = 'notice_sent'",
                              c=status.case_id)
    assert sent["data"]["kind"] == "validation" and sent["data"]["validation_ends"]


async def test_hardship_plan_above_threshold_needs_approval_and_instalments_settle_the_case(cases):
    handle = await cases.start(profile="hardship", balance="1200.00")
    status = await cases.stage(handle, Stage.REMOTE_CONTACT)
    assert status.segment.value == "hardship"
    result = await handle.execute_update(OverdueCase.report_hardship, HardshipReport(
        reason=HardshipReason.JOB_LOSS, requested_instalments=8, waive_penalty=True))
    assert "awaits approval" in result.message
    status = await cases.status(handle)
    assert status.stage is Stage.HARDSHIP_PLAN and status.pending_approvals[0].kind is ApprovalKind.HARDSHIP_PLAN
    await decide(handle)
    status = await cases.status(handle)
    plan = status.plan
    assert plan.status == "active" and plan.penalty_waived == Decimal("150.00")
    assert status.balance == Decimal("1050.00") == sum(i.amount for i in plan.instalments)

    for n, instalment in enumerate(plan.instalments, start=1):
        await cases.until(handle, lambda s, n=n: s.next_action and f"Instalment {n} " in s.next_action.what,
                          what=f"instalment {n} due")
        await handle.execute_update(OverdueCase.record_payment, pay(str(instalment.amount), f"INST-{n}"))
    outcome = await handle.result()
    assert outcome.stage is Stage.SETTLED
    [row] = await cases.rows("SELECT status, decided_by FROM plans WHERE case_id = :c", c=outcome.case_id)
    assert row == {"status": "completed", "decided_by": "supervisor-1"}
    arranged = await cases.rows("SELECT data FROM case_events WHERE case_id = :c AND kind = 'arrangement_to_pay' "
                                "ORDER BY seq", c=outcome.case_id)  # an event with its amounts, not a sentence
    assert [(a["data"]["status"], a["data"]["total"], a["data"]["penalty_waived"]) for a in arranged] == [
        ("active", "1050.00", "150.00"), ("completed", "1050.00", "150.00")]


async def test_missed_instalment_breaks_the_plan_and_treatment_resumes(cases):
    handle = await cases.start(profile="hardship")
    await cases.stage(handle, Stage.REMOTE_CONTACT)
    result = await handle.execute_update(OverdueCase.report_hardship, HardshipReport(reason=HardshipReason.ILLNESS))
    assert "is active" in result.message
    status = await cases.stage(handle, Stage.REMOTE_CONTACT)
    assert status.plan is None
    [row] = await cases.rows("SELECT status FROM plans WHERE case_id = :c", c=status.case_id)
    assert row["status"] == "broken"
    arranged = await cases.rows("SELECT data FROM case_events WHERE case_id = :c AND kind = 'arrangement_to_pay' "
                                "ORDER BY seq", c=status.case_id)
    assert [a["data"]["status"] for a in arranged] == ["active", "broken"]


async def test_distress_on_a_call_stops_contact_and_waits_for_a_person(cases):
    handle = await cases.start(mobile=factories.DISTRESSED)
    status = await cases.stage(handle, Stage.WELLBEING_HOLD)
    assert "distress" in status.flags
    assert status.pending_approvals[0].kind is ApprovalKind.WELLBEING_REVIEW
    attempts_then = sum(status.contact_counts.get(c, 0) for c in ("sms", "robot_call", "agent_call"))
    [referral] = await cases.rows(
        "SELECT data FROM case_events WHERE case_id = :c AND kind = 'wellbeing_referral'", c=status.case_id)
    assert referral["data"]["crisis_line"]["number"] == "12356"

    await cases.env.sleep(timedelta(days=5))  # automated contact stays stopped; the review is overdue
    status = await cases.status(handle)
    assert sum(status.contact_counts.get(c, 0) for c in ("sms", "robot_call", "agent_call")) == attempts_then
    await decide(handle, approve=False)
    outcome = await handle.result()
    assert outcome.stage is Stage.REFERRED
    kinds = {r["kind"] for r in await cases.rows("SELECT kind FROM escalations WHERE case_id = :c", c=status.case_id)}
    assert kinds == {"supervisor", "wellbeing_team"}


async def test_invalid_contact_data_asks_for_an_update_and_continues_when_it_arrives(cases):
    handle = await cases.start(mobile="12345", emergency=False)
    status = await cases.until(handle, lambda s: s.verification_missing, what="verification result")
    assert status.stage is Stage.VERIFICATION
    assert set(status.verification_missing) == {"a valid mobile number", "an emergency contact"}
    [task] = await cases.rows("SELECT data FROM case_events WHERE case_id = :c AND kind = 'contact_data_task'",
                              c=status.case_id)
    assert "a valid mobile number" in task["data"]["missing"]

    await handle.execute_update(OverdueCase.update_contact_info, ContactInfoUpdate(
        mobile_numbers=[factories.ANSWERS],
        emergency_contacts=[{"name": "New Contact", "relation": "friend", "phone": factories.EMERGENCY}]))
    status = await cases.until(handle, lambda s: s.contact_counts.get("sms", 0) >= 1, what="first reminder")
    assert status.stage is Stage.REMOTE_CONTACT and status.verification_missing == []


async def test_without_an_update_verification_times_out_and_proceeds_with_what_is_usable(cases):
    handle = await cases.start(address=False)
    status = await cases.until(handle, lambda s: s.stage is not Stage.VERIFICATION, what="leaving verification")
    assert status.stage is Stage.REMOTE_CONTACT
    [asked] = await cases.rows(
        "SELECT template, outcome FROM contact_attempts WHERE case_id = :c AND step IS NULL", c=status.case_id)
    assert asked == {"template": "verify_update", "outcome": "delivered"}
    policy_wait = load_policy("standard").verification.update_wait
    [opened] = await cases.rows("SELECT opened_at FROM cases WHERE case_id = :c", c=status.case_id)
    [moved] = await cases.rows("SELECT at FROM case_events WHERE case_id = :c AND kind = 'stage_changed' "
                               "AND data->>'to' = 'assessment'", c=status.case_id)
    assert moved["at"] - opened["opened_at"] >= policy_wait


async def test_operators_find_cases_by_stage_segment_and_flags(cases):
    handle = await cases.start(profile="high_risk", mobile=factories.UNREACHABLE)
    status = await cases.until(handle, lambda s: s.contact_counts.get("robot_call", 0) >= 1, what="a call")
    await handle.signal(OverdueCase.pause, PauseRequest(reason="checking", by="ops"))
    await cases.until(handle, lambda s: "pause" in s.flags, what="paused")
    await handle.signal(OverdueCase.resume, PauseRequest(reason="checked", by="ops"))
    status = await cases.until(handle, lambda s: "pause" not in s.flags and s.next_action.at, what="resumed")
    attributes = (await handle.describe()).typed_search_attributes
    assert attributes.get(search.CASE_STAGE) == "remote_contact"
    assert attributes.get(search.RISK_SEGMENT) == "high_risk"
    assert attributes.get(search.ASSIGNED_TEAM) == "collections"
    assert attributes.get(search.AMOUNT_DUE) == 3000.0
    assert attributes.get(search.DAYS_PAST_DUE) == status.days_past_due >= 10
    assert attributes.get(search.NEXT_ACTION_AT) == status.next_action.at
    assert attributes.get(search.CASE_FLAGS) == []
    history = [e async for e in handle.fetch_history_events()]
    upserts = [e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
               for e in history if e.HasField("upsert_workflow_search_attributes_event_attributes")]
    flag_sets = [fields["CaseFlags"].data for fields in upserts if "CaseFlags" in fields]
    assert b'["pause"]' in flag_sets, "pausing shows in CaseFlags"
    values = {str(v) for pair in attributes for v in ([pair.value] if not isinstance(pair.value, list) else pair.value)}
    assert not any("Test Borrower" in v or "138" in v or "Test Road" in v for v in values), "personal data in SAs"


async def test_operators_read_the_case_at_a_glance(cases):
    from service.cases import Cases

    case = factories.case()
    await Cases(cases.client, cases.queue).start(case)
    handle = cases.client.get_workflow_handle(case.workflow_id)
    cases.started.append(handle)
    await cases.until(handle, lambda s: s.contact_counts.get("sms", 0) >= 1, what="first SMS")
    details = await handle.query("__temporal_workflow_metadata")
    assert "Remote contact · low risk" in details.current_details
    assert "**Balance** 3000.00 CNY" in details.current_details and "sms → delivered" in details.current_details
    assert "Test Borrower" not in details.current_details  # nothing personal in the at-a-glance view
    described = await handle.describe()
    assert (await described.static_summary()) == f"Case {case.case_id}: 3000.00 CNY, 10 days past due"
