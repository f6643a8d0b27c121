"""The desk on the time-skipping server: contact outcomes with reasons, call-backs, assignments whose
lease ends by itself, visits only by trained collectors of the region, conduct investigations. Real
workflow, real activities, the registry and the ledger on the real Postgres."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest

from adapters.config_files import load_policy
from adapters.registry import Registry
from domain.enums import (
    ContactResult,
    DelinquencyReason,
    Party,
    Stage,
    TaskKind,
    TaskStatus,
    VisitResult,
    VulnerabilityDriver,
)
from domain.messages import (
    ApprovalDecision,
    Assignment,
    ComplaintRequest,
    ContactOutcome,
    DialRequest,
    PromiseRequest,
    Release,
    TaskDone,
    VisitOutcome,
    VulnerabilityReport,
)
from service.cases import Cases as CaseService
from service.cases import UpdateRejected
from service.desk import Desk
from tests import factories
from workflows import search
from workflows.case import OverdueCase

AGENT_TASKS_WAIT = "+8613800138085"  # the sandbox's agents dial this number only when told


async def now(cases):
    return await cases.env.get_current_time()


async def outcome(cases, **fields) -> ContactOutcome:
    return ContactOutcome(**{"channel": "agent_call", "party": Party.RIGHT_PARTY, "agent": "agent-1",
                             "at": await now(cases), **fields})


async def attributes_of(cases, handle) -> dict[str, object]:
    """The case's search attributes by name, as the server holds them; an unset one (the time-skipping
    server keeps it with an empty payload, which the SDK's typed decoding refuses) is absent."""
    raw = await cases.client.workflow_service.describe_workflow_execution(DescribeWorkflowExecutionRequest(
        namespace="default", execution=WorkflowExecution(workflow_id=handle.id)))
    out: dict[str, object] = {}
    for name, payload in raw.workflow_execution_info.search_attributes.indexed_fields.items():
        if payload.data:
            value = json.loads(payload.data)
            out[name] = datetime.fromisoformat(value) if payload.metadata.get("type") == b"Datetime" else value
    return out


async def shown(cases, handle, predicate, what: str) -> dict[str, object]:
    """The case's search attributes once they satisfy `predicate` (upserted as the case's step ends)."""
    for _ in range(30):
        attributes = await attributes_of(cases, handle)
        if predicate(attributes):
            return attributes
        await cases.env.sleep(timedelta(seconds=1))
    raise AssertionError(f"{what} not shown; search attributes: {attributes}")


async def journal(cases, case_id: str, kind: str) -> list[dict]:
    return [r["data"] for r in await cases.rows(
        "SELECT data FROM case_events WHERE case_id = :c AND kind = :k ORDER BY seq", c=case_id, k=kind)]


async def settled_journal(cases, handle, case_id: str, kind: str, n: int) -> list[dict]:
    """The journal's entries of a kind once the case's next write has carried them (a step's end)."""
    for _ in range(30):
        found = await journal(cases, case_id, kind)
        if len(found) >= n:
            return found
        await cases.env.sleep(timedelta(seconds=1))
    raise AssertionError(f"{n} {kind} entries not journalled: {found}")


async def test_each_reason_for_delinquency_is_recorded_sealed_and_a_fraud_claim_opens_a_dispute(cases):
    handle = await cases.start(mobile=AGENT_TASKS_WAIT)
    status = await cases.until(handle, lambda s: s.contact_counts.get("sms", 0) >= 1, what="first SMS")
    disputing = [DelinquencyReason.FRAUD_CLAIM, DelinquencyReason.DISPUTE]  # last: collection pauses
    told = [r for r in DelinquencyReason if r not in disputing] + disputing
    for n, reason in enumerate(told):
        answer = await handle.execute_update(OverdueCase.record_contact_outcome, await outcome(
            cases, reason=reason, duration_seconds=60 + n, notes=f"said: {reason.value}, private detail {n}"))
        assert answer.accepted
    status = await cases.status(handle)
    assert status.desk.profile.reasons == told and status.desk.profile.right_party_contacts == len(told)
    assert "dispute" in status.flags  # a fraud claim disputes the debt: collection pauses (one dispute)
    assert status.script.script_id.startswith("dispute") and "{" not in status.script.text  # what to say now
    [row] = await cases.rows("SELECT status FROM cases WHERE case_id = :c", c=status.case_id)
    assert row["status"]["script"] is None and row["status"]["desk"]["profile"]["right_party_contacts"] >= 1
    entries = await settled_journal(cases, handle, status.case_id, "contact_outcome", len(told))
    assert [e["party"] for e in entries] == ["right_party"] * len(told)
    assert all(set(e["notes"]) == {"$sealed"} and set(e["reason"]) == {"$sealed"} for e in entries)
    raw = await cases.rows("SELECT data::text AS t FROM case_events WHERE case_id = :c", c=status.case_id)
    assert not any("private detail" in r["t"] for r in raw)  # notes never in plaintext in the ledger
    [dispute] = await journal(cases, status.case_id, "dispute_opened")
    assert dispute["kind"] == "identity_theft"
    due = (await now(cases) + timedelta(days=3)).date()  # while the debt is disputed: no promise, no call-back
    await factories.rejected(handle.execute_update(OverdueCase.record_contact_outcome, await outcome(
        cases, reason=DelinquencyReason.JOB_LOSS, result=ContactResult.PROMISE,
        promise=PromiseRequest(amount=Decimal("100.00"), due_date=due))), "the debt is disputed")
    with pytest.raises(ValidationError, match="a disputed debt takes no call_back"):
        await outcome(cases, reason=DelinquencyReason.DISPUTE, result=ContactResult.CALL_BACK,
                      call_back_at=await now(cases) + timedelta(hours=1))


