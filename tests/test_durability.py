"""A worker killed with SIGKILL in the middle of cases, on a real dev server: every case finishes,
and the ledger and the gateway hold exactly one row per intended contact."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest_asyncio
from sqlalchemy import text

from adapters.config_files import load_policy, load_rule_pack
from domain import clock
from domain.enums import Stage
from domain.messages import Payment
from starter import start_case
from tests import factories
from tests.conftest import dev_server
from workflows.case import OverdueCase

ROOT = Path(__file__).resolve().parent.parent


@pytest_asyncio.fixture(name="dev_server")
async def _dev_server(converter):
    async with await dev_server(converter) as env:
        yield env


class WorkerProcess:
    def __init__(self, env_vars: dict[str, str]):
        self.env_vars, self.proc = env_vars, None

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env=os.environ | self.env_vars,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=15)


async def attempts(engine, case_ids: list[str]) -> list:
    async with engine.connect() as conn:
        return (await conn.execute(text(
            "SELECT a.case_id, a.idempotency_key, a.outcome, m.id AS sent FROM contact_attempts a "
            "LEFT JOIN sandbox_messages m ON m.idempotency_key = a.idempotency_key "
            "WHERE a.case_id = ANY(:ids)"), {"ids": case_ids})).all()


async def test_killed_worker_restarts_and_no_contact_is_sent_twice(dev_server, engine, database_url, config_dir,
                                                                   payload_keys):
    queue = "durability"
    worker = WorkerProcess({"TEMPORAL_ADDRESS": dev_server.client.service_client.config.target_host,
                            "DATABASE_URL": database_url, "TASK_QUEUE": queue, "CONFIG_DIR": str(config_dir),
                            "PAYLOAD_KEYS": payload_keys})
    policy = load_policy("fast", config_dir)
    cn = load_rule_pack("cn").contact_window  # the rules hold on the real clock too: a daytime zone
    tz = clock.zone_inside_window(datetime.now(UTC), cn.start, cn.end)
    cases = [factories.case(policy="fast", timezone=tz, profile=p) for p in ("low_risk", "low_risk", "high_risk")]
    worker.start()
    try:
        for case in cases:
            assert (await start_case(dev_server.client, case, queue)).status == "started"
        ids = [c.case_id for c in cases]
        for kill in range(3):  # kill -9 as soon as new contacts are in flight, three times
            seen = len(await attempts(engine, ids))
            for _ in range(100):
                await asyncio.sleep(0.1)
                if len(await attempts(engine, ids)) > seen:
                    break
            worker.kill()
            await asyncio.sleep(0.5)
            worker.start()
        payer = dev_server.client.get_workflow_handle(cases[1].workflow_id)
        await payer.execute_update(OverdueCase.record_payment, Payment(
            amount=Decimal("3000.00"), paid_at=datetime.now(UTC), reference="DUR-1"))
        outcomes = [await asyncio.wait_for(dev_server.client.get_workflow_handle_for(OverdueCase.run, c.workflow_id).result(), 60)
                    for c in cases]
    finally:
        worker.stop()

    assert [o.stage for o in outcomes] == [Stage.ESCALATED, Stage.SETTLED, Stage.ESCALATED]
    rows = await attempts(engine, ids)
    keys = [r.idempotency_key for r in rows]
    assert len(keys) == len(set(keys)), "an attempt recorded twice"
    assert all(r.sent is not None and r.outcome != "pending" for r in rows), "an attempt never completed"
    async with engine.connect() as conn:
        sent = (await conn.execute(text("SELECT count(*) FROM sandbox_messages WHERE idempotency_key LIKE ANY(:p)"),
                                   {"p": [f"{i}:%" for i in ids]})).scalar_one()
    assert sent == len(rows), "the gateway received something the ledger does not know, or twice"
    schedules = {s: len(policy.segments[s].schedule) for s in ("low_risk", "high_risk")}
    per_case = {i: sum(1 for r in rows if r.case_id == i) for i in ids}
    assert per_case[ids[0]] == schedules["low_risk"] and per_case[ids[2]] == schedules["high_risk"]

