"""The demo: the cases in `examples/` on the `demo` policy, and scripted people who act on them.

Each demo case is an example file started as `demo-<name>` with the `demo` policy (days compressed
into seconds) and a borrower timezone where it is daytime now, because the rule packs' contact
windows hold in the demo as in production. The "operators" below act only through the public
contract (updates and signals), once each, when a case's `status` shows the moment has come.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from pydantic import ValidationError
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError

from adapters.config_files import load_rule_pack
from domain import clock
from domain.case_input import CaseInput, workflow_id_for
from domain.enums import HardshipReason, Stage, VisitResult
from domain.messages import (
    ApprovalDecision,
    CeaseContact,
    ContactInfoUpdate,
    HardshipReport,
    Payment,
    PromiseRequest,
    VisitOutcome,
)
from domain.status import CaseStatus
from starter import StartReport, start_case
from workflows.case import OverdueCase

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
Act = Callable[[Client, CaseStatus], Awaitable[object]]


def contacts(status: CaseStatus) -> int:
    return sum(status.contact_counts.get(c, 0) for c in ("sms", "robot_call", "agent_call"))


def update(name: str, make: Callable[[CaseStatus], object]) -> Act:
    async def act(client: Client, status: CaseStatus) -> object:
        handle = client.get_workflow_handle(workflow_id_for(status.case_id))
        return await handle.execute_update(name, make(status))
    return act


def signal(name: str, make: Callable[[CaseStatus], object]) -> Act:
    async def act(client: Client, status: CaseStatus) -> object:
        await client.get_workflow_handle(workflow_id_for(status.case_id)).signal(name, make(status))
        return f"{name} sent"
    return act


def pay(amount: Callable[[CaseStatus], Decimal], ref: str) -> Act:
    return update("record_payment", lambda s: Payment(amount=amount(s), reference=f"{s.case_id}-{ref}",
                                                      paid_at=datetime.now(UTC)))


def decide(kind: str, approve: bool, by: str) -> Act:
    return update("approve", lambda s: ApprovalDecision(
        approval_id=next(a.approval_id for a in s.pending_approvals if a.kind.value == kind), approve=approve,
        decided_by=by))


def in_full(status: CaseStatus) -> Decimal:
    return status.balance


def today(status: CaseStatus) -> object:
    return datetime.now(UTC).date()


@dataclass
class Step:
    """Do `act` once, the first time `when(status)` holds."""

    label: str
    when: Callable[[CaseStatus], bool]
    act: Act


@dataclass
class Scenario:
    example: str
    steps: list[Step]
    done: set[int] = field(default_factory=set)


def awaiting(kind: str) -> Callable[[CaseStatus], bool]:
    return lambda s: any(a.kind.value == kind for a in s.pending_approvals)


SCENARIOS = [
    Scenario("low_risk_pays", [
        Step("borrower pays in full after the robot call", lambda s: contacts(s) >= 2, pay(in_full, "FULL")),
    ]),
    Scenario("promise_kept", [
        Step("agent takes a promise of 1000", lambda s: contacts(s) >= 1 and s.stage is Stage.REMOTE_CONTACT,
             update("promise_to_pay", lambda s: PromiseRequest(amount=Decimal("1000.00"), due_date=today(s)))),
        Step("borrower keeps the promise", lambda s: s.pending_promise is not None,
             pay(lambda s: Decimal("1000.00"), "PROMISED")),
        Step("borrower pays the rest", lambda s: s.total_paid > 0 and s.stage is Stage.REMOTE_CONTACT,
             pay(in_full, "REST")),
    ]),
    Scenario("wilful_visit_escalation", [
        Step("supervisor approves the field visit", awaiting("visit"), decide("visit", True, "demo-supervisor")),
        Step("collectors report late: not at home", lambda s: s.visit is not None and s.visit.status == "overdue",
             update("record_visit_outcome", lambda s: VisitOutcome(
                 visit_id=s.visit.visit_id, result=VisitResult.NOT_HOME, collectors=["collector-1", "collector-2"]))),
    ]),
    Scenario("hardship_plan", [
        Step("borrower reports job loss; asks for 4 instalments", lambda s: contacts(s) >= 1,
             update("report_hardship", lambda s: HardshipReport(reason=HardshipReason.JOB_LOSS,
                                                                requested_instalments=4, waive_penalty=True))),
        Step("care team approves the plan", awaiting("hardship_plan"), decide("hardship_plan", True, "demo-care-lead")),
        *[Step(f"borrower pays instalment {n}",
               lambda s, n=n: s.plan is not None and s.plan.status == "active"
               and s.plan.instalments[n - 1].status == "due" and all(i.status == "paid" for i in s.plan.instalments[:n - 1]),
               pay(lambda s, n=n: s.plan.instalments[n - 1].amount, f"INST-{n}")) for n in range(1, 5)],
    ]),
    Scenario("distress_referral", [
        Step("trained reviewer resumes gently", awaiting("wellbeing_review"), decide("wellbeing_review", True, "demo-wellbeing-lead")),
        Step("borrower pays in full", lambda s: s.stage is Stage.REMOTE_CONTACT and "hardship" in s.flags,
             pay(in_full, "FULL")),
    ]),
    Scenario("missing_contact_data", [
        Step("borrower sends a new number and address", lambda s: bool(s.verification_missing),
             update("update_contact_info", lambda s: ContactInfoUpdate.model_validate_json(
                 (EXAMPLES / "update_contact.json").read_text()))),
        Step("borrower pays in full", lambda s: contacts(s) >= 2, pay(in_full, "FULL")),
    ]),
    Scenario("cease_contact", [
        Step("borrower asks to stop all contact", lambda s: contacts(s) >= 1,
             signal("cease_contact", lambda s: CeaseContact(scope="all", reason="asked in writing"))),
    ]),
]


def demo_case(example: str, now: datetime) -> CaseInput:
    window = load_rule_pack("cn").contact_window
    data = json.loads((EXAMPLES / f"{example}.json").read_text(encoding="utf-8"))
    data["case_id"] = f"demo-{example.replace('_', '-')}"
    data["policy"] = "demo"
    data["borrower"]["timezone"] = clock.zone_inside_window(now, window.start, window.end)
    return CaseInput.model_validate(data)


async def start_demo(client: Client, task_queue: str) -> list[StartReport]:
    now = datetime.now(UTC)
    return [await start_case(client, demo_case(s.example, now), task_queue) for s in SCENARIOS]


async def run_operators(client: Client, say: Callable[[str], None], stop: asyncio.Event,
                        poll: timedelta = timedelta(seconds=1)) -> None:
    """Watch every demo case; act when its moment comes; report each stage change."""
    stages: dict[str, Stage] = {}
    while not stop.is_set():
        for scenario in SCENARIOS:
            case_id = f"demo-{scenario.example.replace('_', '-')}"
            handle = client.get_workflow_handle(workflow_id_for(case_id))
            try:
                status = await handle.query(OverdueCase.status)
            except Exception:  # closed and no longer queryable, or not started: nothing to do
                continue
            if stages.get(case_id) is not status.stage:
                say(f"{case_id:32} {status.stage.value:16} balance {status.balance} {status.currency}")
                stages[case_id] = status.stage
            if status.stage.terminal:
                continue
            for n, step in enumerate(scenario.steps):
                if n in scenario.done or not step.when(status):
                    continue
                scenario.done.add(n)
                try:
                    await step.act(client, status)
                    say(f"{case_id:32} operator: {step.label}")
                except WorkflowUpdateFailedError as e:
                    say(f"{case_id:32} operator: {step.label} (refused: {e.cause})")
                except (ValidationError, RPCError) as e:
                    say(f"{case_id:32} operator: {step.label} (not sent: {e})")
                break
        try:
            await asyncio.wait_for(stop.wait(), poll.total_seconds())
        except TimeoutError:
            pass