async def test_a_wrong_party_on_an_agents_call_sets_the_number_apart(cases):
    handle = await cases.start(mobile=AGENT_TASKS_WAIT)
    status = await cases.until(handle, lambda s: s.contact_counts.get("agent_call", 0) >= 1, what="an agent task")
    [task] = [c for c in status.last_contacts if c.channel.value == "agent_call"]
    with pytest.raises(ValidationError, match="only from the borrower"):  # refused before it is sent
        await outcome(cases, party=Party.WRONG_PARTY, reason=DelinquencyReason.FORGOT, attempt_key=task.key)
    await factories.rejected(handle.execute_update(OverdueCase.record_contact_outcome, await outcome(
        cases, party=Party.WRONG_PARTY, attempt_key="nope")), "no agent call task")
    await factories.rejected(handle.execute_update(OverdueCase.record_contact_outcome, await outcome(
        cases, party=Party.WRONG_PARTY, attempt_key=task.key)), "never dialled")  # the guard's word first
    dialled = await handle.execute_update(OverdueCase.may_dial, DialRequest(attempt_key=task.key, agent="agent-1"))
    assert dialled.allowed, dialled
    await handle.execute_update(OverdueCase.record_contact_outcome, await outcome(
        cases, party=Party.WRONG_PARTY, attempt_key=task.key, notes="a stranger: never heard of them"))
    status = await cases.status(handle)
    [after] = [c for c in status.last_contacts if c.key == task.key]
    assert after.outcome.value == "wrong_party" and "wrong_number" in status.flags
    assert status.desk.profile.wrong_party_contacts == 1 and status.desk.profile.reasons == []


async def test_a_call_back_is_a_task_that_sets_the_next_action_and_goes_to_a_supervisor_when_late(cases):
    handle = await cases.start(mobile=AGENT_TASKS_WAIT)
    await cases.until(handle, lambda s: s.contact_counts.get("sms", 0) >= 1, what="first SMS")
    at = await now(cases) + timedelta(hours=3)
    answer = await handle.execute_update(OverdueCase.record_contact_outcome, await outcome(
        cases, result=ContactResult.CALL_BACK, call_back_at=at, reason=DelinquencyReason.INCOME_CUT))
    assert "call back at" in answer.message
    status = await cases.status(handle)
    [task] = status.desk.tasks
    assert (task.kind, task.owner, task.due_at, task.status) == (TaskKind.CALL_BACK, "agent-1", at, TaskStatus.OPEN)
    await shown(cases, handle, lambda a: "task:call_back" in (a.get(search.CASE_FLAGS.name) or [])
                and a.get(search.DUE_BY.name) == at, "the call-back task")
    status = await cases.status(handle)
    assert status.next_action.at == at and "Call the borrower back" in status.next_action.what  # nothing before

    await cases.env.sleep(timedelta(hours=3, minutes=1))  # due now: the agent's list, not yet late
    status = await cases.status(handle)
    assert not status.desk.tasks[0].escalated and status.desk.tasks[0].open
    await cases.env.sleep(load_policy("standard").desk.late_after)  # nobody called back
    status = await cases.status(handle)
    assert status.desk.tasks[0].escalated
    await shown(cases, handle, lambda a: "task_late" in (a.get(search.CASE_FLAGS.name) or []), "a late task")
    rows = await cases.rows("SELECT kind, reason FROM escalations WHERE case_id = :c", c=status.case_id)
    assert [r["kind"] for r in rows] == ["supervisor"] and "call_back" in rows[0]["reason"]

    await handle.execute_update(OverdueCase.record_contact_outcome, await outcome(cases, result=ContactResult.REFUSED))
    status = await cases.status(handle)
    assert status.desk.tasks[0].status is TaskStatus.DONE and status.desk.profile.refusals == 1


