"""Benchmark of issue #12: DueCourse beside the minimal design of the same business behaviour and a
bare same-shape workflow, on this machine, printed as figures and ratios measured in the same run.

    python -m loadtest.benchmark                      # every experiment, then the targets' table
    python -m loadtest.benchmark --only compare       # N = 200 and 1,000: three designs side by side
    python -m loadtest.benchmark --only memory        # memory per cached case, three designs
    python -m loadtest.benchmark --only table         # the targets' table from the saved figures

Experiments (`--only` takes several): `tune` (worker settings tried at N = 300), `compare`, `big`
(N = 200 then N = 5,000 through the backpressured starter, one worker), `burst` (1,000 cases as
`starter.py bulk` sends them: time to first contact, status reads meanwhile), `memory`, `hold`
(open cases waiting on timers, as many as fit in `--hold-budget`), `two-workers` (N = 5,000, two
worker processes, CPU per process). Each gets fresh deployments (embedded PostgreSQL, the file-backed
dev server as `make run` starts it, worker processes with the same settings for every design). Every
experiment saves its figures to `--results`; the targets' table at the end of every run is built
from that file, each figure with the time of the run that measured it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import psutil
from sqlalchemy import text
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy

from adapters.db import make_engine
from adapters.ledger import Ledger
from domain.messages import Payment
from loadtest import profile, report
from loadtest.actions import billable_actions
from loadtest.bare import BareCase, Shape
from loadtest.minimal import WEEK, MinimalCase, MinimalPlan, MinimalStart
from loadtest.stack import Stack
from loadtest.tuning import WorkerTuning
from service.backpressure import DEFAULT_MAX_BACKLOG, Backpressure
from service.bulk import start_bulk
from service.cases import Cases
from testkit.cases import daytime_zone, numbered
from testkit.processes import Process
from testkit.servers import free_port

ROOT = Path(__file__).resolve().parent.parent
PAY_AFTER = 2.0  # seconds after its start each case is paid in full
CONCURRENCY = 64  # starts (and, separately, payments) in flight from this driver at once
POLL = 0.02  # seconds between status reads while waiting for a payment to show
SHOW_TIMEOUT = 120.0  # a payment not shown by then counts as failed
CONTACTS = {"send_sms", "place_robot_call", "create_agent_call_task", "dispatch_visit"}
# The worker settings chosen from `--only tune` (docs/benchmarks.md), used unless saved `tune` figures
# choose again: ten concurrent activities, one per connection of the ledger's pool (the SDK's 100 wait
# for connections while their timeouts run), 50 concurrent workflow tasks, 4 + 4 pollers.
CHOSEN = WorkerTuning(cache=1000, workflow_tasks=50, activities=10, workflow_polls=4, activity_polls=4)
TRIALS = {
    "SDK defaults": WorkerTuning(cache=1000),
    "20 tasks, 20 activities, 2+2 pollers": WorkerTuning(cache=1000, workflow_tasks=20, activities=20,
                                                          workflow_polls=2, activity_polls=2),
    "50 tasks, 10 activities, 4+4 pollers": WorkerTuning(cache=1000, workflow_tasks=50, activities=10,
                                                          workflow_polls=4, activity_polls=4),
}
KINDS = ("DueCourse", "minimal", "bare")
WORKFLOW_TYPES = {"DueCourse": "OverdueCase", "minimal": "MinimalCase", "bare": "BareCase"}


def say(message: str) -> None:
    print(message, flush=True)


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


# --- processes and their cost -------------------------------------------------------------------


class CpuSampler:
    """CPU seconds used by each group of processes (the dev server, the workers, PostgreSQL, this
    driver) while it runs, sampled every `every` seconds so short-lived children count too."""

    def __init__(self, groups: dict[str, Callable[[], list[int]]], every: float = 2.0):
        self.groups, self.every = groups, every
        self.first: dict[tuple[str, int], float] = {}
        self.last: dict[tuple[str, int], float] = {}
        self.t0 = self.t1 = time.monotonic()
        self._task: asyncio.Task[None] | None = None

    def _sample(self, initial: bool = False) -> None:
        for group, pids in self.groups.items():
            for pid in pids():
                try:
                    proc = psutil.Process(pid)
                    t = proc.cpu_times()
                    used = t.user + t.system
                except psutil.Error:
                    continue
                key = (group, pid)
                if key not in self.first:
                    self.first[key] = used if initial else 0.0
                self.last[key] = used
        self.t1 = time.monotonic()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            await asyncio.to_thread(self._sample)

    def start(self) -> None:
        self._sample(initial=True)
        self.t0 = time.monotonic()
        self._task = asyncio.create_task(self._run())

    def stop(self) -> dict[str, float]:
        """Cores used on average by each group (1.0 = one core busy throughout)."""
        if self._task:
            self._task.cancel()
        self._sample()
        wall = max(self.t1 - self.t0, 1e-9)
        cores: dict[str, float] = dict.fromkeys(self.groups, 0.0)
        for (group, pid), used in self.last.items():
            cores[group] = cores.get(group, 0.0) + (used - self.first[(group, pid)]) / wall
        return {g: round(cores[g], 2) for g in self.groups}


def tree(proc: Process | None) -> list[int]:
    if proc is None or proc.proc is None or not proc.alive():
        return []
    try:
        p = psutil.Process(proc.proc.pid)
        return [p.pid, *(c.pid for c in p.children(recursive=True))]
    except psutil.Error:
        return []


def postgres_pids(pgdata: Path | None) -> list[int]:
    if pgdata is None:
        return []
    pidfile = pgdata / "postmaster.pid"
    try:
        postmaster = psutil.Process(int(pidfile.read_text().split()[0]))
        return [postmaster.pid, *(c.pid for c in postmaster.children(recursive=True))]
    except (OSError, ValueError, psutil.Error):
        return []


def activities_done(urls: Iterable[str]) -> int:
    """Activities completed by the workers, from the SDK's Prometheus metrics."""
    total = 0.0
    for url in urls:
        text_ = httpx.get(url, timeout=10).text
        total += sum(float(m) for m in re.findall(
            r"^temporal_activity_execution_latency(?:_seconds)?_count\{[^}]*\} (\S+)$", text_, re.M))
    return int(total)


