"""Benchmark: N cases run their whole lifecycle on the dev server, side by side with a bare baseline.

    python -m loadtest.benchmark                          # N = 200, 1,000, 5,000; then 10,000 open cases
    python -m loadtest.benchmark --cases 200 --hold 0     # a quick look

Each N gets a fresh deployment (embedded Postgres, a file-backed dev server as `make run` starts it,
one worker process). Every case (policy `bench`) opens, is verified and assessed, gets its first
reminder, is paid in full two seconds after its start (the `record_payment` update, timed until
`status` shows it), passes through the relationship phase (reminders a second apart) and settles. The
baseline runs the same number of activities, timers and updates in a bare workflow with no logic and
no database.
Printed: cases/s, activities/s, update-to-status p50/p95, history events and bytes per case, worker
memory; the ratios to the baseline; then the worker's memory holding `--hold` open cases.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError

from domain.messages import Payment
from loadtest.bare import BareCase, Shape
from loadtest.stack import Stack
from service.cases import Cases, CaseServiceError
from testkit.cases import daytime_zone, numbered
from testkit.processes import Process
from testkit.servers import free_port
from workflows.case import OverdueCase

PAY_AFTER = 2.0  # seconds after its start each case is paid in full
CONCURRENCY = 64  # cases being started or paid at once by this driver


@dataclass
class Result:
    label: str
    cases: int
    seconds: float
    activities: int
    latencies: list[float] = field(default_factory=list)
    events: float = 0
    bytes: float = 0
    rss_peak: float = 0
    shape: Shape | None = None
    unpaid: int = 0  # payments refused or unanswered in time: should be none

    @property
    def cases_per_s(self) -> float:
        return self.cases / self.seconds

    @property
    def activities_per_s(self) -> float:
        return self.activities / self.seconds

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")

    def line(self) -> str:
        return (f"{self.label:<9} N={self.cases:<6} {self.seconds:7.1f} s  {self.cases_per_s:7.2f} cases/s  "
                f"{self.activities_per_s:7.1f} activities/s  update→status p50 {self.pct(0.5):6.0f} ms "
                f"p95 {self.pct(0.95):6.0f} ms  {self.events:5.0f} events {self.bytes / 1024:6.1f} KiB/case  "
                f"worker peak {self.rss_peak:6.0f} MiB" + (f"  ({self.unpaid} payments failed)" if self.unpaid else ""))


def activities_done(metrics_url: str) -> int:
    """Activities completed by the worker, from the SDK's Prometheus metrics."""
    text = httpx.get(metrics_url, timeout=10).text
    return int(sum(float(m) for m in re.findall(
        r"^temporal_activity_execution_latency(?:_seconds)?_count\{[^}]*\} (\S+)$", text, re.M)))


