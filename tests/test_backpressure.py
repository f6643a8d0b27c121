"""Starters go only as fast as the workers take cases: while the task queue's backlog is above the
limit a start waits (bulk, daily intake) or, past its patience, is refused with Retry-After (HTTP);
once workers drain it, starts go on. On a real dev server, which reports the queue's backlog."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import pytest

from adapters.providers.sandbox import SandboxProvider
from intake.service import create_app
from service.backpressure import Backpressure, Busy
from service.bulk import start_bulk
from service.cases import Cases
from settings import IntakeSettings
from tests import factories
from worker import build_worker

TOKEN = "backpressure-test-token-0123456789"


async def fill(cases: Cases, n: int) -> None:
    """`n` cases started on a queue no worker polls yet: `n` workflow tasks wait."""
    for i in range(n):
        assert (await cases.start(factories.case(case_id=f"BP-{uuid.uuid4().hex[:6]}-{i}"))).status == "started"


async def test_a_start_waits_while_the_backlog_is_high_and_goes_once_workers_drain_it(dev_server, engine,
                                                                                        config_dir):
    queue = f"bp-{uuid.uuid4().hex[:6]}"
    cases = Cases(dev_server.client, queue)
    await fill(cases, 6)
    pressure = Backpressure(dev_server.client, queue, max_backlog=3, interval=0.2)
    for _ in range(50):  # the server's task-queue statistics lag the starts a little
        if await pressure.backlog() >= 6:
            break
        await asyncio.sleep(0.1)
    assert await pressure.backlog() >= 6
    with pytest.raises(Busy) as busy:
        await pressure.admit(timeout=0.5)
    assert busy.value.backlog >= 6 and busy.value.retry_after >= 1

    waiting = asyncio.create_task(pressure.admit())
    await asyncio.sleep(0.6)
    assert not waiting.done()  # still waiting: nobody works the queue
    async with build_worker(dev_server.client, engine, SandboxProvider(engine), queue, config_dir):
        await asyncio.wait_for(waiting, 60)  # the worker drains the backlog: the start may go
    assert pressure.waited > 0.5


async def test_a_bulk_file_is_started_whole_at_the_pace_of_the_workers(dev_server, engine, config_dir, tmp_path):
    queue = f"bp-{uuid.uuid4().hex[:6]}"
    cases = Cases(dev_server.client, queue)
    rows = tmp_path / "cases.jsonl"
    rows.write_text("\n".join(factories.case(case_id=f"BB-{uuid.uuid4().hex[:6]}-{i}").model_dump_json(
        exclude={"state"}) for i in range(12)))
    pressure = Backpressure(dev_server.client, queue, max_backlog=2, interval=0.1)
    async with build_worker(dev_server.client, engine, SandboxProvider(engine), queue, config_dir):
        summary = await asyncio.wait_for(start_bulk(cases, rows, concurrency=4, pressure=pressure), 120)
    assert (summary.rows, summary.started, summary.failed) == (12, 12, 0)


async def test_the_http_service_answers_503_with_retry_after_while_the_workers_are_behind(dev_server):
    queue = f"bp-{uuid.uuid4().hex[:6]}"
    cases = Cases(dev_server.client, queue)
    await fill(cases, 4)
    app = create_app(cases, IntakeSettings(token=TOKEN), Backpressure(dev_server.client, queue, max_backlog=2,
                                                                     interval=0.1), admit_within=0.5)
    body = json.loads(factories.case(case_id=f"BH-{uuid.uuid4().hex[:6]}").model_dump_json(exclude={"state"}))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake") as api:
        answer = await api.post("/cases", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 503 and int(answer.headers["Retry-After"]) >= 1
    assert "behind" in answer.json()["detail"]
    with pytest.raises(Exception, match="not found|NotFound"):  # nothing was started
        await dev_server.client.get_workflow_handle(f"case-{body['case_id']}").describe()