def sdk_metrics(urls: Iterable[str]) -> dict[str, float]:
    """The workers' cache and queueing, from the SDK's metrics: summed over workers (cache size and
    evictions, sticky hits and misses) or averaged (schedule-to-start, ms)."""
    totals: dict[str, float] = {}
    for url in urls:
        for name, value in re.findall(r"^temporal_(\w+)\{[^}]*\} (\S+)$", httpx.get(url, timeout=10).text, re.M):
            totals[name] = totals.get(name, 0.0) + float(value)
    out = {k: totals.get(f"sticky_cache_{k}", 0.0) for k in ("size", "total_forced_eviction", "hit", "miss")}
    for kind in ("workflow_task", "activity"):
        count = totals.get(f"{kind}_schedule_to_start_latency_count") or 1.0
        out[f"{kind}_schedule_to_start_ms"] = round(totals.get(f"{kind}_schedule_to_start_latency_sum", 0.0) / count)
    return out


# --- a deployment of one design ---------------------------------------------------------------


@dataclass
class Deployment:
    kind: str
    stack: Stack
    client: Client
    queue: str
    workers: list[Process]
    metrics: list[str]
    engine: Any = None
    zone: str = ""
    tag: str = ""
    plan: MinimalPlan = field(default_factory=MinimalPlan)
    shape: Shape | None = None
    policy: str = "bench"
    cases: Cases | None = None  # DueCourse: status by query unless `ledger_cases`
    ledger_cases: Cases | None = None  # DueCourse: status from the ledger's case row

    @property
    def workflow_type(self) -> str:
        return WORKFLOW_TYPES[self.kind]

    def workflow_id(self, key: str) -> str:
        return f"case-{key}" if self.kind == "DueCourse" else key

    def key(self, n: int) -> str:
        return f"{self.tag}-{n:06d}"

    async def start(self, key: str) -> None:
        n = int(key.rsplit("-", 1)[1])
        if self.kind == "DueCourse":
            assert self.cases is not None
            await self.cases.start(numbered(n, tag=self.tag, policy=self.policy, timezone=self.zone))
        elif self.kind == "minimal":
            await self.client.start_workflow(MinimalCase.run, MinimalStart(case_id=key, plan=self.plan), id=key,
                                             task_queue=self.queue,
                                             id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE)
        else:
            assert self.shape is not None
            await self.client.start_workflow(BareCase.run, self.shape, id=key, task_queue=self.queue,
                                             id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE)

    async def pay(self, key: str) -> None:
        if self.kind == "DueCourse":
            assert self.cases is not None
            await self.cases.pay(key, Payment(amount=Decimal("3000.00"), paid_at=datetime.now(UTC),
                                              reference=f"PAY-{key}"))
        elif self.kind == "minimal":
            await self.client.get_workflow_handle_for(MinimalCase.run, key).execute_update(MinimalCase.pay, "3000.00")
        else:
            await self.client.get_workflow_handle_for(BareCase.run, key).execute_update(BareCase.pay, "3000.00")

    async def paid_by_query(self, key: str) -> bool:
        if self.kind == "DueCourse":
            assert self.cases is not None
            return (await self.cases.status(key, fresh=True)).total_paid >= Decimal("3000.00")
        if self.kind == "minimal":
            handle = self.client.get_workflow_handle_for(MinimalCase.run, key)
            return await handle.query(MinimalCase.status) == "3000.00"
        return await self.client.get_workflow_handle_for(BareCase.run, key).query(BareCase.status)

    async def paid_in_ledger(self, key: str) -> bool:
        assert self.ledger_cases is not None
        return (await self.ledger_cases.status(key)).total_paid >= Decimal("3000.00")

    async def running(self) -> int:
        return (await self.client.count_workflows(
            f'WorkflowType="{self.workflow_type}" AND ExecutionStatus="Running"')).count

    def rss(self) -> float:
        return sum(w.rss_mib() for w in self.workers)

    def sampler(self) -> CpuSampler:
        return CpuSampler({
            "dev server": lambda: tree(self.stack.temporal),
            "workers": lambda: [p for w in self.workers for p in tree(w)],
            "postgres": lambda: postgres_pids(self.stack.pgdata),
            "driver": lambda: [os.getpid()],
        })

    async def close(self) -> None:
        if self.engine is not None:
            await self.engine.dispose()
        self.stack.stop()


