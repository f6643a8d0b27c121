"""The end of a treatment's path: a hardship case goes to the hardship team; otherwise, when the guard
allows it, a credit-bureau report and the legal / recovery hand-off (wilful non-payment)."""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

from workflows.case import contact
from workflows.case.core import CaseRun

with workflow.unsafe.imports_passed_through():
    from domain.enums import HandOff, Stage
    from domain.guard import PlannedAction


def end_of_path(run: CaseRun, why: str) -> datetime | None:
    if not run.treatment.escalate_at_end:
        run.finish(Stage.REFERRED, HandOff.HARDSHIP_TEAM, f"{why}; referred to the hardship team")
        return None
    for action in ("credit_report", "legal_handoff"):
        decision = contact.guard(run, PlannedAction(action=action))
        if not decision.allowed:  # a hold or a review stands in the way: a person decides
            run.event("guard_decision", {"action": action, **decision.model_dump(mode="json")})
            return run.plan_next(f"Hand-off held: {decision.reason}", None)
    run.hand_off(HandOff.CREDIT_BUREAU,
                       f"delinquency of {run.s.balance} {run.case.loan.currency} reported")
    run.finish(Stage.ESCALATED, HandOff.LEGAL_RECOVERY,
                     f"{why}; wilful non-payment: legal / recovery hand-off")
    return None
