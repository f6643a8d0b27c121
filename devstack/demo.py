"""The demo: the cases in `examples/` on the `demo` policy, and scripted people who act on them.

Each demo case is an example file started as `demo-<name>` with the `demo` policy (days compressed
into seconds) and a borrower timezone where it is daytime now, because the rule packs' contact
windows hold in the demo as in production. The "operators" below act only through the public
contract (updates and signals, through the service layer), once each, when a case's `status`
shows the moment has come.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from domain.case_input import CaseInput
from domain.enums import CeaseScope, HardshipReason, Stage, VisitResult
from domain.messages import (
    ApprovalDecision,
    CeaseContact,
    ContactInfoUpdate,
    HardshipReport,
    Payment,
    PromiseRequest,
    VisitOutcome,
)
from domain.policy import Role
from domain.relief import ReliefAcceptance, ReliefRequest
from domain.status import CaseStatus
from service.cases import Cases, CaseServiceError, StartReport, UpdateRejected
from testkit.cases import EXAMPLES, daytime_zone, example

Act = Callable[[Cases, CaseStatus], Awaitable[object]]
SELF_SERVICE = "demo-self-service"  # the policy of the case whose borrower is the person running the demo
CENT = Decimal("0.01")
M = TypeVar("M", bound=BaseModel)


def contacts(status: CaseStatus) -> int:
    return sum(status.contact_counts.get(c, 0) for c in ("sms", "robot_call", "agent_call"))


def send(method: Callable[[Cases, str, M], Awaitable[object]], make: Callable[[CaseStatus], M]) -> Act:
    """Send the case what `make` builds from its status, by a `Cases` method (`Cases.pay`, ...)."""
    async def act(cases: Cases, status: CaseStatus) -> object:
        return await method(cases, status.case_id, make(status))
    return act


def pay(amount: Callable[[CaseStatus], Decimal], ref: str) -> Act:
    return send(Cases.pay, lambda s: Payment(amount=amount(s), reference=f"{s.case_id}-{ref}",
                                             paid_at=datetime.now(UTC)))


def decide(kind: str, approve: bool, by: str, role: Role | None = None) -> Act:
    return send(Cases.approve, lambda s: ApprovalDecision(
        approval_id=next(a.approval_id for a in s.pending_approvals if a.kind.value == kind), approve=approve,
        decided_by=by, role=role))


def offer(request: Callable[[CaseStatus], ReliefRequest]) -> Act:
    return send(Cases.offer_relief, request)


def open_offer(kind: str, *statuses: str) -> Callable[[CaseStatus], bool]:
    return lambda s: any(o.kind == kind and o.status.value in statuses for o in s.offers)


def settlement_sum(status: CaseStatus) -> Decimal:
    made = next(o for o in status.offers if o.kind == "settlement")
    assert made.amount is not None
    return made.amount


def in_full(status: CaseStatus) -> Decimal:
    return status.balance


def today(status: CaseStatus) -> date:
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
    policy: str = "demo"
    done: set[int] = field(default_factory=set)


def awaiting(kind: str) -> Callable[[CaseStatus], bool]:
    return lambda s: any(a.kind.value == kind for a in s.pending_approvals)


def instalment_due(n: int) -> Callable[[CaseStatus], bool]:
    """The plan's instalment n (from 1) is due, and every one before it is paid."""
    def due(s: CaseStatus) -> bool:
        return (s.plan is not None and s.plan.status == "active" and s.plan.instalments[n - 1].status == "due"
                and all(i.status == "paid" for i in s.plan.instalments[:n - 1]))
    return due


def instalment(n: int) -> Callable[[CaseStatus], Decimal]:
    return lambda s: s.plan.instalments[n - 1].amount if s.plan else Decimal("0")