async def deploy(kind: str, data: Path, tuning: WorkerTuning, *, workers: int = 1, tag: str = "B",
                 zone: str = "") -> Deployment:
    stack = Stack(data)
    queue = {"DueCourse": "bench", "minimal": "minimal", "bare": "bare"}[kind]
    try:
        if kind != "bare":
            await asyncio.to_thread(stack.start_postgres)
        stack.start_temporal()
        module = {"DueCourse": "loadtest.tuned", "minimal": "loadtest.minimal", "bare": "loadtest.bare"}[kind]
        procs, urls = [], []
        for _ in range(workers):
            port = free_port()
            procs.append(stack.add_worker(queue, [sys.executable, "-m", module, *tuning.argv()],
                                          METRICS_ADDRESS=f"127.0.0.1:{port}"))
            urls.append(f"http://127.0.0.1:{port}/metrics")
        client = await stack.client()
        dep = Deployment(kind, stack, client, queue, procs, urls, zone=zone, tag=tag)
        if kind == "DueCourse":
            dep.engine = make_engine(stack.database_url, pool_size=5)
            dep.cases = Cases(client, queue)
            dep.ledger_cases = Cases(client, queue, Ledger(dep.engine))
        elif kind == "minimal":
            dep.engine = make_engine(stack.database_url, pool_size=5)
        for _ in range(120):  # the workers polling (their metrics endpoint answers once they run)
            try:
                activities_done(urls)
                break
            except httpx.HTTPError:
                await asyncio.sleep(0.5)
        await asyncio.sleep(2)
        return dep
    except BaseException:
        stack.stop()
        raise


# --- driving N cases through their lifecycle ----------------------------------------------------


@dataclass
class Run:
    kind: str
    cases: int
    seconds: float
    activities: int
    finished: bool = True
    closed: int = 0
    update: list[float] = field(default_factory=list)  # seconds until the update answered
    by_query: list[float] = field(default_factory=list)  # until the `status` query showed it
    by_ledger: list[float] = field(default_factory=list)  # until the ledger's case row showed it
    failed: int = 0
    failed_starts: int = 0
    events: float = 0
    actions: float = 0
    action_kinds: dict[str, float] = field(default_factory=dict)
    activity_types: dict[str, float] = field(default_factory=dict)
    bytes: float = 0
    rss_idle: float = 0
    rss_peak: float = 0
    cpu: dict[str, float] = field(default_factory=dict)
    profile: dict[str, Any] = field(default_factory=dict)
    sdk: dict[str, float] = field(default_factory=dict)
    waited: float = 0  # seconds starters waited on backpressure, in all

    @property
    def cases_per_s(self) -> float:
        return self.closed / self.seconds

    @property
    def activities_per_s(self) -> float:
        return self.activities / self.seconds

    def figures(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "n": self.cases, "seconds": round(self.seconds, 1), "finished": self.finished,
            "closed": self.closed, "cases_per_s": round(self.cases_per_s, 3),
            "activities_per_s": round(self.activities_per_s, 1),
            "update_p50": round(pct(self.update, 0.5), 3), "update_p95": round(pct(self.update, 0.95), 3),
            "status_p50": round(pct(self.by_query, 0.5), 3), "status_p95": round(pct(self.by_query, 0.95), 3),
            "ledger_p50": round(pct(self.by_ledger, 0.5), 3), "ledger_p95": round(pct(self.by_ledger, 0.95), 3),
            "failed": self.failed, "failed_starts": self.failed_starts, "events": round(self.events, 1),
            "actions": round(self.actions, 1),
            "action_kinds": self.action_kinds, "activity_types": self.activity_types,
            "kib": round(self.bytes / 1024, 1), "rss_idle": round(self.rss_idle), "rss_peak": round(self.rss_peak),
            "cpu": self.cpu, "backpressure_wait_s": round(self.waited, 1), "profile": self.profile,
            "sdk": self.sdk,
        }

    def line(self) -> str:
        f = self.figures()
        ledger = f" ledger {f['ledger_p50'] * 1000:.0f}/{f['ledger_p95'] * 1000:.0f}" if self.by_ledger else ""
        return (f"{self.kind:<9} N={self.cases:<5} {self.seconds:6.1f} s {self.cases_per_s:6.2f} cases/s "
                f"{self.activities_per_s:6.1f} act/s | update p50/p95 {f['update_p50'] * 1000:5.0f}/"
                f"{f['update_p95'] * 1000:5.0f} ms, →status(query) {f['status_p50'] * 1000:5.0f}/"
                f"{f['status_p95'] * 1000:5.0f} ms{ledger} | {self.events:5.1f} events {self.actions:5.1f} actions "
                f"{f['kib']:5.1f} KiB | worker {self.rss_idle:.0f}→{self.rss_peak:.0f} MiB | cpu {self.cpu}"
                + (f" | {self.failed} payments failed" if self.failed else "")
                + ("" if self.finished else f" | DID NOT FINISH: {self.closed} of {self.cases} closed"))


async def poll(check: Callable[[], Awaitable[bool]], t0: float) -> float:
    deadline = t0 + SHOW_TIMEOUT
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError("the payment did not show")
        await asyncio.sleep(POLL)
    return time.monotonic() - t0


async def sample_worker(dep: Deployment, after: float, seconds: int, out: Path) -> dict[str, Any]:
    """A py-spy profile of the (first) worker, `after` seconds from now, summed up by category."""
    await asyncio.sleep(after)
    worker = dep.workers[0].proc
    if worker is None or (spy := profile.record(worker.pid, seconds, out)) is None:
        return {}
    await asyncio.to_thread(spy.wait)
    if not out.exists():
        return {}
    samples, shares = profile.share(out.read_text())
    return {"samples": samples, "seconds": seconds, "after": after,
            "busy": round(samples / (profile.RATE * seconds), 2), "share": shares}


