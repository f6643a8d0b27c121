"""Drive a simulated portfolio through the real engine on the time-skipping server.

Loans enter over a span of simulated days (overdue ones as cases, ones falling due soon through early
warning); the real worker runs every case with the simulated borrowers as its channel provider; borrowers'
payments and agents' recorded outcomes arrive through the service layer, as the loan system's feed and the
desk's would. The clock moves in ticks: each tick starts what enters, does what borrowers planned, then lets
the server skip to the next tick, firing every case's timers in order on the way.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from domain import statement as statements
from domain.enums import ContactResult, Party
from domain.messages import ContactOutcome, Payment, PromiseRequest
from domain.money import in_minor_units
from service.cases import Cases, CaseServiceError
from service.early_warning import watch
from simulation.borrowers import SimLoan
from simulation.world import Action, World
from workflows.case import OverdueCase

log = logging.getLogger("duecourse.simulation")
AGENT = "agent-1"  # the registry's agent (testkit.staff) who records the simulated conversations


@dataclass
class Tally:
    """What the run did, for its summary line and its report's footnote."""

    started: Counter[str] = field(default_factory=Counter)
    actions: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)


def clock_for(env: WorkflowEnvironment, now: list[datetime]) -> callable:  # type: ignore[valid-type]
    """The world's clock: the activity's scheduled time inside an activity (server time), else the tick's."""
    def current() -> datetime:
        try:
            return activity.info().current_attempt_scheduled_time
        except RuntimeError:
            return now[0]
    return current


