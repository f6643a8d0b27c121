"""`duecourse report`: the portfolio report for a period, as one HTML page and one CSV per table.

    duecourse report --from 2026-10-01 --to 2026-12-01 --by segment,arm --out reports/2026-11
    duecourse report --model models/latest --simulated --champion champion --horizon 30

Reads DATABASE_URL (the ledger's database, migrated). Every figure, its formula and its source:
docs/kpis.md. Exit codes: 0 written, 2 bad input or no ledger to read.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError

from adapters.db import make_engine
from analytics import report as portfolio
from analytics.tables import GROUPS, group_names
from settings import Settings, database_problem

PROG = "duecourse report"


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def parser() -> argparse.ArgumentParser:
    today = datetime.now(UTC).date()
    p = argparse.ArgumentParser(prog=PROG, description="The portfolio report: inventory and roll rates, cure, "
                                "champion and challengers, contacts, money, plans, complaints, the guard, distress "
                                "and vulnerability, early warning, the propensity model. Definitions: docs/kpis.md.")
    p.add_argument("--from", dest="first", type=_date,
                   help="first day of the period, UTC (default: 90 days before --to)")
    p.add_argument("--to", dest="end", type=_date, default=today + timedelta(days=1),
                   help="day after the period's last, UTC: the period ends at its 00:00 (default: tomorrow)")
    p.add_argument("--by", action="append", default=[], metavar="GROUP[,GROUP]",
                   help=f"group the figures by any of: {', '.join(GROUPS)} (repeatable or comma-separated)")
    p.add_argument("--out", type=Path, default=Path("report"), help="folder for index.html and the CSV files")
    p.add_argument("--model", type=Path, metavar="DIR",
                   help="a trained model's folder (its card.json), or a models folder (its newest version)")
    p.add_argument("--simulated", action="store_true",
                   help="say at the top that the figures come from the borrower simulator, not real borrowers")
    p.add_argument("--champion", default="champion", help="the champion arm's name (default: champion)")
    p.add_argument("--horizon", type=int, default=30, metavar="DAYS",
                   help="cohort figures (cure, arms): what happened within this many days of a case's start")
    return p


async def main(argv: Sequence[str]) -> int:
    p = parser()
    args = p.parse_args(list(argv))
    try:
        first = args.first or args.end - timedelta(days=90)
        options = portfolio.Options(first=first, end=args.end, by=group_names(args.by), horizon_days=args.horizon,
                                    champion=args.champion, simulated=args.simulated)
        options.period  # noqa: B018  (checks that the period ends after it starts)
    except (ValueError, OverflowError) as e:
        p.error(str(e))
    if args.horizon < 1:
        p.error("--horizon must be at least 1 day")
    model = portfolio.model_folder(args.model) if args.model is not None else None
    if args.model is not None and model is None:
        print(f"{PROG}: no card.json in {args.model}, nor in a version folder inside it", file=sys.stderr)
        return 2
    options = replace(options, model_dir=model)
    url = Settings().database_url
    if not url:
        print(f"{PROG}: DATABASE_URL is not set: set it to the ledger's postgresql:// URL", file=sys.stderr)
        return 2
    engine = make_engine(url, pool_size=2)
    try:
        report = await portfolio.build(engine, options)
    except (OSError, DBAPIError) as e:
        print(f"{PROG}: cannot read the ledger at DATABASE_URL: {database_problem(e)}", file=sys.stderr)
        return 2
    except (ValueError, ValidationError) as e:  # the costs file or the model card
        print(f"{PROG}: {e}".splitlines()[0], file=sys.stderr)
        return 2
    finally:
        await engine.dispose()
    page = portfolio.write(report, args.out)
    print(f"Wrote {page} and {len(report.tables)} CSV files beside it ({report.options.period.label}).")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