async def drive(dep: Deployment, n: int, timeout: float, spy: Path | None = None) -> Run:
    """Start n cases through the backpressured starter, pay each PAY_AFTER s after its start, time
    the update and until each status path shows it, and wait (at most `timeout`) until none runs."""
    pressure = Backpressure(dep.client, dep.queue, DEFAULT_MAX_BACKLOG)
    starting, paying = asyncio.Semaphore(CONCURRENCY), asyncio.Semaphore(CONCURRENCY)
    run = Run(dep.kind, n, 0, 0, rss_idle=dep.rss())
    keys = [dep.key(i) for i in range(n)]

    async def one(key: str) -> None:
        async with starting:
            try:
                await pressure.admit()
                await dep.start(key)
            except Exception:
                run.failed_starts += 1
                return
        await asyncio.sleep(PAY_AFTER)
        async with paying:
            t0 = time.monotonic()
            try:
                await dep.pay(key)
                run.update.append(time.monotonic() - t0)
                checks = [poll(lambda: dep.paid_by_query(key), t0)]
                if dep.ledger_cases is not None:
                    checks.append(poll(lambda: dep.paid_in_ledger(key), t0))
                shown = await asyncio.gather(*checks)
                run.by_query.append(shown[0])
                if len(shown) > 1:
                    run.by_ledger.append(shown[1])
            except Exception:  # refused, or not answered or shown in time: counted, not timed
                run.failed += 1

    before = activities_done(dep.metrics)
    cpu = dep.sampler()
    cpu.start()
    t0 = time.monotonic()
    deadline = t0 + timeout
    driver = asyncio.gather(*(one(k) for k in keys))
    profiling = asyncio.create_task(sample_worker(dep, 10, 30, spy)) if spy and dep.kind == "DueCourse" else None
    while True:
        await asyncio.sleep(1)
        run.rss_peak = max(run.rss_peak, dep.rss())
        if time.monotonic() > deadline:
            driver.cancel()
            run.finished = False
            break
        if driver.done() and await dep.running() == 0:
            break
    run.seconds = time.monotonic() - t0
    run.cpu = cpu.stop()
    if profiling is not None:
        run.profile = await profiling
    run.waited = pressure.waited
    with_suppressed(driver)
    run.closed = n - run.failed_starts - await dep.running()
    await asyncio.sleep(1.5)  # the metrics endpoint refreshes about once a second
    run.activities = activities_done(dep.metrics) - before
    run.sdk = sdk_metrics(dep.metrics)
    sample = keys[:: max(1, n // 50)]
    histories = [(await dep.client.get_workflow_handle(dep.workflow_id(k)).fetch_history()).events for k in sample]
    run.events = statistics.mean(len(h) for h in histories)
    run.bytes = statistics.mean(sum(e.ByteSize() for e in h) for h in histories)
    counted = [billable_actions(h) for h in histories]
    run.actions = statistics.mean(sum(c.values()) for c in counted)
    run.action_kinds = {k: round(sum(c[k] for c in counted) / len(counted), 2)
                        for k in sorted({k for c in counted for k in c})}
    types = [Counter(e.activity_task_scheduled_event_attributes.activity_type.name for e in h
                     if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) for h in histories]
    run.activity_types = {k: round(sum(t[k] for t in types) / len(types), 2)
                          for k in sorted({k for t in types for k in t})}
    if dep.kind == "DueCourse":
        dep.shape, dep.plan = shape_of(histories), plan_of(histories)
    return run


def with_suppressed(task: asyncio.Future[Any]) -> None:
    if task.done() and not task.cancelled():
        task.exception()


def shape_of(histories: Sequence[Sequence[Any]]) -> Shape:
    """The bare workflow's shape: the mean case's activities, fired timers and their mean duration."""
    acts = [sum(e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED for e in h) for h in histories]
    timers = []
    for h in histories:
        started = {e.event_id: e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta().total_seconds()
                   for e in h if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED}
        timers.append([started[e.timer_fired_event_attributes.started_event_id]
                       for e in h if e.event_type == EventType.EVENT_TYPE_TIMER_FIRED])
    durations = [d for t in timers for d in t]
    return Shape(activities=round(statistics.mean(acts)), timers=round(statistics.mean(len(t) for t in timers)),
                 timer_seconds=statistics.mean(durations) if durations else 0)


def plan_of(histories: Sequence[Sequence[Any]]) -> MinimalPlan:
    """The minimal design's plan: as many contacts as DueCourse's mean case made, the first at once."""
    contacts = [sum(e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
                    and e.activity_task_scheduled_event_attributes.activity_type.name in CONTACTS for e in h)
                for h in histories]
    return MinimalPlan(contacts=max(1, round(statistics.mean(contacts))))


# --- the experiments --------------------------------------------------------------------------


@dataclass
class Context:
    base: Path
    zone: str
    tuning: WorkerTuning
    results: dict[str, Any]
    path: Path
    spy: bool = False

    def spy_file(self, name: str) -> Path | None:
        return self.base / f"{name}.pyspy.txt" if self.spy else None

    def save(self, part: str, figures: Any) -> None:
        self.results[part] = {"at": datetime.now(UTC).isoformat(timespec="seconds"), "tuning": self.tuning.label(),
                              "load": round(os.getloadavg()[0], 1),
                              "figures": figures}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.results, indent=1, default=str))


async def three_designs(ctx: Context, n: int, timeout: float) -> dict[str, dict[str, Any]]:
    """DueCourse, then the minimal design with DueCourse's measured plan, then the bare shape."""
    out: dict[str, dict[str, Any]] = {}
    plan, shape = MinimalPlan(), None
    for kind in KINDS:
        dep = await deploy(kind, ctx.base / f"{kind}-{n}", ctx.tuning, tag=f"{kind[0]}{n}", zone=ctx.zone)
        try:
            dep.plan = plan
            dep.shape = shape
            run = await drive(dep, n, timeout, ctx.spy_file(f"compare-{n}"))
            if kind == "DueCourse":
                plan, shape = dep.plan, dep.shape
            say(run.line())
            out[kind] = run.figures()
        finally:
            await dep.close()
    say(f"  (a case: minimal plan {plan.model_dump()}, bare shape {shape.model_dump() if shape else None})")
    d, m = out["DueCourse"], out["minimal"]
    say(f"  DueCourse/minimal N={n}: events {d['events'] / m['events']:.2f}, "
        f"actions {d['actions'] / m['actions']:.2f}, cases/s {d['cases_per_s'] / m['cases_per_s']:.2f}, "
        f"activities/s {d['activities_per_s'] / m['activities_per_s']:.2f}, "
        f"update→status p95 {d['status_p95'] / m['status_p95']:.2f}, worker peak {d['rss_peak'] / m['rss_peak']:.2f}")
    out["plan"], out["shape"] = plan.model_dump(), shape.model_dump() if shape else {}
    return out


