"""`duecourse`: one command for the starter's verbs and the tools beside them.

    duecourse start examples/low_risk_pays.json      # the starter's verbs: start, bulk, status, pay, ...
    duecourse pay EX-1001 250.00 --ref BANK-778
    duecourse replay tests/golden                    # replay histories against the code (replay.py)
    duecourse timeline EX-1001 --html case.html      # one case's history, readable (timeline.py)
    duecourse audit compliance-report                # hash chains and rules broken (audit.py)
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
}
STARTER = "starter"  # the starter's verbs, parsed and run by starter.py's own code


def parser() -> argparse.ArgumentParser:
    """Every verb, for `duecourse --help` and for parsing the starter's verbs."""
    p = argparse.ArgumentParser(prog="duecourse", description="DueCourse: start and drive cases, replay, "
                                "read a case's timeline, audit. `duecourse <verb> --help` for a verb's options.")
    sub = p.add_subparsers(dest="verb", required=True, metavar="verb")
    importlib.import_module(STARTER).add_verbs(sub)
    for verb, (_, text) in TOOLS.items():
        sub.add_parser(verb, help=text, add_help=False)  # parsed by the tool itself
    return p


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in TOOLS:
        tool = importlib.import_module(TOOLS[args[0]][0])
        sys.exit(asyncio.run(tool.main(args[1:])))
    sys.exit(importlib.import_module(STARTER).invoke(parser().parse_args(args)))


if __name__ == "__main__":
    main()