async def test_a_lease_ends_by_itself_and_only_its_holder_releases_it(cases):
    handle = await cases.start()
    status = await cases.until(handle, lambda s: s.contact_counts.get("sms", 0) >= 1, what="first SMS")
    desk = Desk(CaseService(cases.client, cases.queue), cases.client, Registry(cases.engine))
    before = len((await handle.fetch_history()).events)
    for assignment, reason in (
            (Assignment(team="collections", agent="agent-9"), "no active agent agent-9"),
            (Assignment(team="care", agent="agent-1"), "in team collections, not care")):
        try:
            await desk.assign(status.case_id, assignment)
            raise AssertionError("an assignment the registry cannot back was accepted")
        except UpdateRejected as e:
            assert reason in str(e)
    assert len((await handle.fetch_history()).events) == before  # refused before the case saw anything

    answer = await desk.assign(status.case_id, Assignment(team="collections", agent="agent-1",
                                                          lease=timedelta(hours=2)))
    assert "agent-1 until" in answer.message
    await shown(cases, handle, lambda a: a.get(search.ASSIGNED_AGENT.name) == "agent-1"
                and a.get(search.ASSIGNED_TEAM.name) == "collections", "the assignment")
    await factories.rejected(handle.execute_update(OverdueCase.assign, Assignment(team="collections", agent="agent-2")),
                             "agent agent-1 holds this case")
    await factories.rejected(handle.execute_update(OverdueCase.release, Release(agent="agent-2")),
                             "agent agent-2 does not hold this case")
    await factories.rejected(handle.execute_update(OverdueCase.assign, Assignment(
        team="collections", agent="agent-1", lease=timedelta(days=30))), "at most")

    await cases.env.sleep(timedelta(hours=2, minutes=1))  # agent-1 went home without releasing it
    status = await cases.status(handle)
    assert status.desk.lease.agent is None and status.desk.lease.team == "collections"
    await shown(cases, handle, lambda a: a.get(search.ASSIGNED_AGENT.name) is None, "the lease's end")
    [ended] = await settled_journal(cases, handle, status.case_id, "lease_ended", 1)
    assert ended["agent"] == "agent-1"
    await desk.assign(status.case_id, Assignment(team="collections", agent="agent-2"))
    answer = await desk.release(status.case_id, Release(agent="agent-2", note="shift over"))
    assert "queue" in answer.message
    try:
        await desk.assign(status.case_id, Assignment(team="colections"))
        raise AssertionError("a team the registry does not know was accepted")
    except UpdateRejected as e:
        assert "no team colections" in str(e)

    # The case becomes the care team's work: the collections agent's assignment lapses.
    await desk.assign(status.case_id, Assignment(team="collections", agent="agent-1"))
    await handle.execute_update(OverdueCase.record_vulnerability, VulnerabilityReport(
        driver=VulnerabilityDriver.HEALTH, source="agent", consent_to_record=True))
    status = await cases.until(handle, lambda s: s.desk.lease is None, what="the assignment to lapse")
    assert status.stage is Stage.WELLBEING_HOLD
    await shown(cases, handle, lambda a: a.get(search.ASSIGNED_TEAM.name) == "care"
                and a.get(search.ASSIGNED_AGENT.name) is None, "the care team's queue")


async def test_a_visit_goes_only_to_trained_collectors_of_the_region_who_alone_report_it(cases):
    handle = await cases.start(profile="high_risk", mobile=factories.UNREACHABLE)
    status = await cases.stage(handle, Stage.FIELD_VISIT)
    await handle.execute_update(OverdueCase.approve, ApprovalDecision(
        approval_id=status.pending_approvals[0].approval_id, approve=True, decided_by="sup-field"))
    status = await cases.until(handle, lambda s: s.visit.status == "dispatched", what="visit dispatched")
    assert status.visit.collectors == ["collector-a", "collector-b"]  # collector-c's training has expired
    [chosen] = await journal(cases, status.case_id, "collectors_chosen")
    assert chosen["collectors"] == ["collector-a", "collector-b"]
    hours = factories.visit_hours(await now(cases), "Asia/Shanghai")
    await factories.rejected(handle.execute_update(OverdueCase.record_visit_outcome, VisitOutcome(
        visit_id=status.visit.visit_id, result=VisitResult.MET, collectors=["collector-a", "collector-c"], **hours)),
        "collector-c not dispatched")
    await factories.rejected(handle.execute_update(OverdueCase.record_contact_outcome, await outcome(
        cases, channel="visit", visit_id="visit-x", agent="collector-a")), "no visit 'visit-x'")
    await factories.rejected(handle.execute_update(OverdueCase.record_contact_outcome, await outcome(
        cases, channel="visit", visit_id=status.visit.visit_id, agent="collector-c")), "collector-c was not dispatched")
    due = (await now(cases) + timedelta(days=3)).date()
    await handle.execute_update(OverdueCase.record_visit_outcome, VisitOutcome(
        visit_id=status.visit.visit_id, result=VisitResult.MET, collectors=["collector-a", "collector-b"],
        promise=PromiseRequest(amount=Decimal("400.00"), due_date=due), **hours))
    await handle.execute_update(OverdueCase.record_contact_outcome, await outcome(  # what the borrower told them
        cases, channel="visit", visit_id=status.visit.visit_id, agent="collector-b", reason=DelinquencyReason.JOB_LOSS,
        notes="lost a factory job in October; looking for work"))
    status = await cases.status(handle)
    assert status.stage is Stage.PROMISE and status.desk.profile.reason is DelinquencyReason.JOB_LOSS
    [visit] = await cases.rows("SELECT collectors FROM visits WHERE case_id = :c", c=status.case_id)
    assert visit["collectors"] == ["collector-a", "collector-b"]