async def compare(ctx: Context, sizes: Sequence[int]) -> None:
    say(f"== compare: DueCourse, minimal, bare at N = {', '.join(map(str, sizes))} ({ctx.tuning.label()})")
    ctx.save("compare", {str(n): await three_designs(ctx, n, timeout=1200) for n in sizes})


async def tune(ctx: Context, n: int = 300) -> None:
    say(f"== tune: DueCourse at N = {n} under each worker setting")
    figures: dict[str, Any] = {}
    for label, tuning in TRIALS.items():
        dep = await deploy("DueCourse", ctx.base / f"tune-{len(figures)}", tuning, tag=f"T{len(figures)}",
                           zone=ctx.zone)
        try:
            run = await drive(dep, n, timeout=900)
        finally:
            await dep.close()
        say(f"  {label}: {run.line()}")
        figures[label] = run.figures()
    ctx.save("tune", figures)
    ctx.tuning = chosen(ctx.results, ctx.tuning)
    say(f"  chosen: {ctx.tuning.label()}")



def chosen(results: dict[str, Any], default: WorkerTuning) -> WorkerTuning:
    """The tried setting with the most cases/s (within 5% of it: the lowest update p95), else `default`."""
    trials = {label: f for label, f in results.get("tune", {}).get("figures", {}).items() if label in TRIALS}
    if not trials:
        return default
    best = max(f["cases_per_s"] for f in trials.values())
    near = [label for label, f in trials.items() if f["cases_per_s"] >= 0.95 * best]
    return TRIALS[min(near, key=lambda label: trials[label]["update_p95"])]


async def big(ctx: Context, n: int, workers: int, part: str) -> None:
    """One worker: N = 200, then N = n, in the same run (the ratio). Two workers: N = n alone, for where
    the CPU goes (time-boxed: the figures of the cases closed by then)."""
    sizes = (200, n) if workers == 1 else (n,)
    say(f"== {part}: DueCourse N = {', then N = '.join(map(str, sizes))}, {workers} worker process(es), "
        f"backpressured starter")
    figures = {}
    for size in sizes:
        dep = await deploy("DueCourse", ctx.base / f"{part}-{size}", ctx.tuning, workers=workers, tag=f"G{size}",
                           zone=ctx.zone)
        try:
            timeout = 600 if size <= 200 or workers > 1 else 1100
            run = await drive(dep, size, timeout=timeout, spy=ctx.spy_file(f"{part}-{size}"))
        finally:
            await dep.close()
        say(run.line())
        figures[str(size)] = run.figures()
    if "200" in figures:
        small, large = figures["200"], figures[str(n)]
        say(f"  N={n} / N=200 cases/s: {large['cases_per_s'] / small['cases_per_s']:.2f}; "
            f"finished: {large['finished']}")
    ctx.save(part, figures)


async def burst(ctx: Context, n: int) -> None:
    say(f"== burst: {n} cases as `starter.py bulk` sends them (32 at once, backpressure), DueCourse and minimal")
    figures = {}
    for kind in ("DueCourse", "minimal"):
        dep = await deploy(kind, ctx.base / f"burst-{kind}", ctx.tuning, tag=f"U{kind[0]}", zone=ctx.zone)
        try:
            figures[kind] = await one_burst(dep, n, ctx.base, ctx.spy_file("burst"))
        finally:
            await dep.close()
    d, m = figures["DueCourse"], figures["minimal"]
    say(f"  DueCourse/minimal time to first contact p95: {d['ttfc_p95'] / m['ttfc_p95']:.2f}")
    ctx.save("burst", figures)


