"""Fault drill: cases run while their worker is killed with SIGKILL again and again, the Temporal dev
server restarts (state in its file), PostgreSQL restarts, and PostgreSQL is down for a while.

    python -m loadtest.faults                       # 500 cases, PostgreSQL down for 60 s
    python -m loadtest.faults --cases 50 --outage 10

Afterwards every case must be in its correct terminal state (never-paying cases escalated after
exactly their schedule's contacts, paying ones settled), the contact ledger must hold exactly one row
per intended contact and the gateway exactly one message per row (nothing sent twice), the
compliance check must find no violation, and the worker must never have crashed on its own.
`tests/test_faults.py` runs a smaller drill in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import text
from temporalio.client import Client, WorkflowUpdateFailedError

from adapters.config_files import load_policy
from adapters.db import make_engine
from adapters.ledger import Ledger
from domain.enums import Stage
from domain.messages import Payment
from loadtest.stack import Stack
from service.cases import Cases, UpdateRejected
from service.compliance import compliance_report
from testkit.cases import daytime_zone, numbered
from testkit.operators import approve_handoffs
from workflows.case import OverdueCase

QUEUE = "drill"
PROFILES = {  # case number % 3 → (profile, pays, terminal stage)
    0: ("low_risk", False, Stage.ESCALATED),
    1: ("high_risk", False, Stage.ESCALATED),
    2: ("low_risk", True, Stage.SETTLED),
}


@dataclass
class DrillReport:
    cases: int = 0
    stages: Counter = field(default_factory=Counter)
    wrong_stage: list[str] = field(default_factory=list)
    attempts: int = 0
    messages: int = 0
    duplicate_messages: int = 0
    unsent_attempts: int = 0
    wrong_contact_count: list[str] = field(default_factory=list)
    violations: int = 0
    handoffs_approved: int = 0  # never-paying cases ask a person before their hand-off
    worker_kills: int = 0
    worker_crashes: int = 0
    server_restarts: int = 0
    postgres_restarts: int = 0
    outage_seconds: float = 0
    seconds: float = 0

    @property
    def passed(self) -> bool:
        return not (self.wrong_stage or self.duplicate_messages or self.unsent_attempts or self.wrong_contact_count
                    or self.violations or self.worker_crashes or self.attempts != self.messages)

    def text(self) -> str:
        return "\n".join([
            f"{self.cases} cases in {self.seconds:.0f} s: "
            + ", ".join(f"{n} {s}" for s, n in sorted(self.stages.items())),
            f"faults: worker killed {self.worker_kills}×, dev server restarted {self.server_restarts}×, "
            f"PostgreSQL restarted {self.postgres_restarts}× and down {self.outage_seconds:.0f} s once; "
            f"hand-offs a person approved: {self.handoffs_approved}",
            f"contact ledger {self.attempts} rows, gateway {self.messages} messages, "
            f"{self.duplicate_messages} sent twice, {self.unsent_attempts} never completed",
            f"wrong terminal stage: {len(self.wrong_stage)}; "
            f"wrong number of contacts: {len(self.wrong_contact_count)}; "
            f"compliance violations: {self.violations}; worker crashes on its own: {self.worker_crashes}",
            "PASS" if self.passed else "FAIL",
        ])


async def _retrying(what: Callable, attempts: int = 600):
    """Calls from this driver ride out the faults too (the server or its port may be gone a while);
    a case's own answer (an update it refused) is final."""
    for n in range(attempts):
        try:
            return await what()
        except (UpdateRejected, WorkflowUpdateFailedError):
            raise
        except Exception:
            if n == attempts - 1:
                raise
            await asyncio.sleep(0.5)


