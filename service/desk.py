"""The desk's service: what operators record (contact outcomes, assignments, tasks) and the worklists
they work from. A worklist is a visibility query over the cases' search attributes (no history is
read), ordered by `domain.desk.priority` decided again for the moment it is read; the same queries
typed into the Web UI's search give the same cases (`docs/desk.md`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from temporalio.client import Client, WorkflowExecution
from temporalio.service import RPCError

from adapters.registry import Registry
from domain import desk as decide
from domain.desk import PriorityFacts
from domain.enums import Stage
from domain.messages import Assignment, ContactOutcome, Release, TaskDone, UpdateResult
from domain.registry import assignment_problem
from service.cases import Cases, TemporalError, UpdateRejected
from workflows import search
from workflows.case import OverdueCase

View = Literal["due-now", "team", "promises-due-today", "visits-awaiting-approval", "reviews-overdue",
               "past-deadline"]
VIEWS: tuple[View, ...] = ("due-now", "team", "promises-due-today", "visits-awaiting-approval", "reviews-overdue",
                           "past-deadline")
RUNNING = 'WorkflowType = "OverdueCase" AND ExecutionStatus = "Running"'
STAGES = {s.value for s in Stage}


class WorkItem(BaseModel):
    """One case in a worklist: what its search attributes say (never personal data)."""

    case_id: str
    priority: int
    stage: str | None = None
    team: str | None = None
    agent: str | None = None
    flags: list[str] = []
    days_past_due: int | None = None
    amount_due: float | None = None
    next_action_at: datetime | None = None
    due_by: datetime | None = None
    promise_due: datetime | None = None


@dataclass(frozen=True)
class Worklist:
    view: View
    query: str  # what to type into the Web UI's search for the same list
    items: list[WorkItem]
    truncated: bool = False  # more cases than `limit` matched: narrow it by team or agent


MOST = 5_000  # cases a worklist reads at most (visibility cannot order by priority: all are read, then sorted)


def _when(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _quoted(value: str) -> str:
    if '"' in value or "\\" in value:
        raise ValueError(f"not a valid id: {value!r}")
    return f'"{value}"'


def query(view: View, now: datetime, agent: str | None = None, team: str | None = None,
          zone: str = "UTC") -> str:
    """The visibility query for a view: what the worklist runs, and what an operator types in the Web UI."""
    team_zone = ZoneInfo(zone)  # an unknown zone is refused whichever the view (ZoneInfoNotFoundError: a KeyError)
    at = _when(now)
    match view:
        case "due-now":
            if not agent:
                raise ValueError("the due-now list is an agent's: give the agent")
            where = (f"{search.ASSIGNED_AGENT.name} = {_quoted(agent)} AND ({search.DUE_BY.name} <= \"{at}\" OR "
                     f"{search.PROMISE_DUE.name} <= \"{at}\" OR {search.NEXT_ACTION_AT.name} <= \"{at}\")")
        case "team":
            if not team:
                raise ValueError("a team's queue needs the team")
            where = f"{search.ASSIGNED_TEAM.name} = {_quoted(team)} AND {search.ASSIGNED_AGENT.name} IS NULL"
        case "promises-due-today":
            today = now.astimezone(team_zone).date()
            start, end = (datetime.combine(d, time(0), team_zone) for d in (today, today + timedelta(days=1)))
            where = f"{search.PROMISE_DUE.name} >= \"{_when(start)}\" AND {search.PROMISE_DUE.name} < \"{_when(end)}\""
        case "visits-awaiting-approval":
            where = f'{search.CASE_FLAGS.name} = "awaiting_visit"'
        case "reviews-overdue":
            where = (f'{search.CASE_FLAGS.name} IN ("awaiting_wellbeing_review", "awaiting_vulnerability_review") '
                     f"AND {search.DUE_BY.name} <= \"{at}\"")
        case "past-deadline":
            where = f"{search.DUE_BY.name} <= \"{at}\""
    if team and view not in ("team",):
        where += f" AND {search.ASSIGNED_TEAM.name} = {_quoted(team)}"
    if agent and view not in ("due-now", "team"):  # a team's queue is the cases nobody holds
        where += f" AND {search.ASSIGNED_AGENT.name} = {_quoted(agent)}"
    return f"{RUNNING} AND {where}"


def item(case_id: str, attributes: Mapping[str, Sequence[Any]], now: datetime) -> WorkItem:
    """A case as its search attributes show it, its priority decided for `now`."""
    def one(key: str) -> Any:
        values = attributes.get(key) or []
        return values[0] if values else None

    flags = [str(f) for f in attributes.get(search.CASE_FLAGS.name) or []]
    due_by, promise_due = one(search.DUE_BY.name), one(search.PROMISE_DUE.name)
    team, stage = one(search.ASSIGNED_TEAM.name), one(search.CASE_STAGE.name)
    queue = search.TEAM_BY_STAGE.get(Stage(stage)) if stage in STAGES else None
    facts = PriorityFacts.shown(flags, due_by, promise_due, one(search.AMOUNT_DUE.name) or 0.0,
                                one(search.DAYS_PAST_DUE.name) or 0, care_team=queue == "care")
    return WorkItem(
        case_id=case_id, priority=decide.priority(facts, now), stage=stage, team=team,
        agent=one(search.ASSIGNED_AGENT.name), flags=flags, days_past_due=one(search.DAYS_PAST_DUE.name),
        amount_due=one(search.AMOUNT_DUE.name), next_action_at=one(search.NEXT_ACTION_AT.name), due_by=due_by,
        promise_due=promise_due)


class Desk:
    """Operators' work on cases: through the case's own updates (same validators as the Web UI's dialogs),
    with the registry asked first where a validator cannot ask it."""

    def __init__(self, cases: Cases, client: Client, registry: Registry | None = None):
        self.cases, self.client, self.registry = cases, client, registry

    async def record_outcome(self, case_id: str, outcome: ContactOutcome) -> UpdateResult:
        """What a call or a visit came to (notes sealed in the ledger under the case's key)."""
        return await self.cases.send(case_id, lambda h: h.execute_update(OverdueCase.record_contact_outcome, outcome))

    async def assign(self, case_id: str, assignment: Assignment) -> UpdateResult:
        """Into a team's queue or an agent's; an agent the registry does not know is refused here, before
        the case sees anything (the case asks the registry too, for updates sent from the Web UI)."""
        if self.registry is not None:
            agent = assignment.agent
            team = await self.registry.team(assignment.team) if agent is None else None
            member = await self.registry.member(agent) if agent is not None else None
            problem = assignment_problem(assignment.team, agent, team, member)
            if problem:
                raise UpdateRejected(problem, case_id)
        return await self.cases.send(case_id, lambda h: h.execute_update(OverdueCase.assign, assignment))

    async def release(self, case_id: str, request: Release) -> UpdateResult:
        return await self.cases.send(case_id, lambda h: h.execute_update(OverdueCase.release, request))

    async def complete_task(self, case_id: str, done: TaskDone) -> UpdateResult:
        return await self.cases.send(case_id, lambda h: h.execute_update(OverdueCase.complete_task, done))

    async def worklist(self, view: View, *, agent: str | None = None, team: str | None = None,
                       zone: str = "UTC", now: datetime | None = None, limit: int = MOST) -> Worklist:
        """The cases of a view, highest priority first (then the earliest deadline). Every case the query
        finds is read before sorting, up to `limit`; past it the list says it is truncated."""
        now = now or datetime.now(UTC)
        q = query(view, now, agent=agent, team=team, zone=zone)
        items: list[WorkItem] = []
        try:
            async for execution in self.client.list_workflows(q, limit=limit + 1):
                items.append(self._item(execution, now))
        except RPCError as e:
            raise TemporalError(e.message) from e
        far = datetime.max.replace(tzinfo=UTC)
        items.sort(key=lambda i: (-i.priority, i.due_by or far, i.case_id))
        return Worklist(view=view, query=q, items=items[:limit], truncated=len(items) > limit)

    @staticmethod
    def _item(execution: WorkflowExecution, now: datetime) -> WorkItem:
        return item(execution.id.removeprefix("case-"), execution.search_attributes, now)