async def one_burst(dep: Deployment, n: int, base: Path, spy: Path | None = None) -> dict[str, Any]:
    pressure = Backpressure(dep.client, dep.queue, DEFAULT_MAX_BACKLOG)
    keys = [dep.key(i) for i in range(n)]
    reads: list[float] = []
    fresh: list[float] = []
    fresh_failed = 0
    stop = asyncio.Event()
    t_wall, t0 = time.time(), time.monotonic()

    async def firsts() -> dict[str, datetime]:
        async with dep.engine.connect() as conn:
            if dep.kind == "DueCourse":
                rows = (await conn.execute(text(
                    "SELECT a.case_id, min(m.created_at) FROM contact_attempts a JOIN sandbox_messages m "
                    "ON m.idempotency_key = a.idempotency_key GROUP BY a.case_id"))).all()
            else:
                rows = (await conn.execute(text(
                    "SELECT case_id, min(created_at) FROM minimal_effects WHERE kind = 'contact' "
                    "GROUP BY case_id"))).all()
        return {r[0]: r[1] for r in rows}

    async def reader() -> None:
        """An operator reading cases while the burst runs: the ledger path, and now and then the query."""
        nonlocal fresh_failed
        rounds = 0
        while not stop.is_set():
            await asyncio.sleep(0.25)
            async with dep.engine.connect() as conn:
                case_id = await conn.scalar(text("SELECT case_id FROM cases ORDER BY random() LIMIT 1"))
            if case_id is None:
                continue
            assert dep.ledger_cases is not None and dep.cases is not None
            t = time.monotonic()
            await dep.ledger_cases.status(case_id)
            reads.append(time.monotonic() - t)
            rounds += 1
            if rounds % 4 == 0:
                t = time.monotonic()
                try:
                    await asyncio.wait_for(dep.cases.status(case_id, fresh=True), 30)
                    fresh.append(time.monotonic() - t)
                except Exception:
                    fresh_failed += 1

    async def start_minimal() -> None:
        gate = asyncio.Semaphore(32)

        async def one(key: str) -> None:
            async with gate:
                await pressure.admit()
                await dep.start(key)

        await asyncio.gather(*(one(k) for k in keys))

    cpu = dep.sampler()
    cpu.start()
    reading = asyncio.create_task(reader()) if dep.kind == "DueCourse" else None
    profiling = asyncio.create_task(sample_worker(dep, 15, 30, spy)) if spy and dep.kind == "DueCourse" else None
    if dep.kind == "DueCourse":
        path = base / "burst.jsonl"
        with path.open("w", encoding="utf-8") as f:
            for i in range(n):
                f.write(numbered(i, tag=dep.tag, policy="bench", timezone=dep.zone).model_dump_json() + "\n")
        assert dep.cases is not None
        starting: asyncio.Task[Any] = asyncio.create_task(start_bulk(dep.cases, path, concurrency=32,
                                                                      pressure=pressure))
    else:
        dep.plan = MinimalPlan(contacts=1)
        starting = asyncio.create_task(start_minimal())
    deadline, peak = t0 + 1200.0, 0.0
    while time.monotonic() < deadline:
        await asyncio.sleep(1)
        peak = max(peak, dep.rss())
        if starting.done() and len(await firsts()) >= n:
            break
    all_started = starting.done()
    seconds = time.monotonic() - t0
    stop.set()
    if reading:
        await reading
    cores = cpu.stop()
    profiled = await profiling if profiling is not None else {}
    first = await firsts()
    started = {}
    async for wf in dep.client.list_workflows(f'WorkflowType="{dep.workflow_type}"'):
        started[wf.id] = wf.start_time
    from_burst = [(at.timestamp() - t_wall) for at in first.values()]
    from_start = [(at - started[dep.workflow_id(k)]).total_seconds() for k, at in first.items()
                  if dep.workflow_id(k) in started]
    out = {
        "n": n, "contacted": len(first), "all_started": all_started, "seconds": round(seconds, 1),
        "ttfc_p50": round(pct(from_burst, 0.5), 2), "ttfc_p95": round(pct(from_burst, 0.95), 2),
        "ttfc_max": round(max(from_burst, default=float("nan")), 2),
        "from_start_p50": round(pct(from_start, 0.5), 2), "from_start_p95": round(pct(from_start, 0.95), 2),
        "start_span_s": round((max(started.values()) - min(started.values())).total_seconds(), 1) if started else None,
        "backpressure_wait_s": round(pressure.waited, 1), "rss_peak": round(peak), "cpu": cores,
        "profile": profiled,
    }
    if dep.kind == "DueCourse":
        out |= {"reads": len(reads), "read_p50_ms": round(pct(reads, 0.5) * 1000, 1),
                "read_p95_ms": round(pct(reads, 0.95) * 1000, 1), "read_max_ms": round(max(reads, default=0) * 1000, 1),
                "fresh_reads": len(fresh), "fresh_failed": fresh_failed,
                "fresh_p50_ms": round(pct(fresh, 0.5) * 1000, 1), "fresh_p95_ms": round(pct(fresh, 0.95) * 1000, 1),
                "fresh_max_ms": round(max(fresh, default=0) * 1000, 1)}
    say(f"  {dep.kind}: {json.dumps(out)}")
    return out


async def wait_quiet(dep: Deployment, done: Callable[[], Awaitable[bool]], deadline: float) -> None:
    """Until `done()` and nothing waits on the task queue (every case parked on its timer)."""
    pressure = Backpressure(dep.client, dep.queue, 0, interval=0)
    while time.monotonic() < deadline:
        if await done() and await pressure.backlog() == 0:
            await asyncio.sleep(3)
            return
        await asyncio.sleep(1)
    raise TimeoutError("cases still opening")


async def open_cases(dep: Deployment, first: int, last: int) -> None:
    """Start cases first..last-1 that open and wait a week on a timer, through backpressure."""
    pressure = Backpressure(dep.client, dep.queue, DEFAULT_MAX_BACKLOG)
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(i: int) -> None:
        async with gate:
            await pressure.admit()
            await dep.start(dep.key(i))

    await asyncio.gather(*(one(i) for i in range(first, last)))


async def opened(dep: Deployment, count: int) -> bool:
    """Whether `count` cases have opened and wait on their week-long timer."""
    if dep.kind == "DueCourse":
        waiting = await dep.client.count_workflows('WorkflowType="OverdueCase" AND CaseStage="remote_contact"')
        return waiting.count >= count
    if dep.kind == "minimal":
        async with dep.engine.connect() as conn:
            return (await conn.scalar(text("SELECT count(*) FROM minimal_effects WHERE kind = 'verify'")) or 0) >= count
    return activities_done(dep.metrics) >= 2 * count


