"""The staff registry in Postgres: teams, staff, training (loaded from a file or added one by one) and
the conduct investigations complaints open.

Writes are upserts or insert-once, so loading a file twice, or a retried activity, changes nothing the
second time. Which collectors may visit is `domain.registry`'s decision: SQL narrows the rows (role,
active, country, unexpired training), and `same_region` decides the region, so both always agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, TypeVar

from pydantic import TypeAdapter
from sqlalchemy import Table, exists, func, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters import db
from domain.enums import StaffRole
from domain.registry import Investigation, RegistryFile, StaffMember, Team, Training, same_region
from domain.values import Model, StaffId

M = TypeVar("M", bound=Model)
_STAFF_ID: TypeAdapter[str] = TypeAdapter(StaffId)


class UnknownReference(ValueError):
    """A staff member of a team, or a training of a person, the registry does not have."""


def _columns(table: Table, model: type[Model]) -> list[Any]:
    """The table's columns that hold the model's fields (not its bookkeeping, such as updated_at)."""
    return [table.c[name] for name in model.model_fields]


def _read(model: type[M], rows: Any) -> list[M]:
    return [model.model_validate(dict(row)) for row in rows.mappings()]


async def _upsert(conn: AsyncConnection, table: Table, keys: list[str], rows: Sequence[Model]) -> None:
    """Insert the rows or bring the stored ones up to date; a row already so is left alone, so its
    updated_at says when it last changed."""
    if not rows:
        return
    stmt = insert(table)
    changing = [c for c in type(rows[0]).model_fields if c not in keys]
    stmt = stmt.on_conflict_do_update(
        index_elements=keys, set_={c: stmt.excluded[c] for c in changing} | {"updated_at": func.now()},
        where=tuple_(*[table.c[c] for c in changing]).is_distinct_from(tuple_(*[stmt.excluded[c] for c in changing])))
    await conn.execute(stmt, [r.model_dump() for r in rows])


class Registry:
    def __init__(self, engine: AsyncEngine):
        self.engine = engine

    # --- writing the registry ---------------------------------------------------------------------

    async def load(self, file: RegistryFile) -> None:
        """Everything in the file, in one transaction. Additive: people missing from the file stay as
        they are (retire someone with `active: false`, so old cases still name a known id)."""
        async with self.engine.begin() as conn:
            await _upsert(conn, db.teams, ["team_id"], file.teams)
            await _upsert(conn, db.staff, ["staff_id"], file.staff)
            await _upsert(conn, db.trainings, ["staff_id", "course"], file.trainings)

    async def add_team(self, team: Team) -> None:
        async with self.engine.begin() as conn:
            await _upsert(conn, db.teams, ["team_id"], [team])

    async def add_staff(self, member: StaffMember) -> None:
        try:
            async with self.engine.begin() as conn:
                await _upsert(conn, db.staff, ["staff_id"], [member])
        except IntegrityError as e:
            raise UnknownReference(f"staff member {member.staff_id} names an unknown team {member.team_id}") from e

    async def record_training(self, training: Training) -> None:
        """A course completed, or renewed: one row per person and course, the latest dates."""
        try:
            async with self.engine.begin() as conn:
                await _upsert(conn, db.trainings, ["staff_id", "course"], [training])
        except IntegrityError as e:
            raise UnknownReference(f"training {training.course} names an unknown staff member "
                                   f"{training.staff_id}") from e

    # --- reading it -------------------------------------------------------------------------------

    async def teams(self) -> list[Team]:
        async with self.engine.connect() as conn:
            return _read(Team, await conn.execute(select(*_columns(db.teams, Team)).order_by(db.teams.c.team_id)))

    async def _one(self, model: type[M], table: Table, key: str, value: str) -> M | None:
        """The row whose `key` is `value`, as `model`, or None."""
        async with self.engine.connect() as conn:
            found = _read(model, await conn.execute(select(*_columns(table, model)).where(table.c[key] == value)))
        return found[0] if found else None

    async def team(self, team_id: str) -> Team | None:
        return await self._one(Team, db.teams, "team_id", team_id)

    async def member(self, staff_id: str) -> StaffMember | None:
        return await self._one(StaffMember, db.staff, "staff_id", staff_id)

    async def trainings_of(self, staff_id: str) -> list[Training]:
        t = db.trainings
        async with self.engine.connect() as conn:
            return _read(Training, await conn.execute(select(*_columns(t, Training)).where(t.c.staff_id == staff_id)
                                                      .order_by(t.c.course)))

    async def collectors(self, country: str, region: str, course: str, on: date, need: int) -> list[str]:
        """Up to `need` active collectors who cover the place (`same_region`) and hold `course` unexpired
        on `on` (`trained`), by staff id; fewer when the registry has fewer."""
        if need <= 0:
            return []
        s, t = db.staff, db.trainings
        held = exists().where(t.c.staff_id == s.c.staff_id, t.c.course == course, t.c.expires_on >= on)
        query = (select(s.c.staff_id, s.c.country, s.c.region)
                 .where(s.c.role == StaffRole.COLLECTOR.value, s.c.active, s.c.country == country.strip().upper(),
                        held)
                 .order_by(s.c.staff_id))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [r.staff_id for r in rows if same_region(r.country, r.region, country, region)][:need]

    async def supervisor_of(self, staff_id: str) -> str | None:
        """Their team's supervisor; None for someone unknown, or who supervises their own team (a
        complaint against a person never goes to that person)."""
        s, teams = db.staff, db.teams
        async with self.engine.connect() as conn:
            boss = await conn.scalar(select(teams.c.supervisor_id).join(s, s.c.team_id == teams.c.team_id)
                                     .where(s.c.staff_id == staff_id))
        return None if boss == staff_id else boss

    async def roster(self, team_id: str | None = None) -> list[tuple[StaffMember, list[Training]]]:
        """Staff by team and id, each with their trainings by course: a screen's rows."""
        s, t = db.staff, db.trainings
        people = select(*_columns(s, StaffMember)).order_by(s.c.team_id, s.c.staff_id)
        courses = select(*_columns(t, Training)).join(s, s.c.staff_id == t.c.staff_id).order_by(t.c.course)
        if team_id is not None:
            people, courses = people.where(s.c.team_id == team_id), courses.where(s.c.team_id == team_id)
        async with self.engine.connect() as conn:
            members = _read(StaffMember, await conn.execute(people))
            held = _read(Training, await conn.execute(courses))
        return [(m, [tr for tr in held if tr.staff_id == m.staff_id]) for m in members]

    # --- conduct investigations -------------------------------------------------------------------

    async def open_investigation(self, inv: Investigation) -> bool:
        """Written once per investigation id (a retried activity writes nothing more); True when this
        call wrote it. The stored row is the one `investigation` reads back."""
        stmt = (insert(db.investigations).values(**inv.model_dump())
                .on_conflict_do_nothing(index_elements=["investigation_id"]))
        async with self.engine.begin() as conn:
            return (await conn.execute(stmt)).rowcount == 1

    async def investigation(self, investigation_id: str) -> Investigation | None:
        return await self._one(Investigation, db.investigations, "investigation_id", investigation_id)

    async def close_investigation(self, investigation_id: str, finding: str, by: str, at: datetime) -> bool:
        """Closed once, with its finding; False when unknown or closed already (the first finding stands)."""
        if not finding.strip():
            raise ValueError("an investigation closes with its finding")
        i = db.investigations
        stmt = (update(i).where(i.c.investigation_id == investigation_id, i.c.closed_at.is_(None))
                .values(closed_at=at, finding=finding, closed_by=_STAFF_ID.validate_python(by)))
        async with self.engine.begin() as conn:
            return (await conn.execute(stmt)).rowcount == 1

    async def investigations(self, open_only: bool = True, supervisor_id: str | None = None) -> list[Investigation]:
        """By deadline, soonest first."""
        i = db.investigations
        query = select(*_columns(i, Investigation)).order_by(i.c.due_at, i.c.investigation_id)
        if open_only:
            query = query.where(i.c.closed_at.is_(None))
        if supervisor_id is not None:
            query = query.where(i.c.supervisor_id == supervisor_id)
        async with self.engine.connect() as conn:
            return _read(Investigation, await conn.execute(query))
