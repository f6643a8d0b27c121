"""The baseline: a bare workflow with a case's number of activities, timers and payment update, and
no business logic and no database. What this machine's Temporal can do at best, for the ratio.

    python -m loadtest.bare [--cache N ...]     # its worker (TEMPORAL_ADDRESS, TASK_QUEUE, PAYLOAD_KEYS)
"""

from __future__ import annotations

import asyncio
import signal
import sys
from datetime import timedelta

from pydantic import BaseModel
from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.worker import Worker


class Shape(BaseModel):
    activities: int
    timers: int
    timer_seconds: float


@activity.defn
async def step(n: int) -> int:
    return n


@workflow.defn
class BareCase:
    def __init__(self) -> None:
        self.paid = False

    @workflow.run
    async def run(self, shape: Shape) -> int:
        every = max(1, shape.activities // max(shape.timers, 1))
        timers = 0
        for n in range(shape.activities):
            await workflow.execute_activity(step, n, start_to_close_timeout=timedelta(seconds=30),
                                            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)))
            if n % every == every - 1 and timers < shape.timers:
                timers += 1
                await workflow.sleep(shape.timer_seconds)
        await workflow.wait_condition(lambda: self.paid)
        return timers

    @workflow.update
    async def pay(self, amount: str) -> str:
        self.paid = True
        return amount

    @workflow.query
    def status(self) -> bool:
        return self.paid


async def main(argv: list[str]) -> None:
    from loadtest.tuning import WorkerTuning
    from settings import Settings, connect

    tuning = WorkerTuning.parse(argv)
    settings = Settings()
    client = await connect(settings)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    async with Worker(client, task_queue=settings.task_queue, workflows=[BareCase], activities=[step],
                      **tuning.options()):
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