async def memory(ctx: Context, n: int) -> None:
    say(f"== memory: worker RSS with N = {n} cases cached and waiting on timers (cache {n + 100})")
    figures = {}
    for kind in KINDS:
        dep = await deploy(kind, ctx.base / f"memory-{kind}", ctx.tuning.replace(cache=n + 100), tag=f"M{kind[0]}",
                           zone=ctx.zone)
        try:
            dep.policy, dep.plan = "hold", MinimalPlan(first_contact_after=WEEK)
            dep.shape = Shape(activities=2, timers=1, timer_seconds=WEEK)
            await asyncio.sleep(3)
            idle = dep.rss()
            quarter = n // 4
            await open_cases(dep, 0, quarter)
            await wait_quiet(dep, lambda d=dep, q=quarter: opened(d, q), time.monotonic() + 900)  # type: ignore[misc]
            at_quarter = dep.rss()
            await open_cases(dep, quarter, n)
            await wait_quiet(dep, lambda d=dep: opened(d, n), time.monotonic() + 900)  # type: ignore[misc]
            full = dep.rss()
        finally:
            await dep.close()
        figures[kind] = {"n": n, "idle_mib": round(idle, 1), "quarter_mib": round(at_quarter, 1),
                         "full_mib": round(full, 1),
                         "kib_per_case": round((full - idle) * 1024 / n, 1),
                         "marginal_kib_per_case": round((full - at_quarter) * 1024 / (n - quarter), 1)}
        say(f"  {kind}: {figures[kind]}")
    ctx.save("memory", figures)


async def hold(ctx: Context, m: int, budget: float) -> None:
    say(f"== hold: up to {m} open DueCourse cases waiting on timers, one worker (cache {ctx.tuning.cache}), "
        f"at most {budget:.0f} s")
    dep = await deploy("DueCourse", ctx.base / "hold", ctx.tuning, tag="H", zone=ctx.zone)
    readings: list[dict[str, Any]] = []
    limit = "reached"
    try:
        dep.policy = "hold"
        await asyncio.sleep(3)
        readings.append({"open": 0, "mib": round(dep.rss(), 1), "seconds": 0})
        t0 = time.monotonic()
        deadline = t0 + budget
        cpu = dep.sampler()
        cpu.start()
        marks = sorted({x for x in (500, 1000, 2000, 3000, 4000, 5000, 10000, 20000, 50000, 100000, m) if x <= m})
        done, last_t = 0, t0
        for mark in marks:
            starting = asyncio.create_task(open_cases(dep, done, mark))
            while not starting.done() and time.monotonic() < deadline:
                await asyncio.sleep(1)
            if not starting.done():
                starting.cancel()
                limit = f"time budget ({budget:.0f} s) spent before {mark}"
                waiting = await dep.client.count_workflows('WorkflowType="OverdueCase" AND CaseStage="remote_contact"')
                now = time.monotonic()
                readings.append({"open": waiting.count, "mib": round(dep.rss(), 1), "seconds": round(now - t0, 1),
                                 "starts_per_s": round((waiting.count - done) / (now - last_t), 1)})
                say(f"  {readings[-1]} (when the budget ran out)")
                break
            try:
                await wait_quiet(dep, lambda mark=mark: opened(dep, mark), deadline)  # type: ignore[misc]
            except TimeoutError:
                limit = f"time budget ({budget:.0f} s) spent before {mark} opened"
                break
            now = time.monotonic()
            readings.append({"open": mark, "mib": round(dep.rss(), 1), "seconds": round(now - t0, 1),
                             "starts_per_s": round((mark - done) / (now - last_t), 1)})
            say(f"  {readings[-1]}")
            done, last_t = mark, now
        cores = cpu.stop()
    finally:
        await dep.close()
    say(f"  cpu while opening: {cores}; {limit}")
    ctx.save("hold", {"readings": readings, "limit": limit, "cpu": cores, "cache": ctx.tuning.cache})


# --- the targets' table -----------------------------------------------------------------------


