"""`python -m simulation`: the simulated portfolio, end to end, in one command (docs/steering.md).

Runs the portfolio through the real engine on the time-skipping server (embedded PostgreSQL unless
DATABASE_URL is set), trains the propensity model on its outcomes, and writes the portfolio report.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from adapters.codec import EncryptionCodec, new_key_line, parse_keys
from adapters.config_files import CONFIG_DIR, load_policy
from adapters.converter import encrypted
from adapters.db import make_engine
from adapters.registry import Registry
from analytics import propensity, report
from analytics.tables import group_names
from simulation.borrowers import portfolio
from simulation.run import Driver, clock_for, summary
from simulation.world import SimulatedProvider, World
from testkit import postgres, servers, staff
from worker import build_worker

HERE = Path(__file__).resolve().parent
log = logging.getLogger("duecourse.simulation")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m simulation", description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", type=int, default=5000, help="loans in the portfolio (default 5000)")
    p.add_argument("--seed", type=int, default=7, help="the same seed, the same portfolio (default 7)")
    p.add_argument("--tag", default="SIM", help="case ids are <tag>-<n> (default SIM): portfolios simulated one "
                   "after another into one ledger (--database-url) need different tags")
    p.add_argument("--days", type=int, default=100, help="days over which loans enter (default 100: the model "
                   "trains on the first third and is judged on the last)")
    p.add_argument("--after", type=int, default=35, help="days simulated after the last loan enters (default 35: "
                   "past the model's 30-day horizon)")
    p.add_argument("--out", type=Path, default=Path(".data/portfolio"), help="report, model and data (default "
                   ".data/portfolio)")
    p.add_argument("--database-url", default=None, help="a PostgreSQL server to use (default: embedded, in --out)")
    p.add_argument("--into-database", action="store_true", help="use --database-url's database itself (a "
                   "portfolio added to an earlier one), not a new database on its server")
    p.add_argument("--simulate-only", action="store_true", help="stop after the simulation (no training, no report)")
    p.add_argument("--by", action="append", default=[], metavar="GROUP",
                   help="group the report's figures by segment, strategy_arm, policy, team, country or currency")
    return p


def config_dir(out: Path) -> Path:
    """The shipped configuration, with the simulation's own trial (simulation/strategies.yaml)."""
    folder = out / "config"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(CONFIG_DIR, folder)
    shutil.copy(HERE / "strategies.yaml", folder / "strategies.yaml")
    return folder


async def simulate(args: argparse.Namespace) -> tuple[str, date, date]:
    """Run the portfolio; return the ledger's URL and the simulated period (first day, the day after the last)."""
    args.out.mkdir(parents=True, exist_ok=True)
    base = args.database_url or postgres.start_embedded(args.out / "postgres")
    url = (base if args.database_url and args.into_database else
           await asyncio.to_thread(postgres.create_database, base, f"portfolio_{uuid.uuid4().hex[:8]}"))
    await asyncio.to_thread(postgres.migrate, url)
    (args.out / "database_url").write_text(url + "\n", encoding="utf-8")
    engine = make_engine(url, pool_size=20)
    await Registry(engine).load(staff.registry(date.today()))
    folder = config_dir(args.out)
    converter = encrypted(EncryptionCodec(*parse_keys(new_key_line("sim-1"))))
    async with servers.time_skipping(converter) as env:
        first = await env.get_current_time()
        loans = portfolio(args.cases, args.seed, first, timedelta(days=args.days), tag=args.tag)
        now = [first]
        world = World(args.seed, clock_for(env, now))
        queue = f"sim-{uuid.uuid4().hex[:6]}"
        worker = build_worker(env.client, engine, SimulatedProvider(world), queue, folder,
                              max_cached_workflows=max(2000, args.cases))
        started = time.monotonic()
        async with worker:
            driver = Driver(env, queue, world, loans, folder, now=now)
            last = first + timedelta(days=args.days + args.after)
            tally = await driver.run(last)
            log.info("simulation done in %.0f s: %s", time.monotonic() - started, dict(tally.started))
            log.info("borrower actions: %s; refused: %s", dict(tally.actions), dict(tally.refused))
    for what, rows in (await summary(engine)).items():
        log.info("%s: %s", what, rows)
    await engine.dispose()
    return url, first.date(), last.date() + timedelta(days=1)


async def train_model(url: str, out: Path, first: date, days: int) -> Path:
    """The propensity model, trained on the portfolio's outcomes (the policy's horizon), into out/models. The
    split in time gives both sides as many cases: training takes cases whose horizon ended by the split, the
    held-out side those opened from it, so with loans entering over `days` it lies (days + horizon) / 2 in."""
    horizon = load_policy("standard").propensity.horizon.days
    split = datetime(first.year, first.month, first.day, tzinfo=UTC) + timedelta(days=(days + horizon) / 2)
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            trained = await propensity.train(conn, out / "models", horizon, split_at=split, simulated=True)
    finally:
        await engine.dispose()
    card = trained.card
    def auc(value: float | None) -> str:
        return f"{value:.3f}" if value is not None else "-"

    log.info("model %s: held-out AUC at assessment %s (scorecard %s), at every scoring moment %s (scorecard %s), "
             "on %d rows of %d cases; trained on %d rows of %d cases", card.version,
             auc(card.auc_model_at_assessment), auc(card.auc_scorecard_at_assessment), auc(card.auc_model),
             auc(card.auc_scorecard), card.n_test, trained.cases_test, card.n_train, trained.cases_train)
    return trained.directory


async def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    for noisy in ("temporalio", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    args = parser().parse_args(argv)
    url, first, end = await simulate(args)
    print(f"ledger: {url}")
    if args.simulate_only:
        return 0
    model = await train_model(url, args.out, first, args.days)
    print(f"model: {model}")
    engine = make_engine(url, pool_size=2)
    try:
        options = report.Options(first=first, end=end, by=group_names(args.by), model_dir=model, simulated=True)
        built = await report.build(engine, options)
    finally:
        await engine.dispose()
    page = report.write(built, args.out / "report")
    print(f"report: {page} (and {len(built.tables)} CSV files beside it)")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
