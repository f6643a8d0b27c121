"""Long cases continue-as-new when the *server* suggests it. On a real dev server whose threshold is
lowered by dynamic config, a case crosses runs while operators' updates and signals are in flight:
its state, its pending promise deadline, every message and a closing payment sent just before the
switch all survive."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest_asyncio
from temporalio.api.enums.v1 import EventType

from adapters.providers.sandbox import SandboxProvider
from domain.enums import CeaseScope, Stage
from domain.messages import CeaseContact, Payment, PromiseRequest
from replay import from_server, replay
from service.cases import Cases as CaseService
from testkit.cases import daytime_zone
from testkit.servers import dev_environment
from tests import factories
from tests.conftest import Cases
from worker import build_worker
from workflows.case import OverdueCase

SUGGEST_AFTER = 20  # history events; the server's default is 4,096


@pytest_asyncio.fixture
async def small_history_server(converter):
    async with dev_environment(
        converter, "--dynamic-config-value", f"limit.historyCount.suggestContinueAsNew={SUGGEST_AFTER}",
    ) as env:
        yield env


async def eventually(cases: Cases, handle, predicate, what: str, seconds: float = 60):
    """Poll the status on the real clock until predicate holds."""
    for _ in range(int(seconds * 10)):
        status = await cases.status(handle)
        if predicate(status):
            return status
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what} not reached; last status: {status.model_dump_json(indent=1)}")


async def test_a_case_continues_as_new_on_the_servers_suggestion_and_loses_nothing(
        small_history_server, engine, config_dir):
    env = small_history_server
    case = factories.case(policy="fast", timezone=daytime_zone())  # the rules hold on the real clock too
    async with build_worker(env.client, engine, SandboxProvider(engine), "can", config_dir):
        cases = Cases(env, "can", engine)
        assert (await CaseService(env.client, "can").start(case)).status == "started"
        handle = env.client.get_workflow_handle(case.workflow_id)
        cases.started.append(handle)

        # The policy sets no history budget of its own: the first switch is the server's suggestion.
        await eventually(cases, handle, lambda s: s.contact_counts.get("sms", 0) >= 1, "a first reminder")
        await handle.execute_update(OverdueCase.promise_to_pay, PromiseRequest(
            amount=Decimal("500"), due_date=(datetime.now(UTC) + timedelta(days=10)).date()))
        before = await eventually(cases, handle, lambda s: s.pending_promise is not None and s.run >= 2
                                  and s.next_action is not None and s.next_action.at == s.pending_promise.deadline,
                                  "a promise waited on across a continue-as-new suggested by the server")
        deadline = before.pending_promise.deadline

        # A burst of updates and signals arriving while the history crosses the threshold again.
        async def signals():
            await handle.signal(OverdueCase.cease_contact, CeaseContact(scope=CeaseScope.CHANNEL, channel="sms"))
            await handle.signal(OverdueCase.cease_contact, CeaseContact(scope=CeaseScope.CHANNEL, channel="visit"))

        payments = [handle.execute_update(OverdueCase.record_payment, Payment(
            amount=Decimal("5.00"), paid_at=datetime.now(UTC), reference=f"BURST-{n}")) for n in range(12)]
        results = await asyncio.gather(*payments, signals())
        assert all("applied" in r.message for r in results[:-1])
        after = await eventually(cases, handle, lambda s: s.run > before.run and s.total_paid == Decimal("60.00")
                                 and s.next_action is not None, "a continue-as-new after the burst")

        assert after.total_paid == Decimal("60.00") and after.balance == Decimal("2940.00")
        assert after.pending_promise is not None and after.pending_promise.deadline == deadline
        assert after.next_action.at == deadline, "the promise's timer moved across the run"
        assert {"cease:sms", "cease:visit"} <= set(after.flags)
        rows = await cases.rows("SELECT reference FROM payments WHERE case_id = :c", c=case.case_id)
        assert sorted(r["reference"] for r in rows) == sorted(f"BURST-{n}" for n in range(12))

        # Before a deploy: every run of the case, the open one included, replays against this code.
        verdicts = await replay(from_server(env.client, [], f'WorkflowId = "{case.workflow_id}"'),
                                env.client.data_converter)
        assert len(verdicts) == after.run and [v.failure for v in verdicts] == [None] * after.run

        # The closing payment is the last of a burst that makes the history long again: the case must
        # still settle (a flag lost at the switch would leave it waiting on the promise).
        closing = [handle.execute_update(OverdueCase.record_payment, Payment(
            amount=Decimal("1.00"), paid_at=datetime.now(UTC), reference=f"LATE-{n}")) for n in range(6)]
        await asyncio.gather(*closing)
        await handle.execute_update(OverdueCase.record_payment, Payment(
            amount=Decimal("2934.00"), paid_at=datetime.now(UTC), reference="CLOSING"))
        outcome = await asyncio.wait_for(env.client.get_workflow_handle_for(OverdueCase.run, case.workflow_id)
                                         .result(), 60)
        assert outcome.stage is Stage.SETTLED and outcome.balance == Decimal("0.00")
        assert outcome.total_paid == Decimal("3000.00")

        runs = [w async for w in env.client.list_workflows(f'WorkflowId = "{case.workflow_id}"')]
        assert len(runs) >= 3, "expected the case to have crossed runs at least twice"
        for run in runs:  # every run stayed near the server's threshold, none grew unbounded
            events = [e async for e in env.client.get_workflow_handle(case.workflow_id, run_id=run.run_id)
                      .fetch_history_events()]
            assert events[0].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
            assert len(events) < SUGGEST_AFTER + 120  # a burst's 13 updates land where they arrived; no more
        await cases.close()
