"""A lean case: its bookkeeping rides with its work, an operator's update does not wait for the
case's step, and reading a case does not wait for a worker."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from adapters.config_files import load_rule_pack
from adapters.ledger import Ledger
from adapters.providers.base import ProviderResponse
from adapters.providers.sandbox import SandboxProvider
from domain import clock
from domain.enums import Outcome, Stage
from domain.messages import DeliveryReceipt, Payment, PromiseRequest
from service.cases import Cases
from service.compliance import compliance_report
from tests.conftest import Cases as CaseDriver
from worker import build_worker
from workflows.case import OverdueCase

BUSINESS = {"load_case_config", "verify_contact_data", "send_sms", "place_robot_call", "create_agent_call_task",
            "dispatch_visit", "record_payment"}


async def test_a_case_writes_its_ledger_with_its_work_once_a_step(cases):
    handle = await cases.start()
    await cases.until(handle, lambda s: s.contact_counts.get("robot_call", 0) >= 1, what="a robot call")
    await handle.execute_update(OverdueCase.record_payment, Payment(
        amount=Decimal("3000.00"), paid_at=datetime.now(UTC), reference="LEAN-1"))
    outcome = await handle.result()
    assert outcome.stage is Stage.SETTLED

    history = await handle.fetch_history()
    events = [e for e in history.events if e.HasField("activity_task_scheduled_event_attributes")]
    names = [e.activity_task_scheduled_event_attributes.activity_type.name for e in events]
    assert set(names) <= BUSINESS | {"record_step"}, names  # no activity per fact (event, case row, …)
    steps = [e for e in events if e.activity_task_scheduled_event_attributes.activity_type.name == "record_step"]
    written = await cases.rows("SELECT count(*) AS n FROM case_events WHERE case_id = :c "
                               "AND kind IN ('stage_changed', 'guard_decision')", c=outcome.case_id)
    converter = cases.client.data_converter
    summaries = [await converter.decode([e.user_metadata.summary], [str]) for e in steps]
    assert 0 < len(steps) <= written[0]["n"]  # one ledger write at most for a step that moved or deferred
    assert all(s[0].startswith("Case: ") for s in summaries), summaries  # the Web UI timeline names the step
    # Paid in full while the case waited: the payment's own write carried the move to the relationship.
    assert not any("relationship" in s[0] for s in summaries), summaries
    moved = await cases.rows("SELECT count(*) AS n FROM case_events WHERE case_id = :c AND kind = 'stage_changed' "
                             "AND data->>'to' = 'relationship'", c=outcome.case_id)
    assert moved[0]["n"] == 1
    # ... and from then on the case is in no operator's due list: no upsert sets NextActionAt.
    paid_at = next(e.event_id for e in events
                   if e.activity_task_scheduled_event_attributes.activity_type.name == "record_payment")
    upserts = "upsert_workflow_search_attributes_event_attributes"
    later = [getattr(e, upserts).search_attributes.indexed_fields
             for e in history.events if e.event_id > paid_at and e.HasField(upserts)]
    touched = [f["NextActionAt"] for f in later if "NextActionAt" in f]
    assert touched and all(p.metadata["encoding"] == b"binary/null" for p in touched), later
    report = await compliance_report(Ledger(cases.engine), outcome.case_id)
    assert report.clean and report.contacts == sum(n in ("send_sms", "place_robot_call") for n in names)


class HeldProvider:
    """A gateway that holds each message until the test lets it go."""

    name = "held"

    def __init__(self):
        self.arrived, self.release = asyncio.Event(), asyncio.Event()
        self.keys: list[str] = []

    async def deliver(self, request) -> ProviderResponse:
        self.keys.append(request.idempotency_key)
        self.arrived.set()
        await self.release.wait()
        return ProviderResponse(provider=self.name, message_id=f"m-{request.idempotency_key}",
                                outcome=Outcome.DELIVERED)


async def test_an_update_waits_only_for_the_activity_in_flight_and_lands_after_it(dev_server, engine, config_dir):
    provider, queue = HeldProvider(), f"held-{uuid.uuid4().hex[:6]}"
    window = load_rule_pack("cn").contact_window  # a borrower for whom it is daytime now: the SMS goes at once
    async with build_worker(dev_server.client, engine, provider, queue, config_dir):
        cases = CaseDriver(dev_server, queue, engine)
        handle = await cases.start(timezone=clock.zone_inside_window(datetime.now(UTC), window.start, window.end))
        await asyncio.wait_for(provider.arrived.wait(), 60)
        due = date.today() + timedelta(days=3)
        promise = asyncio.create_task(handle.execute_update(OverdueCase.promise_to_pay, PromiseRequest(
            amount=Decimal("500.00"), due_date=due, taken_by="agent-7")))
        await asyncio.sleep(1.5)
        assert not promise.done(), "the update acted while the case's SMS was still with the provider"
        provider.release.set()
        answer = await asyncio.wait_for(promise, 30)  # answered once the SMS is done, not after a whole step
        assert answer.stage is Stage.PROMISE
        case_id = handle.id.removeprefix("case-")
        for _ in range(100):  # the promise's journal entries follow the SMS's, in the order they happened
            kinds = [r["kind"] for r in await cases.rows(
                "SELECT kind FROM case_events WHERE case_id = :c ORDER BY seq", c=case_id)]
            if kinds.count("stage_changed") >= 3:
                break
            await asyncio.sleep(0.1)
        moves = [i for i, k in enumerate(kinds) if k == "stage_changed"]
        assert len(moves) >= 3, kinds
        assert kinds.index("contact_attempt") < moves[-1], kinds  # SMS first, then the move to promise
        await cases.close()


async def test_a_receipt_that_arrives_while_its_message_is_still_being_sent_is_not_lost(dev_server, engine,
                                                                                       config_dir):
    provider, queue = HeldProvider(), f"held-{uuid.uuid4().hex[:6]}"
    window = load_rule_pack("cn").contact_window
    async with build_worker(dev_server.client, engine, provider, queue, config_dir):
        cases = CaseDriver(dev_server, queue, engine)
        handle = await cases.start(timezone=clock.zone_inside_window(datetime.now(UTC), window.start, window.end))
        await asyncio.wait_for(provider.arrived.wait(), 60)
        # The gateway's receipt (distress heard on the line) beats the activity's own completion.
        await handle.signal(OverdueCase.delivery_receipt, DeliveryReceipt(
            attempt_key=provider.keys[-1], outcome=Outcome.ANSWERED, distress=True))
        await asyncio.sleep(1)
        provider.release.set()
        for _ in range(100):
            status = await cases.status(handle)
            if status.stage is Stage.WELLBEING_HOLD:
                break
            await asyncio.sleep(0.1)
        assert status.stage is Stage.WELLBEING_HOLD and "distress" in status.flags
        assert status.last_contacts[-1].outcome is Outcome.ANSWERED and status.last_contacts[-1].distress
        await cases.close()


async def test_a_case_is_read_from_the_ledger_without_a_worker(env, engine, config_dir):
    queue = f"read-{uuid.uuid4().hex[:6]}"
    async with build_worker(env.client, engine, SandboxProvider(engine), queue, config_dir):
        driver = CaseDriver(env, queue, engine)
        handle = await driver.start()
        live = await driver.until(handle, lambda s: s.contact_counts.get("sms", 0) >= 1, what="first SMS")
    # The worker is gone: a query would wait for one; the ledger answers.
    cases = Cases(env.client, queue, Ledger(engine))
    recorded = await asyncio.wait_for(cases.status(live.case_id), 5)
    assert (recorded.case_id, recorded.stage, recorded.balance) == (live.case_id, Stage.REMOTE_CONTACT, live.balance)
    assert recorded.segment == live.segment and recorded.policy == live.policy
    assert recorded.contact_counts == live.contact_counts  # the latest contact too, from the contact ledger
    assert [(c.key, c.outcome) for c in recorded.last_contacts] == [(c.key, c.outcome) for c in live.last_contacts]
    await handle.terminate("test done")
