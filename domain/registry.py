"""The staff registry: teams, the people in them, their training, and conduct investigations.

Ids only, never names: the registry says who may take a case or knock on a door, and whom a complaint
goes to, without holding anyone's personal data. Which collectors may visit a borrower is decided here
(`same_region`, `trained`), so the database's answer and a test's agree.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import Field, model_validator

from domain.enums import StaffRole
from domain.values import AwareDatetime, CountryCode, Model, StaffId

TeamId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="a team's id")]
Region = Annotated[str, Field(max_length=100, description="a province or state; empty: the whole country")]
Course = Annotated[str, Field(min_length=1, max_length=64)]
Locale = Annotated[str, Field(pattern=r"^[a-z]{2}(-[A-Z]{2})?$")]
TeamKind = Literal["collections", "field", "care", "legal", "customer"]
SUPERVISING = (StaffRole.SUPERVISOR, StaffRole.MANAGER)
TAKES_CASES = (StaffRole.AGENT, StaffRole.COLLECTOR, StaffRole.SUPERVISOR)  # who may hold an assigned case


class Team(Model):
    team_id: TeamId
    kind: TeamKind
    country: CountryCode
    region: Region = ""
    supervisor_id: StaffId | None = None  # who a complaint against one of its members goes to


class StaffMember(Model):
    staff_id: StaffId
    team_id: TeamId
    role: StaffRole
    country: CountryCode
    region: Region = ""
    languages: list[Locale] = Field(default_factory=list)
    active: bool = True  # retire someone by setting this, so old cases still name a known id


class Training(Model):
    staff_id: StaffId
    course: Course
    completed_on: date
    expires_on: date

    @model_validator(mode="after")
    def _expires_after_completion(self) -> Training:
        if self.expires_on <= self.completed_on:
            raise ValueError(f"{self.staff_id}'s {self.course} training expires ({self.expires_on}) "
                             f"before it was completed ({self.completed_on})")
        return self


class Investigation(Model):
    """A conduct complaint against a staff member, for their supervisor to close with a finding."""

    investigation_id: str = Field(min_length=1, max_length=160)
    case_id: str = Field(min_length=1, max_length=64)
    complaint_id: str = Field(min_length=1, max_length=160)
    staff_id: StaffId
    supervisor_id: StaffId | None  # None: the registry knew no supervisor for them
    opened_at: AwareDatetime
    due_at: AwareDatetime
    closed_at: AwareDatetime | None = None
    finding: str | None = None
    closed_by: StaffId | None = None

    @property
    def open(self) -> bool:
        return self.closed_at is None

    def overdue(self, now: datetime) -> bool:
        """Still open past its deadline."""
        return self.open and now > self.due_at


class RegistryFile(Model):
    """A registry as a file (YAML) to load: whole in itself, so every reference is checked here."""

    teams: list[Team] = Field(default_factory=list)
    staff: list[StaffMember] = Field(default_factory=list)
    trainings: list[Training] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references(self) -> RegistryFile:
        problems = [f"{kind} {key} appears more than once" for kind, keys in (
            ("team", [t.team_id for t in self.teams]), ("staff member", [m.staff_id for m in self.staff]),
            ("training", [f"{t.staff_id}/{t.course}" for t in self.trainings])) for key in _repeated(keys)]
        teams = {t.team_id: t for t in self.teams}
        staff = {m.staff_id: m for m in self.staff}
        for m in self.staff:
            team = teams.get(m.team_id)
            if team is None:
                problems.append(f"staff member {m.staff_id} names an unknown team {m.team_id}")
            elif not same_region(team.country, team.region, m.country, m.region):
                where = f"{team.country} {team.region}".strip()
                problems.append(f"staff member {m.staff_id} ({m.country} {m.region or 'whole country'}) "
                                f"works outside their team {team.team_id} ({where})")
        for t in self.trainings:
            if t.staff_id not in staff:
                problems.append(f"training {t.course} names an unknown staff member {t.staff_id}")
        for team in self.teams:
            boss = staff.get(team.supervisor_id) if team.supervisor_id else None
            if team.supervisor_id and (boss is None or boss.role not in SUPERVISING):
                problems.append(f"team {team.team_id}'s supervisor {team.supervisor_id} is not a supervisor "
                                "or manager in the staff list")
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _repeated(keys: Iterable[str]) -> list[str]:
    return sorted(key for key, n in Counter(keys).items() if n > 1)


def _fold(text: str) -> str:
    """Regions compare as people type them: any case, stray or doubled spaces."""
    return " ".join(text.split()).casefold()


def same_region(member_country: str, member_region: str, country: str, region: str) -> bool:
    """Whether a member working `member_region` of `member_country` covers a place in `region` of
    `country`. A member whose region is empty covers the whole country; a place of unknown region ("")
    is covered only by them."""
    if _fold(member_country) != _fold(country):
        return False
    return not _fold(member_region) or _fold(member_region) == _fold(region)


def trained(trainings: Iterable[Training], course: str, on: date) -> bool:
    """Holds `course` on that day: a training of it that has not expired (the expiry day still counts)."""
    return any(t.course == course and t.expires_on >= on for t in trainings)


def assignment_problem(team_id: str, agent: str | None, team: Team | None, member: StaffMember | None) -> str | None:
    """Why the registry cannot back an assignment (the team or agent as the registry has them, None if
    unknown): a team's queue needs a known team; an agent must be active, take cases, and be of that team."""
    if agent is None:
        return None if team is not None else f"no team {team_id} in the registry"
    if member is None or not member.active or member.role not in TAKES_CASES:
        return f"no active agent {agent} in the registry"
    if member.team_id != team_id:
        return f"{agent} is in team {member.team_id}, not {team_id}"
    return None


def supervises(member: StaffMember | None) -> bool:
    """An active supervisor or manager: who closes an investigation nobody above its subject owns."""
    return member is not None and member.active and member.role in SUPERVISING

