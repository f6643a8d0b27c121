"""An operator at the desk, for drills and live tests: decides the hand-offs cases ask a person for, as
someone would from the Web UI (find the cases by their `CaseFlags`, read each, approve)."""

from __future__ import annotations

import asyncio
import contextlib

from temporalio.client import Client
from temporalio.service import RPCError

from domain.enums import ApprovalKind
from domain.messages import ApprovalDecision
from service.cases import Cases, CaseServiceError

AWAITING = 'WorkflowType="OverdueCase" AND ExecutionStatus="Running" AND CaseFlags="awaiting_handoff"'


async def approve_handoffs(client: Client, cases: Cases, stop: asyncio.Event, by: str = "drill-supervisor",
                           every: float = 1.0) -> int:
    """Approve every pending hand-off until `stop`; how many were approved. Faults (a server restart,
    a case closed meanwhile) only delay a decision to the next round."""
    approved = 0
    while not stop.is_set():
        try:
            ids = [w.id.removeprefix("case-") async for w in client.list_workflows(AWAITING)]
        except RPCError:
            ids = []
        for case_id in ids:
            try:
                status = await cases.status(case_id, fresh=True)
                for pending in status.pending_approvals:
                    if pending.kind is ApprovalKind.HANDOFF:
                        await cases.approve(case_id, ApprovalDecision(approval_id=pending.approval_id, approve=True,
                                                                      decided_by=by))
                        approved += 1
            except (CaseServiceError, RPCError):
                continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
    return approved