class Driver:
    def __init__(self, env: WorkflowEnvironment, queue: str, world: World, loans: list[SimLoan], config_dir: Path,
                 tick: timedelta = timedelta(hours=6), concurrency: int = 64, now: list[datetime] | None = None):
        self.env, self.client, self.queue, self.world = env, env.client, queue, world
        self.cases = Cases(env.client, queue)
        self.loans, self.config_dir, self.tick = loans, config_dir, tick
        self.gate = asyncio.Semaphore(concurrency)
        self.tally = Tally()
        self.upcoming: dict[str, str] = {}  # early-warning loans: case id -> warned | control | not_at_risk
        self.by_id = {loan.case.case_id: loan for loan in loans}
        self.now = now if now is not None else [datetime.min]  # shared with the world's clock

    async def run(self, until: datetime, progress_every: timedelta = timedelta(days=5)) -> Tally:
        now, pending, started, next_note = await self.env.get_current_time(), list(self.loans), time.monotonic(), None
        while now < until:
            entering = [loan for loan in pending if loan.enters_at <= now]
            pending = pending[len(entering):]
            await self._all(self._enter(loan) for loan in entering)
            await self._all(self._act(action, now) for action in self.world.due(now))
            if next_note is None or now >= next_note:
                log.info("simulated %s: %s started, %s actions, %.0f s", now.date(), sum(self.tally.started.values()),
                         sum(self.tally.actions.values()), time.monotonic() - started)
                next_note = now + progress_every
            await self._skip(now + self.tick)
            now = self.now[0] = await self.env.get_current_time()
        return self.tally

    async def _skip(self, until: datetime, tries: int = 5) -> None:
        """Let the server skip to `until`, firing every timer on the way. A busy test server can drop the
        connection mid-sleep (an HTTP/2 error): the client reconnects, and the sleep goes on from where the
        server's clock got to."""
        for attempt in range(1, tries + 1):
            try:
                now = await self.env.get_current_time()
                if now < until:
                    await self.env.sleep(until - now)
                return
            except RPCError as e:
                if attempt == tries:
                    raise
                log.warning("time-skipping server: %s; sleeping on (%d of %d)", e, attempt, tries)
                await asyncio.sleep(2 * attempt)

    async def _all(self, jobs) -> None:  # type: ignore[no-untyped-def]
        async def one(job) -> None:  # type: ignore[no-untyped-def]
            async with self.gate:
                await job
        await asyncio.gather(*(one(j) for j in jobs))

    async def _enter(self, loan: SimLoan) -> None:
        self.world.enter(loan)
        if not loan.upcoming:
            report = await self.cases.start(loan.case)
            self.tally.started[report.status] += 1
            return
        judged = await watch(self.client, self.queue, loan.case, None, self.config_dir)
        self.upcoming[loan.case.case_id] = judged.decision
        self.tally.started[f"early_warning_{judged.decision}"] += 1
        if judged.decision == "not_at_risk" and loan.case.case_id not in self.world.paid_on_time_planned:
            # nobody watched it: unpaid, the loan system sends it as overdue the day after its due date
            self.world.plan(loan.enters_at + timedelta(days=(loan.case.loan.due_date - loan.enters_at.date()).days + 1),
                            loan.case.case_id, "start")

    async def _act(self, action: Action, now: datetime) -> None:
        self.tally.actions[action.kind] += 1
        loan = self.by_id[action.case_id] if action.kind == "start" else None
        if loan is None and self.upcoming.get(action.case_id) == "not_at_risk":
            self.tally.actions["paid_on_time_unwatched"] += 1  # no workflow: the loan system saw it paid
            return
        try:
            if loan is not None:
                overdue = loan.case.model_copy(update={"loan": loan.case.loan.model_copy(update={"days_past_due": 1})})
                report = await self.cases.start(overdue)
                self.tally.started[f"overdue_after_due_{report.status}"] += 1
                self.upcoming[action.case_id] = "overdue"
                return
            # the case's own answer (as of its last activity), its statement drawn again for the server's day
            status = await self.cases.send(action.case_id, lambda h: h.query(OverdueCase.status))
            if status.stage.terminal:
                return
            if status.statement is not None:
                today = now.astimezone(ZoneInfo(status.statement.timezone)).date()
                status.balance = statements.again(status.statement, today).total
            if action.kind in ("pay", "pay_part"):
                amount = self._share(status.balance, action.share, status.currency)
                if amount > 0:
                    await self.cases.pay(action.case_id, Payment(amount=amount, paid_at=now,
                                                                 reference=f"SIM-{action.seq}"))
            elif action.kind == "outcome":
                await self._outcome(action, status.balance, status.currency, now)
        except CaseServiceError as e:
            self.tally.refused[f"{action.kind}: {type(e).__name__}"] += 1
            log.debug("refused: %s %s: %s", action.kind, action.case_id, e)

    async def _outcome(self, action: Action, balance: Decimal, currency: str, now: datetime) -> None:
        promise = None
        if action.promise_days:
            amount = self._share(balance, action.share, currency)
            if amount > 0:
                promise = PromiseRequest(amount=amount, due_date=(now + timedelta(days=action.promise_days)).date(),
                                         taken_by=AGENT)
        outcome = ContactOutcome(channel="agent_call", attempt_key=action.attempt_key, party=Party.RIGHT_PARTY,
                                 reason=action.reason, result=ContactResult.PROMISE if promise else ContactResult.NONE,
                                 promise=promise, duration_seconds=180, agent=AGENT, at=now)
        await self.cases.send(action.case_id, lambda h: h.execute_update(OverdueCase.record_contact_outcome, outcome))

    @staticmethod
    def _share(balance: Decimal, share: float, currency: str) -> Decimal:
        if share >= 1:
            return balance
        raw = (balance * Decimal(str(share))).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
        return in_minor_units(raw, currency, "amount", refuse=False)


SUMMARY = {
    "cases by stage": "SELECT stage, count(*) FROM cases GROUP BY stage ORDER BY 2 DESC",
    "payments (all, leaving nothing owed)": "SELECT count(*), count(*) FILTER (WHERE balance_after <= 0) FROM payments",
    "early warnings by group and outcome":
        'SELECT "group", outcome, count(*) FROM early_warnings GROUP BY 1, 2 ORDER BY 1, 2',
    "cases by arm": "SELECT strategy_arm, count(*) FROM cases GROUP BY 1 ORDER BY 1",
}


async def summary(engine: AsyncEngine) -> dict[str, list[tuple[object, ...]]]:
    """How the portfolio stands in the ledger (for the run's log)."""
    out = {}
    async with engine.connect() as conn:
        for what, sql in SUMMARY.items():
            out[what] = [tuple(row) for row in (await conn.execute(text(sql))).all()]
    return out
