"""Registry activities: what a case asks of the staff registry (who may visit, who an agent is) and the
conduct investigations its complaints open, written once per investigation id."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from pydantic import Field
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.contracts import Contract
from adapters.registry import Registry
from domain.registry import Course, Investigation, StaffMember, Team
from domain.values import AwareDatetime, CountryCode, StaffId


class CollectorSearch(Contract):
    country: CountryCode
    region: str = ""  # the borrower's; "" finds only whole-country collectors
    course: Course
    on: date  # the visit's day where the borrower lives: training must be current then
    need: int = Field(ge=1)


class TeamLookup(Contract):
    team_id: str


class StaffLookup(Contract):
    staff_id: StaffId


class InvestigationRequest(Contract):
    investigation_id: str = Field(min_length=1, max_length=160)
    case_id: str = Field(min_length=1, max_length=64)
    complaint_id: str = Field(min_length=1, max_length=160)
    staff_id: StaffId
    opened_at: AwareDatetime
    due_at: AwareDatetime


class InvestigationClosing(Contract):
    investigation_id: str = Field(min_length=1, max_length=160)
    finding: str = Field(min_length=1)
    by: StaffId
    at: AwareDatetime


class RegistryActivities:
    def __init__(self, registry: Registry):
        self.registry = registry

    @activity.defn
    async def find_collectors(self, search: CollectorSearch) -> list[str]:
        """Up to `need` trained, active collectors of the region, by id (fewer when there are fewer)."""
        return await self.registry.collectors(search.country, search.region, search.course, search.on, search.need)

    @activity.defn
    async def staff_member(self, lookup: StaffLookup) -> StaffMember | None:
        return await self.registry.member(lookup.staff_id)

    @activity.defn
    async def open_investigation(self, request: InvestigationRequest) -> Investigation:
        """For the staff member's supervisor as the registry has them now; a retry returns the row the
        first attempt wrote, so the case and the registry name the same supervisor."""
        supervisor = await self.registry.supervisor_of(request.staff_id)
        opened = Investigation(**request.model_dump(), supervisor_id=supervisor)
        await self.registry.open_investigation(opened)
        return await self.registry.investigation(request.investigation_id) or opened

    @activity.defn
    async def close_investigation(self, closing: InvestigationClosing) -> bool:
        """False when it was closed already (a retry, or a second finding): the first finding stands. A
        closing the registry refuses (no finding) is refused for good: retrying it cannot succeed."""
        try:
            return await self.registry.close_investigation(closing.investigation_id, closing.finding, closing.by,
                                                           closing.at)
        except ValueError as e:
            raise ApplicationError(str(e), type="InvalidClosing", non_retryable=True) from e

    @activity.defn
    async def team(self, lookup: TeamLookup) -> Team | None:
        return await self.registry.team(lookup.team_id)

    def all(self) -> list[Callable[..., Any]]:
        return [self.find_collectors, self.staff_member, self.open_investigation, self.close_investigation,
                self.team]