SCENARIOS = [
    Scenario("low_risk_pays", [
        Step("borrower pays in full after the robot call", lambda s: contacts(s) >= 2, pay(in_full, "FULL")),
    ]),
    Scenario("promise_kept", [
        Step("agent takes a promise of 1000", lambda s: contacts(s) >= 1 and s.stage is Stage.REMOTE_CONTACT,
             send(Cases.promise, lambda s: PromiseRequest(amount=Decimal("1000.00"), due_date=today(s)))),
        Step("borrower keeps the promise", lambda s: s.pending_promise is not None,
             pay(lambda s: Decimal("1000.00"), "PROMISED")),
        Step("borrower pays the rest", lambda s: s.total_paid > 0 and s.stage is Stage.REMOTE_CONTACT,
             pay(in_full, "REST")),
    ]),
    Scenario("wilful_visit_escalation", [
        Step("supervisor approves the field visit", awaiting("visit"), decide("visit", True, "demo-supervisor")),
        Step("collectors report late: not at home", lambda s: s.visit is not None and s.visit.status == "overdue",
             send(Cases.visit_outcome, lambda s: VisitOutcome(
                 visit_id=s.visit.visit_id if s.visit else "", result=VisitResult.NOT_HOME,
                 collectors=(s.visit.collectors if s.visit else []) or ["collector-a", "collector-b"],
                 ended_at=datetime.now(UTC),
                 started_at=datetime.now(UTC) - timedelta(minutes=30)))),
    ]),
    Scenario("hardship_plan", [
        Step("borrower reports job loss; asks for 4 instalments", lambda s: contacts(s) >= 1,
             send(Cases.hardship, lambda s: HardshipReport(reason=HardshipReason.JOB_LOSS,
                                                           requested_instalments=4, waive_penalty=True))),
        Step("care team approves the plan", awaiting("hardship_plan"), decide("hardship_plan", True, "demo-care-lead")),
        *[Step(f"borrower pays instalment {n}", instalment_due(n), pay(instalment(n), f"INST-{n}"))
          for n in range(1, 5)],
    ]),
    Scenario("distress_referral", [
        Step("trained reviewer resumes gently", awaiting("wellbeing_review"),
             decide("wellbeing_review", True, "demo-wellbeing-lead")),
        Step("borrower pays in full", lambda s: s.stage is Stage.REMOTE_CONTACT and "hardship" in s.flags,
             pay(in_full, "FULL")),
    ]),
    Scenario("missing_contact_data", [
        Step("borrower sends a new number and address", lambda s: bool(s.verification_missing),
             send(Cases.update_contact, lambda s: ContactInfoUpdate.model_validate_json(
                 (EXAMPLES / "update_contact.json").read_text()))),
        Step("borrower pays in full", lambda s: contacts(s) >= 2, pay(in_full, "FULL")),
    ]),
    Scenario("settlement_offer", [
        Step("agent offers to settle for 80% of the balance", lambda s: contacts(s) >= 1,
             offer(lambda s: ReliefRequest(kind="settlement", amount=(s.balance * Decimal("0.8")).quantize(CENT),
                                           offered_by="demo-agent"))),
        Step("supervisor approves it (the matrix asks a supervisor for 20% off)", awaiting("relief"),
             decide("relief", True, "demo-supervisor", role="supervisor")),
        Step("borrower accepts before it expires", open_offer("settlement", "offered"),
             send(Cases.accept_relief, lambda s: ReliefAcceptance(
                 offer_id=next(o.offer_id for o in s.offers if o.kind == "settlement")))),
        Step("borrower pays the settlement: the rest is written off", open_offer("settlement", "accepted"),
             pay(settlement_sum, "SETTLE")),
    ]),
    Scenario("cease_contact", [
        Step("borrower asks to stop all contact", lambda s: contacts(s) >= 1,
             send(Cases.cease, lambda s: CeaseContact(scope=CeaseScope.ALL, reason="asked in writing"))),
        Step("supervisor approves the credit report and legal hand-off", awaiting("handoff"),
             decide("handoff", True, "demo-supervisor")),
    ]),
    # No operator: the person running the demo is the borrower, from the e-mail in .data/mail (SELF_SERVICE).
    Scenario("self_service", [], policy=SELF_SERVICE),
]


def demo_case(scenario: Scenario, now: datetime) -> CaseInput:
    return example(scenario.example, case_id=f"demo-{scenario.example.replace('_', '-')}", policy=scenario.policy,
                   timezone=daytime_zone(now))


def self_service_policy(demo: dict[str, Any]) -> dict[str, Any]:
    """The `demo` policy whose low-risk path opens with an e-mail that carries the borrower's link: made
    here, not shipped in config/, because a worker without SELF_SERVICE_SECRET refuses a policy that sends
    links, and only this stack always has one."""
    low_risk = demo["segments"]["low_risk"]
    first = {"channel": "email", "after": "PT0S", "template": "self_service_link", "link": True}
    later = [dict(step, after="PT5M") if n == 0 else step for n, step in enumerate(low_risk["schedule"])]
    return demo | {
        "name": SELF_SERVICE, "description": "The demo, with the self-service link first (by e-mail).",
        "segments": demo["segments"] | {"low_risk": low_risk | {"schedule": [first, *later]}},
    }


async def start_demo(cases: Cases) -> list[StartReport]:
    now = datetime.now(UTC)
    return [await cases.start(demo_case(s, now)) for s in SCENARIOS]


async def run_operators(cases: Cases, say: Callable[[str], None], stop: asyncio.Event,
                        poll: timedelta = timedelta(seconds=1)) -> None:
    """Watch every demo case; act when its moment comes; report each stage change."""
    stages: dict[str, Stage] = {}
    while not stop.is_set():
        for scenario in SCENARIOS:
            case_id = f"demo-{scenario.example.replace('_', '-')}"
            try:
                status = await cases.status(case_id)
            except CaseServiceError:  # not started, or not answering: nothing to do
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
                    await step.act(cases, status)
                    say(f"{case_id:32} operator: {step.label}")
                except UpdateRejected as e:
                    say(f"{case_id:32} operator: {step.label} (refused: {e})")
                except (ValidationError, CaseServiceError) as e:
                    say(f"{case_id:32} operator: {step.label} (not sent: {e})")
                break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), poll.total_seconds())