def targets(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(target, measured, pass/miss, run) for each target of issue #12 that has figures."""
    rows: list[tuple[str, str, str, str]] = []

    def add(target: str, measured: str, ok: bool | None, part: str) -> None:
        rows.append((target, measured, "—" if ok is None else ("pass" if ok else "MISS"), results[part]["at"]))

    if "compare" in results:
        comp = results["compare"]["figures"]
        for n, f in comp.items():
            d, m = f["DueCourse"], f["minimal"]
            e, a = d["events"] / m["events"], d["actions"] / m["actions"]
            add(f"events per case ≤ 1.25× minimal (N={n})", f"{d['events']:.0f} vs {m['events']:.0f}: {e:.2f}×",
                e <= 1.25, "compare")
            add(f"billable actions per case ≤ 1.25× minimal (N={n})",
                f"{d['actions']:.1f} vs {m['actions']:.1f}: {a:.2f}×", a <= 1.25, "compare")
            c = d["cases_per_s"] / m["cases_per_s"]
            add(f"cases/s ≥ 0.8× minimal (N={n})", f"{d['cases_per_s']:.2f} vs {m['cases_per_s']:.2f}: {c:.2f}×",
                c >= 0.8, "compare")
            if n == "1000":
                u = d["status_p95"] / m["status_p95"]
                add("update→status p95 ≤ 1.5× minimal (N=1000)",
                    f"{d['status_p95']:.2f} s vs {m['status_p95']:.2f} s: {u:.2f}×", u <= 1.5, "compare")
    if "big" in results:
        f = results["big"]["figures"]
        large = f[max(f, key=int)]
        r = large["cases_per_s"] / f["200"]["cases_per_s"]
        add(f"N={large['n']} finishes (backpressured starter, one worker)",
            f"{large['closed']} of {large['n']} closed in {large['seconds']:.0f} s", bool(large["finished"]), "big")
        add(f"N={large['n']} cases/s ≥ 0.9× N=200",
            f"{large['cases_per_s']:.2f} vs {f['200']['cases_per_s']:.2f}: {r:.2f}×", r >= 0.9, "big")
    if "memory" in results:
        d = results["memory"]["figures"]["DueCourse"]
        add("≤ 150 KB worker memory per cached case",
            f"{d['kib_per_case'] * 1.024:.0f} KB ({d['kib_per_case']:.0f} KiB; "
            f"marginal {d['marginal_kib_per_case']:.0f} KiB)",
            d["kib_per_case"] * 1.024 <= 150, "memory")
    if "burst" in results:
        b = results["burst"]["figures"]
        d, m = b["DueCourse"], b["minimal"]
        r = d["ttfc_p95"] / m["ttfc_p95"]
        add("burst time to first contact p95 ≤ 1.25× minimal",
            f"{d['ttfc_p95']:.0f} s vs {m['ttfc_p95']:.0f} s: {r:.2f}×", r <= 1.25, "burst")
        add("status read during the burst ≤ 1 s (ledger path)",
            f"p50 {d['read_p50_ms']:.0f} ms, p95 {d['read_p95_ms']:.0f} ms, max {d['read_max_ms']:.0f} ms "
            f"({d['reads']} reads)", d["read_max_ms"] <= 1000, "burst")
    return rows


def print_targets(results: dict[str, Any]) -> None:
    rows = targets(results)
    if not rows:
        say("no figures saved yet")
        return
    width = max(len(r[0]) for r in rows)
    mwidth = max(len(r[1]) for r in rows)
    say("\n== issue #12 targets")
    for target, measured, verdict, at in rows:
        say(f"{target:<{width}}  {measured:<{mwidth}}  {verdict:<4}  ({at})")


PARTS = ("tune", "compare", "big", "burst", "memory", "hold", "two-workers")


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.benchmark", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=[*PARTS, "table"], help="experiments to run (default: all)")
    parser.add_argument("--cases", type=int, nargs="+", default=[200, 1000], help="N for `compare`")
    parser.add_argument("--big", type=int, default=5000, help="N for `big` and `two-workers`")
    parser.add_argument("--burst", type=int, default=1000)
    parser.add_argument("--memory-cases", type=int, default=1000)
    parser.add_argument("--hold", type=int, default=100000, help="open cases to aim for in `hold`")
    parser.add_argument("--hold-budget", type=float, default=1200, help="seconds `hold` may spend opening cases")
    parser.add_argument("--results", type=Path, default=ROOT / ".data" / "benchmark.json")
    parser.add_argument("--markdown", action="store_true", help="also print every saved figure as Markdown")
    parser.add_argument("--profile", action="store_true", help="py-spy the DueCourse worker for 30 s in each run")
    parser.add_argument("--data", type=Path, help="where the deployments live (default: a temporary folder)")
    args = parser.parse_args(argv)
    parts = args.only or list(PARTS)
    results = json.loads(args.results.read_text()) if args.results.exists() else {}
    ctx = Context(args.data or Path(tempfile.mkdtemp(prefix="duecourse-bench-")), daytime_zone(),
                  chosen(results, CHOSEN), results, args.results, args.profile)
    say(f"machine: {platform.machine()}, Python {platform.python_version()}, {os.cpu_count()} cores, load "
        f"{os.getloadavg()[0]:.1f}; cases in {ctx.zone}; workers: {ctx.tuning.label()}")
    random.seed(12)
    main_task = asyncio.current_task()
    assert main_task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)  # stop every deployment
    for part in parts:
        if part == "tune":
            await tune(ctx)
        elif part == "compare":
            await compare(ctx, args.cases)
        elif part == "big":
            await big(ctx, args.big, 1, "big")
        elif part == "burst":
            await burst(ctx, args.burst)
        elif part == "memory":
            await memory(ctx, args.memory_cases)
        elif part == "hold":
            await hold(ctx, args.hold, args.hold_budget)
        elif part == "two-workers":
            await big(ctx, args.big, 2, "two-workers")
    print_targets(ctx.results)
    if args.markdown:
        print_markdown(ctx.results)
    return 0


def print_markdown(results: dict[str, Any]) -> None:
    """Every saved figure as the Markdown tables of docs/benchmarks.md."""
    sections: list[tuple[str, str]] = [("targets", report.targets(targets(results)))]
    if "tune" in results:
        sections.append(("tune", report.runs(results["tune"]["figures"])))
    if "compare" in results:
        f = results["compare"]["figures"]
        sections += [("compare", report.compare(f)), ("billable actions by kind", report.kinds(f, "action_kinds")),
                     ("activities by type", report.kinds(f, "activity_types"))]
        sections += [(f"profile compare N={n}", report.profile(f[n]["DueCourse"]["profile"])) for n in f]
    for part in ("big", "two-workers"):
        if part in results:
            f = results[part]["figures"]
            sections.append((part, report.runs({f"N = {int(n):,}": d for n, d in f.items()})))
            sections += [(f"profile {part} N={n}", report.profile(d["profile"])) for n, d in f.items()]
    if "burst" in results:
        f = results["burst"]["figures"]
        sections += [("burst", report.burst(f)), ("reads", report.reads(f["DueCourse"])),
                     ("profile burst", report.profile(f["DueCourse"]["profile"]))]
    if "memory" in results:
        sections.append(("memory", report.memory(results["memory"]["figures"])))
    if "hold" in results:
        h = results["hold"]
        sections.append(("hold", report.hold(h["figures"]) + f"\n\n{h['figures']['limit']}; CPU {h['figures']['cpu']}"))
    for name, body in sections:
        at = results.get(name.split()[0], {}).get("at", "")
        say(f"\n<!-- {name} {at} -->\n{body}")


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