async def drive(client: Client, label: str, ids: list[str], start, pay, done_query: str,
                worker: Process, metrics_url: str) -> Result:
    """Start every case, pay each PAY_AFTER seconds after its start, wait until none is running."""
    gate = asyncio.Semaphore(CONCURRENCY)
    latencies: list[float] = []
    failed: list[str] = []
    peak = 0.0

    async def one(workflow_id: str) -> None:
        async with gate:
            await start(workflow_id)
        started = time.monotonic()
        await asyncio.sleep(max(0.0, PAY_AFTER - (time.monotonic() - started)))
        async with gate:
            try:
                latencies.append(await pay(workflow_id))
            except (CaseServiceError, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError, RPCError):
                failed.append(workflow_id)  # refused, or no answer in time: counted, not timed

    before = activities_done(metrics_url)
    t0 = time.monotonic()
    await asyncio.gather(*(one(i) for i in ids))
    while (await client.count_workflows(done_query)).count > 0:
        peak = max(peak, worker.rss_mib())
        await asyncio.sleep(0.5)
    seconds = time.monotonic() - t0
    await asyncio.sleep(1.5)  # the metrics endpoint refreshes about once a second
    result = Result(label, len(ids), seconds, activities_done(metrics_url) - before, latencies,
                    rss_peak=max(peak, worker.rss_mib()), unpaid=len(failed))
    histories = [(await client.get_workflow_handle(i).fetch_history()).events for i in ids[:: max(1, len(ids) // 50)]]
    result.events = statistics.mean(len(h) for h in histories)
    result.bytes = statistics.mean(sum(e.ByteSize() for e in h) for h in histories)
    result.shape = shape_of(histories)
    return result


def shape_of(histories: Sequence[Sequence[Any]]) -> Shape:
    """The mean case of the sample: its activities, timers and their mean duration."""
    acts = [sum(e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED for e in h) for h in histories]
    timers = []  # the timers that fired (a wait cut short by a message is no timer's cost)
    for h in histories:
        started = {e.event_id: e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta().total_seconds()
                   for e in h if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED}
        timers.append([started[e.timer_fired_event_attributes.started_event_id]
                       for e in h if e.event_type == EventType.EVENT_TYPE_TIMER_FIRED])
    durations = [d for t in timers for d in t]
    return Shape(activities=round(statistics.mean(acts)), timers=round(statistics.mean(len(t) for t in timers)),
                 timer_seconds=statistics.mean(durations) if durations else 0)


async def run_cases(n: int, base: Path, zone: str, cache: int) -> tuple[Result, Shape]:
    stack = Stack(base / f"cases-{n}")
    try:
        await asyncio.to_thread(stack.start_postgres)
        stack.start_temporal()
        port = free_port()
        worker = stack.add_worker("bench", METRICS_ADDRESS=f"127.0.0.1:{port}", WORKER_CACHE=str(cache))
        client = await stack.client()
        await asyncio.sleep(2)  # the worker polling
        case_service = Cases(client, "bench")

        async def start(workflow_id: str) -> None:
            number = int(workflow_id.rsplit("-", 1)[1])
            await case_service.start(numbered(number, tag=f"B{n}", policy="bench", timezone=zone))

        async def pay(workflow_id: str) -> float:
            case_id = workflow_id.removeprefix("case-")
            t = time.monotonic()
            await case_service.pay(case_id, Payment(
                amount=Decimal("3000.00"), paid_at=datetime.now(UTC), reference=f"PAY-{workflow_id}"))
            while (await case_service.status(case_id)).total_paid < Decimal("3000.00"):
                await asyncio.sleep(0.01)
            return time.monotonic() - t

        ids = [f"case-B{n}-{i:06d}" for i in range(n)]
        result = await drive(client, "DueCourse", ids, start, pay,
                             'WorkflowType="OverdueCase" AND ExecutionStatus="Running"', worker,
                             f"http://127.0.0.1:{port}/metrics")
        outcome = await client.get_workflow_handle_for(OverdueCase.run, ids[-1]).result()
        assert outcome.stage.value == "settled", outcome
        assert result.shape is not None
        return result, result.shape
    finally:
        stack.stop()


async def run_baseline(n: int, shape: Shape, base: Path, cache: int) -> Result:
    stack = Stack(base / f"bare-{n}")
    try:
        stack.start_temporal()
        port = free_port()
        worker = stack.add_worker("bare", [sys.executable, "-m", "loadtest.bare"], METRICS_ADDRESS=f"127.0.0.1:{port}",
                                  WORKER_CACHE=str(cache))
        client = await stack.client()
        await asyncio.sleep(2)

        async def start(workflow_id: str) -> None:
            await client.start_workflow(BareCase.run, shape, id=workflow_id, task_queue="bare")

        async def pay(workflow_id: str) -> float:
            handle = client.get_workflow_handle_for(BareCase.run, workflow_id)
            t = time.monotonic()
            await handle.execute_update(BareCase.pay, "3000.00")
            while not await handle.query(BareCase.status):
                await asyncio.sleep(0.01)
            return time.monotonic() - t

        ids = [f"bare-{n}-{i:06d}" for i in range(n)]
        return await drive(client, "baseline", ids, start, pay,
                           'WorkflowType="BareCase" AND ExecutionStatus="Running"', worker,
                           f"http://127.0.0.1:{port}/metrics")
    finally:
        stack.stop()


async def hold_open(m: int, base: Path, zone: str) -> list[tuple[int, float]]:
    """Start m cases that open and wait a week on a timer; the worker's memory as they accumulate."""
    stack = Stack(base / f"hold-{m}")
    readings = []
    try:
        await asyncio.to_thread(stack.start_postgres)
        stack.start_temporal()
        worker = stack.add_worker("hold")
        client = await stack.client()
        await asyncio.sleep(3)
        readings.append((0, worker.rss_mib()))
        gate = asyncio.Semaphore(CONCURRENCY)
        case_service = Cases(client, "hold")

        async def start(i: int) -> None:
            async with gate:
                await case_service.start(numbered(i, tag=f"H{m}", policy="hold", timezone=zone))

        async def waiting() -> int:
            return (await client.count_workflows('CaseStage="remote_contact"')).count

        marks = sorted({x for x in (100, 1000, 2000, 5000, 10000, m) if x <= m})
        done = 0
        for mark in marks:
            for batch in range(done, mark, 200):  # at most ~400 cases opening at once: the rest wait
                while batch - await waiting() > 200:
                    await asyncio.sleep(0.5)
                await asyncio.gather(*(start(i) for i in range(batch, min(batch + 200, mark))))
            done = mark
            while await waiting() < mark:
                await asyncio.sleep(1)
            await asyncio.sleep(2)
            readings.append((mark, worker.rss_mib()))
            print(f"  {mark:>6} open cases waiting on timers: worker {readings[-1][1]:.0f} MiB", flush=True)
        return readings
    finally:
        stack.stop()


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.benchmark", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, nargs="*", default=[200, 1000, 5000], help="N for each run (none: skip)")
    parser.add_argument("--hold", type=int, default=10000, help="open cases to hold on one worker (0: skip)")
    parser.add_argument("--data", type=Path, help="where the deployments live (default: a temporary folder)")
    parser.add_argument("--cache", type=int, default=1000, help="the worker's WORKER_CACHE (cases kept in memory)")
    args = parser.parse_args(argv)
    base = args.data or Path(tempfile.mkdtemp(prefix="duecourse-bench-"))
    zone = daytime_zone()
    print(f"machine: {platform.machine()}, {platform.processor() or '?'}, Python {platform.python_version()}, "
          f"{os.cpu_count()} cores; cases in {zone}", flush=True)
    for n in args.cases:
        ours, shape = await run_cases(n, base, zone, args.cache)
        print(ours.line(), flush=True)
        bare = await run_baseline(n, shape, base, args.cache)
        print(bare.line(), flush=True)
        print(f"{'ratio':<9} N={n:<6} cases/s {ours.cases_per_s / bare.cases_per_s:.2f}, activities/s "
              f"{ours.activities_per_s / bare.activities_per_s:.2f} (a case: {shape.activities} activities, "
              f"{shape.timers} timers of {shape.timer_seconds:.1f} s mean, 1 update)", flush=True)
    if args.hold:
        readings = await hold_open(args.hold, base, zone)
        idle = readings[0][1]
        for mark, rss in readings[1:]:
            print(f"hold      {mark:>6} open cases: worker {rss:.0f} MiB ({(rss - idle) * 1024 / mark:.1f} KiB "
                  f"per case above the idle {idle:.0f} MiB)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
