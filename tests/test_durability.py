"""A worker killed with SIGKILL in the middle of cases, on a real dev server: every case finishes,
and the ledger and the gateway hold exactly one row per intended contact."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import text

from adapters.config_files import load_policy
from domain.enums import Stage
from domain.messages import Payment
from service.cases import Cases
from testkit import processes
from testkit.cases import daytime_zone
from testkit.operators import approve_handoffs
from tests import factories
from workflows.case import OverdueCase


async def attempts(engine, case_ids: list[str]) -> list:
    async with engine.connect() as conn:
        return (await conn.execute(text(
            "SELECT a.case_id, a.idempotency_key, a.outcome, a.channel, a.template, m.id AS sent "
            "FROM contact_attempts a "
            "LEFT JOIN sandbox_messages m ON m.idempotency_key = a.idempotency_key "
            "WHERE a.case_id = ANY(:ids)"), {"ids": case_ids})).all()


async def test_killed_worker_restarts_and_no_contact_is_sent_twice(dev_server, engine, database_url, config_dir,
                                                                   payload_keys, tmp_path):
    queue = "durability"
    worker = processes.worker(tmp_path / "worker.log", {
        "TEMPORAL_ADDRESS": dev_server.client.service_client.config.target_host, "DATABASE_URL": database_url,
        "TASK_QUEUE": queue, "CONFIG_DIR": str(config_dir), "PAYLOAD_KEYS": payload_keys})
    policy = load_policy("fast", config_dir)
    tz = daytime_zone()  # the rules hold on the real clock too
    cases = [factories.case(policy="fast", timezone=tz, profile=p) for p in ("low_risk", "low_risk", "high_risk")]
    worker.start()
    try:
        for case in cases:
            assert (await Cases(dev_server.client, queue).start(case)).status == "started"
        ids = [c.case_id for c in cases]
        for _round in range(3):  # kill -9 as soon as new contacts are in flight, three times
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
        stop = asyncio.Event()  # the never-paying cases ask a person before their hand-off
        supervisor = asyncio.create_task(approve_handoffs(dev_server.client, Cases(dev_server.client, queue), stop))
        try:
            outcomes = [await asyncio.wait_for(
                dev_server.client.get_workflow_handle_for(OverdueCase.run, c.workflow_id).result(), 60) for c in cases]
        finally:
            stop.set()
            approved = await supervisor
    finally:
        worker.stop()

    assert [o.stage for o in outcomes] == [Stage.ESCALATED, Stage.SETTLED, Stage.ESCALATED] and approved == 2
    rows = await attempts(engine, ids)
    keys = [r.idempotency_key for r in rows]
    assert len(keys) == len(set(keys)), "an attempt recorded twice"
    assert all(r.sent is not None and r.outcome != "pending" for r in rows), "an attempt never completed"
    async with engine.connect() as conn:
        sent = (await conn.execute(text("SELECT count(*) FROM sandbox_messages WHERE idempotency_key LIKE ANY(:p)"),
                                   {"p": [f"{i}:%" for i in ids]})).scalar_one()
    assert sent == len(rows), "the gateway received something the ledger does not know, or twice"
    schedules = {s: len(policy.segments[s].schedule) for s in ("low_risk", "high_risk")}
    per_case = {i: sum(1 for r in rows if r.case_id == i and r.channel != "letter") for i in ids}
    assert per_case[ids[0]] == schedules["low_risk"] and per_case[ids[2]] == schedules["high_risk"]
    letters = sorted((r.case_id, r.template) for r in rows if r.channel == "letter")
    assert letters == sorted((i, "credit_report_notice") for i in (ids[0], ids[2]))  # told before the report

