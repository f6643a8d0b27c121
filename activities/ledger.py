"""Ledger activities: what the case did, written to Postgres once per idempotency key."""

from __future__ import annotations

from temporalio import activity

from activities.contracts import (
    CaseUpdate,
    EscalationRecord,
    EventRecord,
    OpenCaseRequest,
    PaymentRecord,
    PlanRecord,
    PromiseRecord,
    ReceiptRecord,
    VisitRecord,
)
from adapters.ledger import Ledger


class LedgerActivities:
    def __init__(self, ledger: Ledger):
        self.ledger = ledger

    @activity.defn
    async def open_case(self, request: OpenCaseRequest) -> None:
        await self.ledger.open_case(**request.model_dump())

    @activity.defn
    async def update_case(self, request: CaseUpdate) -> None:
        values = request.model_dump(exclude={"case_id"}, exclude_none=True)
        await self.ledger.update_case(request.case_id, **values)

    @activity.defn
    async def record_event(self, event: EventRecord) -> None:
        await self.ledger.record_event(event.case_id, event.key, event.kind, event.at, event.data)

    @activity.defn
    async def record_receipt(self, receipt: ReceiptRecord) -> None:
        await self.ledger.finish_attempt(receipt.key, outcome=receipt.outcome.value, distress=receipt.distress)
        await self.ledger.record_event(receipt.case_id, f"{receipt.key}:receipt:{receipt.outcome.value}", "receipt",
                                       receipt.at, {"attempt_key": receipt.key, "outcome": receipt.outcome.value,
                                                    "distress": receipt.distress})

    @activity.defn
    async def record_payment(self, payment: PaymentRecord) -> None:
        await self.ledger.record_payment(**payment.model_dump())

    @activity.defn
    async def record_promise(self, promise: PromiseRecord) -> None:
        await self.ledger.upsert_promise(**promise.model_dump())

    @activity.defn
    async def record_visit(self, visit: VisitRecord) -> None:
        await self.ledger.upsert_visit(**visit.model_dump(exclude_none=True))

    @activity.defn
    async def record_plan(self, plan: PlanRecord) -> None:
        await self.ledger.upsert_plan(
            **plan.model_dump(mode="json", exclude_none=True) | {"penalty_waived": plan.penalty_waived})

    @activity.defn
    async def hand_off(self, escalation: EscalationRecord) -> None:
        """Legal / recovery or specialist hand-off: the ledger row is the hand-off's record."""
        await self.ledger.record_escalation(**escalation.model_dump())

    def all(self) -> list:
        return [self.open_case, self.update_case, self.record_event, self.record_receipt, self.record_payment,
                self.record_promise, self.record_visit, self.record_plan, self.hand_off]
