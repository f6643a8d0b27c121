"""The minimal design of a benchmark case's business behaviour, the truer baseline for DueCourse.

One activity per business side effect, and nothing else: load the case's configuration, verify its
contact data, each contact DueCourse makes (the first reminder, the credit-health reminders after the
payment), and the payment; the same timers (the wait for the next scheduled contact, cut short by
the payment; the reminders' interval) and the same `record_payment`-style update, answered once the
payment's activity has written it. Each activity does comparable real work: one INSERT into a scratch
table (`minimal_effects`, a unique idempotency key per effect, as every ledger row has) in PostgreSQL,
through `adapters.db.make_engine` (the ledger's engine settings). No journal, no guard, no search
attributes, no bookkeeping, no status row.

    python -m loadtest.minimal [--cache N ...]  # its worker (TEMPORAL_ADDRESS, TASK_QUEUE, DATABASE_URL, PAYLOAD_KEYS)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from temporalio import activity, workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import AsyncEngine

SCRATCH = """CREATE TABLE IF NOT EXISTS minimal_effects (
    id bigserial PRIMARY KEY, case_id text NOT NULL, kind text NOT NULL, idempotency_key text NOT NULL UNIQUE,
    data jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"""
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                    maximum_interval=timedelta(minutes=1))
WEEK = 7 * 24 * 3600.0


class MinimalPlan(BaseModel):
    """The case's business shape, as the DueCourse run of the same benchmark measured it."""

    first_contact_after: float = 0  # seconds; a week for the open cases that wait (memory, scale)
    contacts: int = 1  # in all: the schedule's first ones until the payment, the rest reminders after it
    contacts_before_payment: int = 1
    contact_gap: float = 600  # the next scheduled contact, unless the payment comes first
    reminder_interval: float = 1  # between the credit-health reminders after the payment


class MinimalStart(BaseModel):
    case_id: str
    plan: MinimalPlan


class Effect(BaseModel):
    case_id: str
    kind: str
    key: str
    data: dict[str, Any] = {}


class MinimalActivities:
    def __init__(self, engine: AsyncEngine):
        self.engine = engine

    async def _write(self, effect: Effect) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(text(
                "INSERT INTO minimal_effects (case_id, kind, idempotency_key, data) "
                "VALUES (:case_id, :kind, :key, CAST(:data AS jsonb)) ON CONFLICT (idempotency_key) DO NOTHING"),
                {"case_id": effect.case_id, "kind": effect.kind, "key": effect.key,
                 "data": json.dumps(effect.data)})

    @activity.defn(name="minimal_load_config")
    async def load_config(self, effect: Effect) -> dict[str, Any]:
        await self._write(effect)
        return {"policy": "bench", "schedule": ["sms"], "window": ["08:00", "20:00"]}

    @activity.defn(name="minimal_verify")
    async def verify(self, effect: Effect) -> bool:
        await self._write(effect)
        return True

    @activity.defn(name="minimal_contact")
    async def contact(self, effect: Effect) -> str:
        await self._write(effect)
        return "delivered"

    @activity.defn(name="minimal_payment")
    async def payment(self, effect: Effect) -> str:
        await self._write(effect)
        return "recorded"

    def all(self) -> list[Any]:
        return [self.load_config, self.verify, self.contact, self.payment]


@workflow.defn
class MinimalCase:
    def __init__(self) -> None:
        self.opened = False
        self.paid = False
        self.total_paid = "0.00"
        self.seq = 0
        self.case_id = ""

    def _effect(self, case_id: str, kind: str, **data: Any) -> Effect:
        self.seq += 1
        return Effect(case_id=case_id, kind=kind, key=f"{case_id}:{kind}:{self.seq}", data=data)

    async def _act(self, fn: Any, effect: Effect) -> Any:
        return await workflow.execute_activity_method(fn, effect, start_to_close_timeout=timedelta(seconds=30),
                                                      retry_policy=RETRY)

    @workflow.run
    async def run(self, start: MinimalStart) -> str:
        self.case_id = case_id = start.case_id
        plan = start.plan
        await self._act(MinimalActivities.load_config, self._effect(case_id, "config"))
        await self._act(MinimalActivities.verify, self._effect(case_id, "verify"))
        self.opened = True
        if plan.first_contact_after:
            await self._wait_paid(plan.first_contact_after)
        made = 0
        while made < min(plan.contacts, plan.contacts_before_payment) and not self.paid:
            await self._act(MinimalActivities.contact, self._effect(case_id, "contact", n=made))
            made += 1
            await self._wait_paid(plan.contact_gap)
        await workflow.wait_condition(lambda: self.paid)
        while made < plan.contacts:
            await workflow.sleep(plan.reminder_interval)
            await self._act(MinimalActivities.contact, self._effect(case_id, "contact", n=made))
            made += 1
        return "settled"

    async def _wait_paid(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(lambda: self.paid, timeout=seconds)

    @workflow.update
    async def pay(self, amount: str) -> str:
        await workflow.wait_condition(lambda: self.opened)
        await self._act(MinimalActivities.payment, self._effect(self.case_id, "payment", amount=amount))
        self.paid, self.total_paid = True, amount
        return amount

    @workflow.query
    def status(self) -> str:
        return self.total_paid


async def main(argv: list[str]) -> None:
    from temporalio.worker import Worker

    from adapters.db import make_engine
    from loadtest.tuning import WorkerTuning
    from settings import Settings, connect

    tuning = WorkerTuning.parse(argv)
    settings = Settings()
    engine = make_engine(settings.require_database_url())
    async with engine.begin() as conn:
        await conn.execute(text(SCRATCH))
    client = await connect(settings)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    async with Worker(client, task_queue=settings.task_queue, workflows=[MinimalCase],
                      activities=MinimalActivities(engine).all(), **tuning.options()):
        await stop.wait()
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
