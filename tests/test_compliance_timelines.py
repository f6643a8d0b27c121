"""Random timelines through the real workflow on the time-skipping server: whatever operators,
borrowers and providers do and whenever, the journal shows no contact that breaks a rule.

Seeded, so a failure replays: TIMELINE_SEED=<seed> make test. Each case is audited (chain and
rules) by the `cases` fixture when the test ends, and here explicitly.
"""

from __future__ import annotations

import os
import random
from datetime import timedelta
from decimal import Decimal

from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from adapters.ledger import Ledger
from domain.enums import CeaseScope, Outcome
from domain.messages import (
    CapacityHoldRequest,
    CeaseContact,
    ComplaintRequest,
    ComplaintResolution,
    DeliveryReceipt,
    DisputeRequest,
    DisputeResolution,
    PauseRequest,
    Payment,
    PromiseRequest,
    ThirdPartyRefusal,
)
from service.compliance import compliance_report
from tests import factories
from workflows.case import OverdueCase
from workflows.complaint import Complaint

SEED = int(os.environ.get("TIMELINE_SEED", "20261129"))
TIMELINES = int(os.environ.get("TIMELINES", "10"))
BORROWERS = [
    dict(country="CN", timezone="Asia/Shanghai", mobile=factories.ANSWERS),
    dict(country="CN", timezone="Asia/Shanghai", mobile=factories.UNREACHABLE),
    dict(country="CN", timezone="Asia/Shanghai", mobile=factories.TALKS),
    dict(country="US", timezone="America/New_York", mobile="+12015550191"),
    dict(country="US", timezone="America/Los_Angeles", mobile="+12015550105"),
    dict(country="GB", timezone="Europe/London", mobile="+447400123450"),
]


async def act(cases, handle, rng: random.Random, what: str, state: dict) -> None:
    now = await cases.env.get_current_time()
    match what:
        case "cease":
            scope = rng.choice(["all", "channel", "number"])
            await handle.signal(OverdueCase.cease_contact, CeaseContact(
                scope=CeaseScope(scope), channel=rng.choice(["sms", "voice", "visit"]) if scope == "channel" else None,
                number=state["mobile"] if scope == "number" else None))
        case "pause":
            await handle.signal(OverdueCase.pause, PauseRequest(reason="random pause"))
        case "resume":
            await handle.signal(OverdueCase.resume, PauseRequest(reason="random resume"))
        case "dispute":
            await handle.execute_update(OverdueCase.open_dispute, DisputeRequest(reason="random dispute"))
        case "verify":
            await handle.execute_update(OverdueCase.resolve_dispute, DisputeResolution(
                upheld=False, note="verified", decided_by="legal"))
        case "complaint":
            result = await handle.execute_update(OverdueCase.open_complaint, ComplaintRequest(
                category="contact", details="random complaint"))
            state["complaint"] = result.ref
        case "resolve" if state.get("complaint"):
            await cases.client.get_workflow_handle_for(Complaint.run, state.pop("complaint")).execute_update(
                Complaint.resolve, ComplaintResolution(upheld=False, explanation="checked", by="care"))
        case "capacity":
            await handle.execute_update(OverdueCase.set_capacity_hold, CapacityHoldRequest(
                on=rng.random() < 0.6, reason="random", by="ops"))
        case "pay":
            await handle.execute_update(OverdueCase.record_payment, Payment(
                amount=Decimal(rng.choice(["100.00", "500.00", "3000.00"])), paid_at=now,
                reference=f"R-{rng.randrange(10**9)}"))
        case "promise":
            await handle.execute_update(OverdueCase.promise_to_pay, PromiseRequest(
                amount=Decimal("200.00"), due_date=(now + timedelta(days=rng.randint(0, 5))).date()))
        case "receipt":
            status = await handle.query(OverdueCase.status)
            if status.last_contacts:
                await handle.signal(OverdueCase.delivery_receipt, DeliveryReceipt(
                    attempt_key=rng.choice(status.last_contacts).key,
                    outcome=rng.choice([Outcome.FAILED, Outcome.NO_ANSWER, Outcome.CONVERSATION, Outcome.DELIVERED])))
        case "refuse":
            await handle.signal(OverdueCase.third_party_refused, ThirdPartyRefusal(number=factories.EMERGENCY))


async def test_random_timelines_through_the_real_workflow_break_no_rule(cases):
    rng = random.Random(SEED)
    contacts = 0
    for n in range(TIMELINES):
        borrower = rng.choice(BORROWERS)
        handle = await cases.start(profile=rng.choice(["low_risk", "high_risk", "hardship"]), **borrower)
        state = {"mobile": borrower["mobile"]}
        moments = sorted((rng.uniform(0, 60 * 24 * 60), rng.choice(
            ["cease", "pause", "resume", "dispute", "verify", "complaint", "resolve", "capacity", "pay", "promise",
             "receipt", "receipt", "refuse"])) for _ in range(rng.randint(3, 9)))
        elapsed = 0.0
        for minute, what in moments:
            await cases.env.sleep(timedelta(minutes=minute - elapsed))
            elapsed = minute
            if (await handle.query(OverdueCase.status)).stage.terminal:
                break  # the case is over: nobody acts on it any more
            try:
                await act(cases, handle, rng, what, state)
            except WorkflowUpdateFailedError:
                pass  # a validator said no (nothing to resolve, a promise out of range): part of the test
            except RPCError as e:
                if e.status is not RPCStatusCode.NOT_FOUND:  # it ended while the update was on its way
                    raise
        await cases.env.sleep(timedelta(days=30))
        report = await compliance_report(Ledger(cases.engine), handle.id.removeprefix("case-"))
        assert report.clean, f"seed {SEED}, timeline {n}:\n{report.text()}"
        contacts += report.contacts
    assert contacts >= TIMELINES * 2, "the timelines must actually contact borrowers"
