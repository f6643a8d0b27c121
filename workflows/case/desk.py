"""The operators' desk on a case: what a conversation came to, who works the case (a lease that ends by
a durable timer, so a case never stays with an absent agent), and the tasks people owe it (each with an
owner and a due time, escalated once to a supervisor when late). Decisions are `domain.desk`'s; the
registry (teams, staff, training) is read through activities. Cases opened before the desk keep
`s.desk` None and behave as before; its updates give them one when first used."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows import search
from workflows.case import contact, hardship_plan, messages, promise, protections, tasks
from workflows.case.core import CaseRun

with workflow.unsafe.imports_passed_through():
    from activities.contracts import ReceiptRecord
    from activities.registry import InvestigationClosing, RegistryActivities, StaffLookup, TeamLookup
    from domain import clock
    from domain import desk as decide
    from domain.desk import Lease
    from domain.enums import (
        ContactResult,
        DelinquencyReason,
        HandOff,
        HardshipReason,
        HoldKind,
        Outcome,
        Party,
        Stage,
        TaskKind,
        TaskStatus,
        VisitStatus,
    )
    from domain.messages import (
        PAUSED_BY_A_DISPUTE,
        Assignment,
        ContactOutcome,
        DisputeRequest,
        HardshipReport,
        Release,
        TaskDone,
        UpdateResult,
    )
    from domain.registry import assignment_problem, supervises

HARDSHIP_REASON = {DelinquencyReason.ILLNESS: HardshipReason.ILLNESS,
                   DelinquencyReason.JOB_LOSS: HardshipReason.JOB_LOSS}


def due(run: CaseRun) -> datetime | None:
    """Leases end and late tasks go to a supervisor; when the desk next needs the case awake."""
    d = run.s.desk
    if d is None or run.s.stage.terminal:
        return None
    queue = search.TEAM_BY_STAGE[run.s.stage]
    if d.lease is not None and d.lease.queue is not None and d.lease.queue != queue:  # now another team's work
        ended, d.lease = d.lease, None
        run.event("lease_ended", {"team": ended.team, "agent": ended.agent, "until": ended.until.isoformat()
                                  if ended.until else None, "why": f"the case moved to the {queue} queue"})
    elif d.lease is not None and d.lease.until is not None and d.lease.until <= run.now:
        ended, d.lease = d.lease, Lease(team=d.lease.team, since=run.now, by="lease end", queue=d.lease.queue)
        run.event("lease_ended", {"team": ended.team, "agent": ended.agent, "until": ended.until.isoformat()
                                  if ended.until else None, "why": "the lease ran out"})
    if run.s.stage is not Stage.FIELD_VISIT:
        tasks.close(run, TaskKind.COLLECTORS, "the case left the field visit")
    for task in decide.late(d.tasks, run.now):
        task.escalated = True
        run.hand_off(HandOff.SUPERVISOR, f"task {task.task_id} ({task.kind.value}) late: {task.summary}")
    return decide.next_due(d.tasks, d.lease)


# --- contact outcomes -----------------------------------------------------------------------------

def check_outcome(run: CaseRun, outcome: ContactOutcome) -> None:
    run.reject_if_closed()
    if outcome.at > run.now + messages.FUTURE_TOLERANCE:
        raise ValueError(f"at {outcome.at.isoformat()} is in the future")
    if outcome.call_back_at is not None and outcome.call_back_at <= run.now:
        raise ValueError("call_back_at must be in the future")
    if outcome.attempt_key is not None:
        attempt = next((a for a in run.s.attempts if a.key == outcome.attempt_key), None)
        if attempt is None or attempt.dial_by is None:
            raise ValueError(f"no agent call task {outcome.attempt_key!r} on this case")
        if not attempt.dialled and attempt.outcome is Outcome.TASK_CREATED:  # the guard's word comes first
            raise ValueError(f"task {outcome.attempt_key} was never dialled: ask may_dial as you dial, then record")
    if outcome.visit_id is not None:
        visit = run.s.visit
        if visit is None or visit.visit_id != outcome.visit_id:
            raise ValueError(f"no visit {outcome.visit_id!r} on this case")
        if visit.status not in (VisitStatus.DISPATCHED, VisitStatus.OVERDUE, VisitStatus.REPORTED):
            raise ValueError(f"visit {outcome.visit_id} is {visit.status.value}: nobody has been there")
        if visit.collectors and outcome.agent not in visit.collectors:
            raise ValueError(f"{outcome.agent} was not dispatched on visit {outcome.visit_id} "
                             f"(dispatched: {', '.join(visit.collectors)})")
    if run.s.flags.hold(HoldKind.DISPUTE) is not None and outcome.result in PAUSED_BY_A_DISPUTE:
        raise ValueError(f"the debt is disputed: no {outcome.result.value} until the dispute is resolved")
    try:
        if outcome.promise is not None:
            messages.check_promise(run, outcome.promise)
        if outcome.result is ContactResult.HARDSHIP:
            messages.check_hardship(run, HardshipReport(reason=HardshipReason.OTHER))
    except ValueError as e:
        raise ValueError(f"{outcome.result.value}: {e}") from e


async def record_outcome(run: CaseRun, outcome: ContactOutcome) -> UpdateResult:
    """On record first (notes and reason sealed in the ledger under the case's key), then what it leads to:
    the attempt's outcome, the profile, a call-back task, a promise, a hardship plan, a dispute."""
    run.recheck(lambda o: check_outcome(run, o), outcome)
    s, d = run.s, tasks.desk(run)
    run.event("contact_outcome", {
        "channel": outcome.channel, "attempt_key": outcome.attempt_key, "visit_id": outcome.visit_id,
        "party": outcome.party.value, "reason": outcome.reason.value if outcome.reason else None,
        "result": outcome.result.value, "call_back_at": outcome.call_back_at.isoformat() if outcome.call_back_at
        else None, "duration_seconds": outcome.duration_seconds, "agent": outcome.agent,
        "at": outcome.at.isoformat(), "notes": outcome.notes})
    d.profile.learn(outcome)
    run.wake = True
    attempt = next((a for a in s.attempts if a.key == outcome.attempt_key), None)
    if attempt is not None and attempt.outcome is Outcome.TASK_CREATED:  # no receipt has said it yet
        said = {Party.RIGHT_PARTY: Outcome.CONVERSATION, Party.WRONG_PARTY: Outcome.WRONG_PARTY,
                Party.THIRD_PARTY: Outcome.THIRD_PARTY, Party.NONE: Outcome.NO_ANSWER}[outcome.party]
        contact.apply_outcome(run, attempt, said, distress=False)
        run.owe(ReceiptRecord(case_id=run.case_id, key=attempt.key, outcome=said, distress=False, at=run.now))
    elif outcome.party is Party.RIGHT_PARTY and s.reached_at is None:
        s.reached_at = outcome.at
    if outcome.channel == "agent_call" and outcome.party is not Party.NONE:
        tasks.close(run, TaskKind.CALL_BACK, "the borrower was called back")
    said_so = f"{outcome.party.value}, {outcome.result.value} recorded"
    if outcome.disputes and run.s.flags.hold(HoldKind.DISPUTE) is None:  # collection pauses until verified
        fraud = outcome.reason is DelinquencyReason.FRAUD_CLAIM
        opened = await protections.open_dispute(run, DisputeRequest(
            kind="identity_theft" if fraud else "debt",
            reason=f"{'fraud' if fraud else 'the debt'} disputed on a {outcome.channel.replace('_', ' ')}",
            details=outcome.notes[:2000], written=False))
        said_so = f"{said_so}; {opened.message}"
    match outcome.result:
        case ContactResult.CALL_BACK:
            assert outcome.call_back_at is not None
            team = d.lease.team if d.lease is not None else search.TEAM_BY_STAGE[s.stage]
            task = tasks.make(run, TaskKind.CALL_BACK, team, outcome.call_back_at, "call the borrower back as asked",
                             owner=outcome.agent, ref=outcome.attempt_key)
            local = clock.local(outcome.call_back_at, run.case.borrower.timezone)
            return run.result(f"{said_so}: call back at {local:%Y-%m-%d %H:%M} (borrower's time)", task.task_id)
        case ContactResult.PROMISE:
            assert outcome.promise is not None
            return run.result(*promise.take(run, outcome.promise))
        case ContactResult.HARDSHIP:
            assert outcome.reason is not None
            return run.result(*hardship_plan.propose(run, HardshipReport(
                reason=HARDSHIP_REASON.get(outcome.reason, HardshipReason.OTHER))))
    return run.result(said_so)


# --- worklists: assignments with a lease ----------------------------------------------------------

def check_assign(run: CaseRun, assignment: Assignment) -> None:
    run.reject_if_closed()
    longest = run.s.config.policy.desk.lease_max if run.s.config else None  # (not open yet: its handler checks)
    if assignment.lease is not None and longest is not None and not timedelta(0) < assignment.lease <= longest:
        raise ValueError(f"a lease lasts more than nothing and at most {longest}")
    if assignment.agent is None and assignment.lease is not None:
        raise ValueError("a lease is for an agent: a team's queue has none")
    problem = decide.lease_problem(run.s.desk.lease if run.s.desk else None, assignment.agent, run.now)
    if problem:
        raise ValueError(problem)


async def assign(run: CaseRun, assignment: Assignment) -> UpdateResult:
    run.recheck(lambda a: check_assign(run, a), assignment)
    problem = await registry_problem(run, assignment)  # the registry knows them (a validator cannot ask it)
    if problem:
        raise ApplicationError(problem, type="InvalidUpdate", non_retryable=True)
    d, policy = tasks.desk(run), run.config.policy.desk
    until = run.now + (assignment.lease or policy.lease) if assignment.agent else None
    d.lease = Lease(team=assignment.team, agent=assignment.agent, since=run.now, until=until, by=assignment.by,
                    queue=search.TEAM_BY_STAGE[run.s.stage])
    run.wake = True
    run.event("assigned", {"team": assignment.team, "agent": assignment.agent, "by": assignment.by,
                           "until": until.isoformat() if until else None})
    whom = f"agent {assignment.agent} until {until:%Y-%m-%d %H:%M} UTC" if until else "the team's queue"
    return run.result(f"assigned to {assignment.team}: {whom}")


async def registry_problem(run: CaseRun, assignment: Assignment) -> str | None:
    """Why the registry cannot back an assignment (`domain.registry.assignment_problem`)."""
    team = member = None
    async with run.exclusive():
        if assignment.agent is None:
            team = await run.act(RegistryActivities.team, TeamLookup(team_id=assignment.team),
                                 f"Is there a team {assignment.team}")
        else:
            member = await run.act(RegistryActivities.staff_member, StaffLookup(staff_id=assignment.agent),
                                   f"Who is {assignment.agent}")
    return assignment_problem(assignment.team, assignment.agent, team, member)


def check_release(run: CaseRun, release: Release) -> None:
    run.reject_if_closed()
    problem = decide.release_problem(run.s.desk.lease if run.s.desk else None, release.agent)
    if problem:
        raise ValueError(problem)


async def release(run: CaseRun, request: Release) -> UpdateResult:
    run.recheck(lambda r: check_release(run, r), request)
    d = tasks.desk(run)
    assert d.lease is not None
    d.lease = Lease(team=d.lease.team, since=run.now, by=request.agent, queue=d.lease.queue)
    run.wake = True
    run.event("released", {"team": d.lease.team, "agent": request.agent, "note": request.note})
    return run.result(f"released to {d.lease.team}'s queue")


# --- tasks ------------------------------------------------------------------------------------------

def check_task_done(run: CaseRun, done: TaskDone) -> None:
    run.reject_if_closed()
    task = run.s.desk.task(done.task_id) if run.s.desk else None
    if task is None:
        raise ValueError(f"no task {done.task_id!r} on this case")
    if not task.open:
        raise ValueError(f"task {done.task_id} is {task.status.value} already")
    if task.kind is TaskKind.INVESTIGATION:
        if done.by == task.subject:
            raise ValueError(f"{done.by} is the staff member investigated: someone else closes it")
        if task.owner is not None and done.by != task.owner:
            raise ValueError(f"only {task.owner}, who investigates, closes it")
        if not done.finding and not done.cancelled:  # (stripped by `TaskDone`)
            raise ValueError("an investigation closes with its finding")


async def task_done(run: CaseRun, done: TaskDone) -> UpdateResult:
    run.recheck(lambda t: check_task_done(run, t), done)
    task = tasks.desk(run).task(done.task_id)
    assert task is not None
    if task.kind is TaskKind.INVESTIGATION and task.ref is not None:  # the registry's copy closes with it
        async with run.exclusive():
            if task.owner is None:  # nobody above the staff member: a supervisor of the registry closes it
                member = await run.act(RegistryActivities.staff_member, StaffLookup(staff_id=done.by),
                                       f"Who is {done.by}")
                if not supervises(member):
                    raise ApplicationError(f"{done.by} is no active supervisor or manager in the registry",
                                           type="InvalidUpdate", non_retryable=True)
            await run.act(RegistryActivities.close_investigation, InvestigationClosing(  # the finding stays sealed
                investigation_id=task.ref, finding="cancelled" if done.cancelled else
                f"closed on case {run.case_id} ({task.task_id}): the finding is in its journal", by=done.by,
                at=run.now), f"Close investigation {task.ref}")
    task.status = TaskStatus.CANCELLED if done.cancelled else TaskStatus.DONE
    run.wake = True
    run.event("task_closed", {"task_id": task.task_id, "kind": task.kind.value, "by": done.by,
                              "status": task.status.value, "finding": done.finding, "ref": task.ref})
    return run.result(f"task {task.task_id} {task.status.value}", task.task_id)
