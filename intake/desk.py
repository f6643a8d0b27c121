"""The desk's HTTP routes, for dialers and team screens (authenticated like the rest of the service):

    POST /cases/{case_id}/contact-outcomes  the `record_contact_outcome` update (what a call or visit came to)
    POST /cases/{case_id}/assignments       the `assign` update (a team's queue, or an agent's with a lease)
    POST /cases/{case_id}/releases          the `release` update (only by the agent who holds the case)
    POST /cases/{case_id}/task-completions  the `complete_task` update
    GET  /worklist?view=due-now&agent=...   a worklist, highest priority first, with its Web UI query
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel

from domain.messages import Assignment, ContactOutcome, Release, TaskDone, UpdateResult
from domain.values import CASE_ID_PATTERN
from service.desk import Desk, View, WorkItem

CaseId = Annotated[str, Path(pattern=CASE_ID_PATTERN.pattern, max_length=64, description="the lender's case id")]


class WorklistAnswer(BaseModel):
    view: str
    query: str  # the same list in the Web UI: paste it into the workflows search
    items: list[WorkItem]
    truncated: bool = False  # more cases matched than a list reads: narrow it by team or agent


def routes(desk: Desk, authenticated: list[Any], problems: dict[int | str, dict[str, Any]]) -> APIRouter:
    router = APIRouter(dependencies=authenticated, responses=problems)

    @router.post("/cases/{case_id}/contact-outcomes", response_model=UpdateResult)
    async def record_contact_outcome(case_id: CaseId, outcome: ContactOutcome) -> UpdateResult:
        """Who answered, why the loan is late, what was agreed (a promise, a call-back, hardship, a dispute)."""
        return await desk.record_outcome(case_id, outcome)

    @router.post("/cases/{case_id}/assignments", response_model=UpdateResult)
    async def assign(case_id: CaseId, assignment: Assignment) -> UpdateResult:
        """To a team's queue, or to an agent of the registry for a lease that ends by itself."""
        return await desk.assign(case_id, assignment)

    @router.post("/cases/{case_id}/releases", response_model=UpdateResult)
    async def release(case_id: CaseId, request: Release) -> UpdateResult:
        return await desk.release(case_id, request)

    @router.post("/cases/{case_id}/task-completions", response_model=UpdateResult)
    async def complete_task(case_id: CaseId, done: TaskDone) -> UpdateResult:
        return await desk.complete_task(case_id, done)

    @router.get("/worklist", response_model=WorklistAnswer)
    async def worklist(view: Annotated[View, Query(description="which list")], agent: str | None = None,
                       team: str | None = None,
                       zone: Annotated[str, Query(description="the team's time zone (promises due today)")] = "UTC",
                       ) -> WorklistAnswer:
        """For a dialer or a team screen: the same cases the Web UI's query finds, by priority."""
        try:
            found = await desk.worklist(view, agent=agent, team=team, zone=zone)
        except (ValueError, KeyError) as e:
            raise HTTPException(422, str(e)) from e
        return WorklistAnswer(view=found.view, query=found.query, items=found.items, truncated=found.truncated)

    return router
