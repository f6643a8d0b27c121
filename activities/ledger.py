"""Ledger activities: what a case did, written to Postgres once per idempotency key.

A case owes the ledger a few facts at each step (journal entries, the case row, a visit or plan row,
a hand-off). They ride with the step's own work: a contact or a payment writes them in its own
transaction; a step with no such work writes them with `record_step`, once. The journal gets the same
entries, in the same order, as if each fact had been written alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from temporalio import activity

from activities.contracts import (
    CaseUpdate,
    EarlyWarningRecord,
    EscalationRecord,
    EventRecord,
    LedgerFact,
    OpenCaseRequest,
    PaymentRecord,
    PlanRecord,
    PromiseRecord,
    ReceiptRecord,
    StepRecord,
    VisitRecord,
)
from adapters.ledger import Event, Ledger, LedgerTx


async def write_facts(tx: LedgerTx, case_id: str, facts: Sequence[LedgerFact]) -> None:
    """Every fact in order; runs of journal entries are appended together."""
    events: list[Event] = []
    for fact in facts:
        if isinstance(fact, EventRecord):
            events.append((fact.key, fact.kind, fact.at, fact.data))
            continue
        if isinstance(fact, ReceiptRecord):
            await tx.finish_attempt(fact.key, outcome=fact.outcome.value, distress=fact.distress)
            events.append((f"{fact.key}:receipt:{fact.outcome.value}", "receipt", fact.at,
                           {"attempt_key": fact.key, "outcome": fact.outcome.value, "distress": fact.distress}))
            continue
        await tx.append_sealed_events(case_id, events)
        events = []
        match fact:
            case OpenCaseRequest():
                await tx.open_case(**fact.model_dump(exclude={"fact"}))
            case CaseUpdate():
                values = fact.model_dump(exclude={"fact", "case_id"}, exclude_none=True)
                await tx.update_case(fact.case_id, **values | {"next_action_at": fact.next_action_at})
            case PromiseRecord():
                await tx.upsert_promise(**fact.model_dump(exclude={"fact"}))
            case VisitRecord():
                await tx.upsert_visit(**fact.model_dump(exclude={"fact"}, exclude_none=True))
            case PlanRecord():
                await tx.upsert_plan(**fact.model_dump(mode="json", exclude={"fact"}, exclude_none=True)
                                     | {"penalty_waived": fact.penalty_waived})
            case EscalationRecord():
                await tx.record_escalation(fact.case_id, fact.key, fact.kind.value, fact.reason, fact.at)
            case EarlyWarningRecord():
                await tx.upsert_early_warning(**fact.model_dump(exclude={"fact"}))
    await tx.append_sealed_events(case_id, events)


class LedgerActivities:
    def __init__(self, ledger: Ledger):
        self.ledger = ledger

    @activity.defn
    async def record_step(self, step: StepRecord) -> None:
        """What one step of a case owes the ledger, in one transaction."""
        async with self.ledger.transaction() as tx:
            await write_facts(tx, step.case_id, step.facts)

    @activity.defn
    async def record_payment(self, payment: PaymentRecord) -> None:
        """The payment row and what it changed (the case row, an overpayment owed back), together."""
        async with self.ledger.transaction() as tx:
            await tx.record_payment(**payment.model_dump(exclude={"owed"}))
            await write_facts(tx, payment.case_id, payment.owed)

    @activity.defn
    async def record_event(self, event: EventRecord) -> None:
        """One journal entry (a complaint's, which has no step of its own to ride with)."""
        await self.ledger.record_sealed_event(event.case_id, event.key, event.kind, event.at, event.data)

    @activity.defn
    async def hand_off(self, escalation: EscalationRecord) -> None:
        """A complaint's escalation to a supervisor: the ledger row is the hand-off's record."""
        await self.ledger.record_escalation(escalation.case_id, escalation.key, escalation.kind.value,
                                            escalation.reason, escalation.at)

    def all(self) -> list[Callable[..., Any]]:
        return [self.record_step, self.record_payment, self.record_event, self.hand_off]
