"""Tasks: work for a person that the case waits on (missing contact data, a call-back, a conduct
investigation, an overdue review, collectors to find), each with an owner and a due time; the desk
(`desk.due`) escalates a late one to a supervisor once. On the case's search attributes, so a team
sees its tasks as a list in the Web UI."""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

from workflows.case.core import CaseRun

with workflow.unsafe.imports_passed_through():
    from activities.registry import CollectorSearch, InvestigationRequest, RegistryActivities
    from domain import clock
    from domain.desk import Desk, Task
    from domain.enums import TaskKind, TaskStatus


def desk(run: CaseRun) -> Desk:
    """The case's desk, made when first needed (a case opened before the desk has none until then)."""
    if run.s.desk is None:
        run.s.desk = Desk()
    return run.s.desk


def make(run: CaseRun, kind: TaskKind, team: str, due_at: datetime, summary: str,
         owner: str | None = None, ref: str | None = None, subject: str | None = None) -> Task:
    """A task due then, late (to a supervisor) the policy's `desk.late_after` later."""
    d = desk(run)
    d.tasks_made += 1
    task = Task(task_id=f"task-{d.tasks_made}", kind=kind, team=team, owner=owner, opened_at=run.now, due_at=due_at,
                escalate_at=due_at + run.config.policy.desk.late_after, summary=summary, ref=ref, subject=subject)
    d.tasks.append(task)
    run.wake = True
    run.event("task_opened", {"task_id": task.task_id, "kind": kind.value, "team": team, "owner": owner,
                              "due_at": due_at.isoformat(), "summary": summary, "ref": ref})
    return task


def close(run: CaseRun, kind: TaskKind, why: str, ref: str | None = None) -> None:
    """Tasks the case no longer needs (the contact data came, the review was decided)."""
    if run.s.desk is None:
        return
    for task in run.s.desk.open_tasks(kind):
        if ref is None or task.ref == ref:
            task.status = TaskStatus.DONE
            run.event("task_closed", {"task_id": task.task_id, "kind": kind.value, "by": "case", "why": why})


async def investigate(run: CaseRun, complaint_id: str, staff_id: str) -> None:
    """A conduct complaint names a staff member: an investigation for their supervisor, with a deadline,
    in the registry (so it shows among the supervisor's open investigations) and as the case's task."""
    due_at = run.now + run.config.policy.desk.investigation_within
    investigation_id = f"{complaint_id}:investigation"
    async with run.exclusive():
        opened = await run.act(RegistryActivities.open_investigation, InvestigationRequest(
            investigation_id=investigation_id, case_id=run.case_id, complaint_id=complaint_id, staff_id=staff_id,
            opened_at=run.now, due_at=due_at), f"Investigation of {staff_id} for their supervisor")
    make(run, TaskKind.INVESTIGATION, "supervisors", due_at,
         f"investigate the conduct complaint {complaint_id} against {staff_id}",
         owner=opened.supervisor_id, ref=investigation_id, subject=staff_id)


async def collectors_for_visit(run: CaseRun) -> list[str] | None:
    """At least the packs' number of collectors of the borrower's region, each with current training;
    None (and a task for the field team) while the registry has too few."""
    need, policy = run.config.rules.min_visit_collectors, run.config.policy.desk
    address, tz = run.case.borrower.address, run.case.borrower.timezone
    async with run.lock:
        found = await run.act(RegistryActivities.find_collectors, CollectorSearch(
            country=address.country or run.case.borrower.country, region=address.region,
            course=policy.collector_training, on=clock.local(run.now, tz).date(), need=need),
            f"Find {need} trained collectors of the region")
    if len(found) >= need:
        close(run, TaskKind.COLLECTORS, "collectors found")
        return found[:need]
    if not desk(run).open_tasks(TaskKind.COLLECTORS):
        make(run, TaskKind.COLLECTORS, "field", run.now + policy.collectors_retry,
             f"{need} collectors with current {policy.collector_training} training needed in the "
             f"borrower's region; {len(found)} found")
    return None