async def drill(data: Path, cases: int = 500, outage: float = 60, say: Callable[[str], None] = print,
                timeout: float = 1800) -> DrillReport:
    report = DrillReport(cases=cases)
    stack = Stack(data)
    t0 = time.monotonic()
    try:
        await asyncio.to_thread(stack.start_postgres)
        stack.start_temporal()
        worker = stack.add_worker(QUEUE)
        client = await stack.client()
        zone = daytime_zone()
        policy = load_policy("drill", stack.config)
        plan = {f"F-{n:06d}": PROFILES[n % 3] for n in range(cases)}
        case_service = Cases(client, QUEUE)

        gate = asyncio.Semaphore(32)

        async def run_case(n: int) -> None:
            profile, pays, _ = PROFILES[n % 3]
            # Never-paying cases run the whole fast schedule; paying ones wait minutes between
            # reminders, so their payment finds them open however long the faults delay it.
            case = numbered(n, tag="F", policy="bench" if pays else "drill", timezone=zone, profile=profile)
            async with gate:
                await _retrying(lambda: case_service.start(case))
            if pays:
                await asyncio.sleep(3)
                async with gate:
                    await _retrying(lambda: case_service.pay(case.case_id, Payment(
                        amount=Decimal("3000.00"), paid_at=datetime.now(UTC), reference=f"DRILL-{n}")))

        async def watch_worker(stop: asyncio.Event) -> None:
            """A worker that exits when nobody killed it has crashed: count it, start it again."""
            while not stop.is_set():
                if not worker.alive():
                    report.worker_crashes += 1
                    say("  the worker exited on its own: restarting it")
                    worker.start()
                await asyncio.sleep(0.2)

        async def faults() -> None:
            async def kill_worker() -> None:
                worker.restart()
                report.worker_kills += 1
                say(f"  kill -9 the worker ({report.worker_kills})")

            await asyncio.sleep(4)
            await kill_worker()
            await asyncio.sleep(4)
            say("  restart the Temporal dev server")
            stack.temporal.restart()
            report.server_restarts += 1
            await asyncio.sleep(5)
            await kill_worker()
            await asyncio.sleep(4)
            say("  restart PostgreSQL")
            await asyncio.to_thread(stack.stop_postgres)
            await asyncio.to_thread(stack.restart_postgres)
            report.postgres_restarts += 1
            await asyncio.sleep(4)
            await kill_worker()
            await asyncio.sleep(3)
            say(f"  PostgreSQL down for {outage:.0f} s")
            down = time.monotonic()
            await asyncio.to_thread(stack.stop_postgres)
            await asyncio.sleep(outage)
            await asyncio.to_thread(stack.restart_postgres)
            report.outage_seconds = time.monotonic() - down
            say("  PostgreSQL back")
            await asyncio.sleep(3)
            await kill_worker()

        stop = asyncio.Event()
        watcher = asyncio.create_task(watch_worker(stop))
        supervisor = asyncio.create_task(approve_handoffs(client, case_service, stop))
        say(f"{cases} cases start; faults begin")
        await asyncio.gather(faults(), *(run_case(n) for n in range(cases)))
        say("faults over; waiting for every case to finish")
        deadline = time.monotonic() + timeout
        while (await _retrying(lambda: client.count_workflows(
                'WorkflowType="OverdueCase" AND ExecutionStatus="Running"'))).count:
            if time.monotonic() > deadline:
                raise TimeoutError("cases still running after the drill's timeout")
            await asyncio.sleep(1)
        stop.set()
        await watcher
        report.handoffs_approved = await supervisor
        report.seconds = time.monotonic() - t0
        await check(client, stack, plan, policy, report)
        return report
    finally:
        stack.stop()


async def check(client: Client, stack: Stack, plan: dict, policy, report: DrillReport) -> None:
    for case_id, (_, _, expected) in plan.items():
        outcome = await client.get_workflow_handle_for(OverdueCase.run, f"case-{case_id}").result()
        report.stages[outcome.stage.value] += 1
        if outcome.stage is not expected:
            report.wrong_stage.append(case_id)
    engine = make_engine(stack.database_url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(text(
                "SELECT a.case_id, a.idempotency_key, a.outcome, a.channel, count(m.id) AS sent "
                "FROM contact_attempts a "
                "LEFT JOIN sandbox_messages m ON m.idempotency_key = a.idempotency_key "
                "GROUP BY a.case_id, a.idempotency_key, a.outcome, a.channel"))).all()
            report.messages = (await conn.execute(text("SELECT count(*) FROM sandbox_messages"))).scalar_one()
        report.attempts = len(rows)
        report.duplicate_messages = sum(r.sent > 1 for r in rows)
        report.unsent_attempts = sum(r.sent == 0 or r.outcome == "pending" for r in rows)
        per_case = Counter(r.case_id for r in rows if r.channel != "letter")  # the schedule's, not the notices
        for case_id, (profile, pays, _) in plan.items():
            if not pays and per_case[case_id] != len(policy.segments[profile].schedule):
                report.wrong_contact_count.append(case_id)
        ledger = Ledger(engine)
        audit = await compliance_report(ledger)
        report.violations = len(audit.violations) + len(audit.broken)
    finally:
        await engine.dispose()


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.faults", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--outage", type=float, default=60, help="seconds PostgreSQL stays down")
    parser.add_argument("--data", type=Path)
    args = parser.parse_args(argv)
    data = args.data or Path(tempfile.mkdtemp(prefix="duecourse-faults-"))
    report = await drill(data, args.cases, args.outage, lambda m: print(f"{time.strftime('%H:%M:%S')} {m}", flush=True))
    print(report.text())
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
