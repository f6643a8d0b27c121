"""Backpressure: start cases only as fast as the workers take them.

A burst of starts (a bulk file, the daily export, a backend's webhooks) that outruns the workers
fills the task queue: every case's next step, every operator's update and every status query then
waits behind the backlog. Starters ask `Backpressure.admit()` first; it waits while the queue's
backlog (workflow or activity tasks not yet picked up, as the server reports it) is above the limit.
One reading of the queue serves every starter for `interval` seconds, so asking costs nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from service.cases import TemporalError

log = logging.getLogger("duecourse.backpressure")
DEFAULT_MAX_BACKLOG = 100  # tasks waiting for a worker: about ten seconds of one worker's work


class Busy(Exception):
    """The workers stayed behind for longer than the caller could wait: try again later."""

    def __init__(self, backlog: int, retry_after: float):
        super().__init__(f"the workers are behind ({backlog} tasks waiting): try again in {retry_after:.0f} s")
        self.backlog, self.retry_after = backlog, retry_after


class Backpressure:
    def __init__(self, client: Client, task_queue: str, max_backlog: int = DEFAULT_MAX_BACKLOG,
                 interval: float = 0.5):
        self.client, self.task_queue = client, task_queue
        self.max_backlog, self.interval = max_backlog, interval
        self._read_at, self._backlog = 0.0, 0
        self._reading = asyncio.Lock()
        self.waited = 0.0  # seconds starters spent waiting, in all (for reports)
        self.unsupported = False

    async def backlog(self) -> int:
        """Workflow plus activity tasks waiting on the queue, read at most once per `interval`."""
        async with self._reading:
            if time.monotonic() - self._read_at >= self.interval:
                self._backlog = sum([await self._waiting(kind) for kind in (
                    TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)])
                self._read_at = time.monotonic()
            return self._backlog

    async def _waiting(self, kind: TaskQueueType.ValueType) -> int:
        if self.unsupported:
            return 0
        try:
            response = await self.client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
                namespace=self.client.namespace, task_queue=TaskQueue(name=self.task_queue), task_queue_type=kind,
                report_stats=True))
        except RPCError as e:
            if e.status is RPCStatusCode.UNIMPLEMENTED:  # a server without queue stats (the SDK's test server)
                log.warning("the Temporal server reports no task queue backlog: starts are not paced")
                self.unsupported = True
                return 0
            raise TemporalError(e.message) from e
        return response.stats.approximate_backlog_count

    async def admit(self, timeout: float | None = None, waiting: Callable[[], object] | None = None) -> None:
        """Return once the backlog is at most `max_backlog`; raise `Busy` if that takes over `timeout`.
        `waiting` is called on every look while it waits (an activity heartbeats there)."""
        started = time.monotonic()
        while (backlog := await self.backlog()) > self.max_backlog:
            if timeout is not None and time.monotonic() - started >= timeout:
                raise Busy(backlog, retry_after=max(1.0, self.interval * 4))
            if waiting is not None:
                waiting()
            await asyncio.sleep(self.interval)
        self._backlog += 1  # until the next reading, each start admitted counts as one more task waiting
        self.waited += time.monotonic() - started
