"""`duecourse`: one command for the starter's verbs and the tools beside them.

    duecourse start examples/low_risk_pays.json      # the starter's verbs: start, bulk, status, pay, ...
    duecourse pay EX-1001 250.00 --ref BANK-778
    duecourse replay tests/golden                    # replay histories against the code (replay.py)
    duecourse timeline EX-1001 --html case.html      # one case's history, readable (timeline.py)
    duecourse audit compliance-report                # hash chains and rules broken (audit.py)
    duecourse retention [--apply]                    # closed cases past their records retention
    duecourse report --out report                    # the portfolio report (report.py; docs/kpis.md)
    duecourse train                                  # the propensity model from the ledger (train.py)
    duecourse <verb> --help

Installed by `pip install .` as a console script (`[project.scripts]`); `python cli.py` works the same.
Each verb runs the code of the script it comes from, with the same arguments and exit codes. This
module only dispatches: entry points import no other entry point, so it loads them by module name
when a verb asks for one.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from collections.abc import Sequence

TOOLS = {  # verb -> (module whose `async main(argv) -> int` runs it, help)
    "replay": ("replay", "replay case histories against the current code, before a deploy"),
    "timeline": ("timeline", "one case's history as a readable timeline (text or HTML)"),
    "audit": ("audit", "verify the journal's hash chains and list every rule broken"),
    "registry": ("registry", "the staff registry: load teams, staff and training; show them; investigations"),
    "report": ("report", "the portfolio report as HTML and CSV: KPIs, champion and challengers, model, early warning"),
    "train": ("train", "train the propensity model on the ledger's outcomes; writes a versioned artifact"),
}
STARTER = "starter"  # the starter's verbs, parsed and run by starter.py's own code
RETENTION = ("retention", "list closed cases past their records retention that hold personal data; "
             "--apply erases it")  # no script of its own: run here, on the service layer


def parser() -> argparse.ArgumentParser:
    """Every verb, for `duecourse --help` and for parsing the starter's verbs."""
    p = argparse.ArgumentParser(prog="duecourse", description="DueCourse: start and drive cases, replay, "
                                "read a case's timeline, audit. `duecourse <verb> --help` for a verb's options.")
    sub = p.add_subparsers(dest="verb", required=True, metavar="verb")
    importlib.import_module(STARTER).add_verbs(sub)
    for verb, (_, text) in TOOLS.items():
        sub.add_parser(verb, help=text, add_help=False)  # parsed by the tool itself
    sub.add_parser(RETENTION[0], help=RETENTION[1], add_help=False)  # parsed by `retention`
    return p


def _case_id(text: str) -> str:
    from domain.values import CASE_ID_PATTERN

    if not CASE_ID_PATTERN.match(text):
        raise argparse.ArgumentTypeError(f"not a case id: {text!r} (1-64 of letters, digits, '_', '-', '.')")
    return text


async def retention(argv: Sequence[str]) -> int:
    """`duecourse retention`: the closed cases whose records retention has ended and that still hold
    personal data; with --apply, erase it. Reads DATABASE_URL only: it never guesses which ledger to
    erase in. Exit codes: 0 done (or nothing due), 2 bad input or no ledger."""
    from datetime import UTC, datetime

    from sqlalchemy.exc import DBAPIError

    from adapters.db import make_engine
    from adapters.ledger import Ledger
    from service import retention as rules
    from settings import Settings, database_problem

    p = argparse.ArgumentParser(prog="duecourse retention", description=RETENTION[1].capitalize() + ". "
                                "What is erased and what is kept: docs/retention.md.")
    p.add_argument("--apply", action="store_true", help="erase it (one transaction per case) and say what was erased")
    p.add_argument("--case", dest="cases", action="append", type=_case_id, metavar="ID",
                   help="only this case (repeatable)")
    args = p.parse_args(list(argv))
    url = Settings().database_url
    if not url:
        print("duecourse retention: DATABASE_URL is not set: set it to the ledger's postgresql:// URL", file=sys.stderr)
        return 2
    now, engine = datetime.now(UTC), make_engine(url, pool_size=2)
    try:
        ledger = Ledger(engine)
        found = await rules.scan(ledger, now, args.cases)
        erased = await rules.erase(ledger, now, [c.case_id for c in found.due]) if args.apply and found.due else []
    except (OSError, DBAPIError) as e:
        print(f"duecourse retention: cannot read the ledger at DATABASE_URL: {database_problem(e)}", file=sys.stderr)
        return 2
    finally:
        await engine.dispose()
    day = f"{now:%Y-%m-%d %H:%M} UTC"
    if args.apply:
        print(f"Erased the personal data of {len(erased)} case(s) at {day}." if erased else
              f"Nothing to erase at {day}: no closed case holds personal data past its records retention.")
        for done in erased:
            what, r = ", ".join(f"{place} {n}" for place, n in sorted(done.erased.items())), done.retention
            print(f"  {done.case_id:24} {what}  ({r.pack}: {r.years} years, ended {r.ends:%Y-%m-%d})")
            if done.journal_plaintext:
                print(f"  {'':24} {done.journal_plaintext} personal field(s) of its journal were written before "
                      "sealing: the hash chain covers them as written, so they remain")
    elif not found.due:
        print(f"Nothing is due at {day}: no closed case holds personal data past its records retention.")
    else:
        print(f"Due at {day}: {len(found.due)} closed case(s) past their records retention hold personal data.\n")
        print(f"  {'case':24} {'closed at (UTC)':17} {'retention ended':16} {'packs (the longest period)':32} holds")
        for c in found.due:
            r, closed = c.retention, f"{c.closed_at.astimezone(UTC):%Y-%m-%d %H:%M}"
            packs = f"{', '.join(c.packs)} ({r.pack}: {r.years} years)"
            print(f"  {c.case_id:24} {closed:17} {r.ends:%Y-%m-%d}       {packs:32} {', '.join(sorted(c.held))}")
        print("\n`duecourse retention --apply` erases it; docs/retention.md says what is erased and what is kept.")
    for u in found.undecided:
        print(f"kept: case {u.case_id} ({', '.join(u.packs)}): {u.problem}", file=sys.stderr)
    named = {c.case_id for c in found.due} | {u.case_id for u in found.undecided}
    for case_id in args.cases or []:
        if case_id not in named:
            print(f"case {case_id} is not due: unknown, open, within its retention, or holding nothing",
                  file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in TOOLS:
        tool = importlib.import_module(TOOLS[args[0]][0])
        sys.exit(asyncio.run(tool.main(args[1:])))
    if args and args[0] == RETENTION[0]:
        sys.exit(asyncio.run(retention(args[1:])))
    sys.exit(importlib.import_module(STARTER).invoke(parser().parse_args(args)))


if __name__ == "__main__":
    main()