async def test_a_visit_in_a_region_without_enough_trained_collectors_waits_with_a_task_for_the_field_team(cases):
    handle = await cases.start(profile="high_risk", mobile=factories.UNREACHABLE, region="Guangdong")
    status = await cases.stage(handle, Stage.FIELD_VISIT)
    await handle.execute_update(OverdueCase.approve, ApprovalDecision(
        approval_id=status.pending_approvals[0].approval_id, approve=True, decided_by="sup-field"))
    status = await cases.until(handle, lambda s: bool(s.desk.open_tasks(TaskKind.COLLECTORS)),
                               what="a task to find collectors")
    assert status.visit.status == "approved" and not status.visit.collectors
    assert "1 found" in status.desk.open_tasks(TaskKind.COLLECTORS)[0].summary
    assert "waiting for trained collectors" in status.next_action.what
    rows = await cases.rows("SELECT count(*) AS n FROM contact_attempts WHERE case_id = :c AND channel = 'visit'",
                            c=status.case_id)
    assert rows[0]["n"] == 0  # nobody was sent
    status = await cases.until(handle, lambda s: s.stage is not Stage.FIELD_VISIT or s.pending_approvals,
                               what="the visit given up", max_steps=60)
    assert not status.desk.open_tasks(TaskKind.COLLECTORS) and status.visit.status == "unstaffed"
    given_up = await settled_journal(cases, handle, status.case_id, "task_closed", 1)
    assert given_up[-1]["why"] == "the visit is given up"


async def test_a_conduct_complaint_opens_an_investigation_for_the_staff_members_supervisor(cases):
    handle = await cases.start()
    await cases.until(handle, lambda s: s.contact_counts.get("sms", 0) >= 1, what="first SMS")
    answer = await handle.execute_update(OverdueCase.open_complaint, ComplaintRequest(
        category="conduct", details="the agent was rude", staff_id="agent-2"))
    status = await cases.status(handle)
    [task] = status.desk.open_tasks(TaskKind.INVESTIGATION)
    assert task.owner == "sup-1" and task.ref == f"{answer.ref}:investigation"
    assert task.due_at - await now(cases) <= timedelta(days=14)
    registry = Registry(cases.engine)
    [open_one] = await registry.investigations(supervisor_id="sup-1")
    assert (open_one.staff_id, open_one.case_id, open_one.due_at) == ("agent-2", status.case_id, task.due_at)
    await factories.rejected(handle.execute_update(OverdueCase.complete_task, TaskDone(
        task_id=task.task_id, by="sup-1", finding="   ")), "closes with its finding")
    await factories.rejected(handle.execute_update(OverdueCase.complete_task, TaskDone(
        task_id=task.task_id, by="agent-2", finding="nothing happened")), "the staff member investigated")
    await factories.rejected(handle.execute_update(OverdueCase.complete_task, TaskDone(
        task_id=task.task_id, by="agent-1", finding="all fine")), "only sup-1")
    await handle.execute_update(OverdueCase.complete_task, TaskDone(
        task_id=task.task_id, by="sup-1", finding="call recording reviewed; coaching given"))
    for _ in range(30):
        if not await registry.investigations(supervisor_id="sup-1"):
            break
        await cases.env.sleep(timedelta(seconds=1))
    assert await registry.investigations(supervisor_id="sup-1") == []
    [closed] = await registry.investigations(open_only=False, supervisor_id="sup-1")
    assert closed.closed_by == "sup-1" and closed.finding
