"""The staff registry from the command line: load teams, staff and training from a file, see who is
where with what training, and the conduct investigations supervisors owe.

    duecourse registry load config/registry.yaml        # upsert the file (again: changes nothing)
    duecourse registry show [--team cn-field-zhejiang]  # staff, roles, regions, languages, training
    duecourse registry investigations [--all] [--supervisor sup-cn-1]

Reads DATABASE_URL (the ledger's database, migrated). Exit codes: 0 done, 2 bad input (an invalid file,
an unknown team) or no database to use.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path

import yaml
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError

from adapters.db import make_engine
from adapters.ledger import Ledger
from adapters.registry import Registry
from domain.enums import Stage
from domain.errors import explain
from domain.registry import RegistryFile, StaffMember, Team, Training, supervises
from settings import Settings, database_problem

PROG = "duecourse registry"


class BadInput(Exception):
    """Something the person running the command can fix; said in one line."""


def read_file(path: Path) -> RegistryFile:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise BadInput(f"cannot read {path}: {e.strerror or e}") from None
    except yaml.YAMLError as e:
        raise BadInput(f"{path} is not valid YAML: {e}") from None
    try:
        return RegistryFile.model_validate(data if data is not None else {})
    except ValidationError as e:
        raise BadInput(f"{path} is not a valid registry: {explain(e)}") from None


def _training(t: Training, today: date) -> str:
    return f"{t.course} until {t.expires_on:%Y-%m-%d}" + (" EXPIRED" if t.expires_on < today else "")


def roster_text(teams: list[Team], roster: list[tuple[StaffMember, list[Training]]], today: date) -> str:
    """A team per block, a person per line, training marked EXPIRED against `today`."""
    lines: list[str] = []
    for team in teams:
        members = [(m, held) for m, held in roster if m.team_id == team.team_id]
        where = f"{team.country} {team.region}".strip()
        boss = f", supervisor {team.supervisor_id}" if team.supervisor_id else ""
        lines.append(f"{team.team_id} ({team.kind}, {where}{boss}): {len(members)} staff")
        for m, held in members:
            place = f"{m.country} {m.region or '(whole country)'}"
            status = "" if m.active else " (inactive)"
            trained = "; ".join(_training(t, today) for t in held) or "no training"
            lines.append(f"  {m.staff_id:20} {m.role.value:10} {place:24} {','.join(m.languages) or '-':12} "
                         f"{trained}{status}")
    return "\n".join(lines)


async def _run(registry: Registry, args: argparse.Namespace, file: RegistryFile | None) -> str:
    if file is not None:
        await registry.load(file)
        return (f"Loaded {len(file.teams)} team(s), {len(file.staff)} staff member(s) and {len(file.trainings)} "
                f"training record(s) from {args.file}.")
    if args.verb == "show":
        teams = [t for t in await registry.teams() if args.team in (None, t.team_id)]
        if args.team is not None and not teams:
            raise BadInput(f"no team {args.team!r} in the registry")
        if not teams:
            return f"The registry is empty: `{PROG} load FILE.yaml` fills it."
        return roster_text(teams, await registry.roster(args.team), date.today())
    if args.verb == "close-investigation":  # a case already closed can no longer close its task
        await _may_close(registry, args.investigation_id, args.by)
        try:
            closed = await registry.close_investigation(args.investigation_id, args.finding, args.by, datetime.now(UTC))
        except ValueError as e:
            raise BadInput(str(e).splitlines()[0]) from None
        if not closed:
            raise BadInput(f"no open investigation {args.investigation_id!r}")
        return f"Investigation {args.investigation_id} closed by {args.by}."
    found = await registry.investigations(open_only=not args.all, supervisor_id=args.supervisor)
    now = datetime.now(UTC)
    lines = [f"{len(found)} {'' if args.all else 'open '}investigation(s)"
             + (f" for supervisor {args.supervisor}" if args.supervisor else "") + ":"]
    for inv in found:
        state = (f"closed {inv.closed_at:%Y-%m-%d} by {inv.closed_by}: {inv.finding}" if inv.closed_at else
                 "OVERDUE" if inv.overdue(now) else "open")
        lines.append(f"  {inv.investigation_id:32} case {inv.case_id:16} staff {inv.staff_id:14} "
                     f"supervisor {inv.supervisor_id or '(none)':14} due {inv.due_at.astimezone(UTC):%Y-%m-%d %H:%M}Z "
                     f"{state}")
    return "\n".join(lines)


async def _may_close(registry: Registry, investigation_id: str, by: str) -> None:
    """The case's own rules (`complete_task`): its owner closes it, never its subject; and only here once
    the case has closed (an open case closes it with its task, so the two never disagree)."""
    found = await registry.investigation(investigation_id)
    if found is None or not found.open:
        raise BadInput(f"no open investigation {investigation_id!r}")
    if by == found.staff_id:
        raise BadInput(f"{by} is the staff member investigated: someone else closes it")
    if found.supervisor_id is not None and by != found.supervisor_id:
        raise BadInput(f"only {found.supervisor_id}, who investigates, closes it")
    if found.supervisor_id is None and not supervises(await registry.member(by)):
        raise BadInput(f"{by} is no supervisor or manager in the registry")
    status = await Ledger(registry.engine).case_status(found.case_id)
    if status is not None and not Stage(status["stage"]).terminal:
        raise BadInput(f"case {found.case_id} is open: close it there (`complete_task`), not here")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="verb", required=True, metavar="verb")
    load = sub.add_parser("load", help="upsert teams, staff and training from a YAML file (see config/registry.yaml)")
    load.add_argument("file", type=Path, metavar="FILE.yaml")
    show = sub.add_parser("show", help="staff by team: role, region, languages, training (EXPIRED marked)")
    show.add_argument("--team", help="only this team")
    inv = sub.add_parser("investigations", help="open conduct investigations, overdue ones marked")
    inv.add_argument("--all", action="store_true", help="closed ones too, with their finding")
    inv.add_argument("--supervisor", metavar="STAFF_ID", help="only this supervisor's")
    close = sub.add_parser("close-investigation", help="close one whose case has closed (else: the case's "
                           "complete_task)")
    close.add_argument("investigation_id"), close.add_argument("--by", required=True, metavar="STAFF_ID")
    close.add_argument("--finding", required=True, help="what was found, without the borrower's personal data "
                       "(the registry keeps it unsealed)")
    return p


async def main(argv: Sequence[str]) -> int:
    args = parser().parse_args(list(argv))
    try:
        file = read_file(args.file) if args.verb == "load" else None  # checked before any database is asked
    except BadInput as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 2
    url = Settings().database_url
    if not url:
        print(f"{PROG}: DATABASE_URL is not set: set it to the ledger's postgresql:// URL", file=sys.stderr)
        return 2
    engine = make_engine(url, pool_size=1)
    try:
        print(await _run(Registry(engine), args, file))
    except BadInput as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 2
    except (OSError, DBAPIError) as e:
        print(f"{PROG}: cannot use the registry at DATABASE_URL: {database_problem(e)}", file=sys.stderr)
        return 2
    finally:
        await engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
