"""`Complaint`: one borrower complaint, answered quickly, with its facts and its outcome on record.

A child of the case, so the case can hold contact while it is open. It keeps two service-level
timers (acknowledge within, resolve within) and escalates to a supervisor when one is missed; it
ends when a person resolves it (explanation, and compensation where due), and tells the case.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow

from workflows import ledger

with workflow.unsafe.imports_passed_through():
    from domain.case_input import workflow_id_for
    from domain.enums import HandOff
    from domain.messages import ComplaintAcknowledgement, ComplaintClosed, ComplaintInput, ComplaintResolution


@workflow.defn(name="Complaint")
class Complaint:
    @workflow.init
    def __init__(self, complaint: ComplaintInput) -> None:
        self.c = complaint
        self.acknowledged_by: str | None = None
        self.resolution: ComplaintResolution | None = None
        self.late: set[str] = set()

    @workflow.run
    async def run(self, complaint: ComplaintInput) -> ComplaintClosed:
        opened = workflow.now()
        await self._event("complaint_opened", {"complaint_id": self.c.complaint_id, **self.c.request.model_dump(
            include={"category", "channel"})})
        for stage, deadline, done in (
            ("acknowledge", opened + self.c.acknowledge_within, lambda: self.acknowledged_by is not None),
            ("resolve", opened + self.c.resolve_within, lambda: self.resolution is not None),
        ):
            try:
                await workflow.wait_condition(
                    done, timeout=max(timedelta(0), deadline - workflow.now()),
                    timeout_summary=f"Complaint SLA: {stage} by {deadline:%Y-%m-%d %H:%M} UTC")
            except TimeoutError:
                self.late.add(stage)
                await ledger.hand_off(self.c.case_id, f"{self.c.complaint_id}:sla-{stage}", HandOff.SUPERVISOR,
                                      f"complaint {self.c.complaint_id}: {stage} SLA missed", workflow.now(),
                                      f"Escalate: {stage} SLA missed")
                await workflow.wait_condition(done)
        assert self.resolution is not None
        closed = ComplaintClosed(complaint_id=self.c.complaint_id, upheld=self.resolution.upheld,
                                 compensation=self.resolution.compensation,
                                 acknowledged_late="acknowledge" in self.late, resolved_late="resolve" in self.late)
        await self._event("complaint_resolved", closed.model_dump(mode="json") | {
            "explanation": self.resolution.explanation, "by": self.resolution.by, "currency": self.c.currency})
        await workflow.get_external_workflow_handle(workflow_id_for(self.c.case_id)).signal("complaint_closed", closed)
        return closed

    @workflow.update
    async def acknowledge(self, ack: ComplaintAcknowledgement) -> str:
        self.acknowledged_by = ack.by
        await self._event("complaint_acknowledged", {"complaint_id": self.c.complaint_id, "by": ack.by})
        return "acknowledged"

    @acknowledge.validator
    def _check_ack(self, ack: ComplaintAcknowledgement) -> None:
        if self.acknowledged_by is not None:
            raise ValueError(f"already acknowledged by {self.acknowledged_by}")

    @workflow.update
    async def resolve(self, resolution: ComplaintResolution) -> str:
        self.acknowledged_by = self.acknowledged_by or resolution.by
        self.resolution = resolution
        return "resolved"

    @resolve.validator
    def _check_resolve(self, resolution: ComplaintResolution) -> None:
        if self.resolution is not None:
            raise ValueError("already resolved")

    @workflow.query
    def status(self) -> dict[str, Any]:
        return {"complaint_id": self.c.complaint_id, "acknowledged_by": self.acknowledged_by,
                "resolved": self.resolution is not None, "late": sorted(self.late)}

    async def _event(self, kind: str, data: dict[str, Any]) -> None:
        await ledger.record_event(self.c.case_id, f"{self.c.complaint_id}:{kind}", kind, workflow.now(), data)
