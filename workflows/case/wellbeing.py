"""6. Wellbeing hold: on distress (or a recorded vulnerability) all automated contact stops at once, the
borrower is referred to the crisis line, and a trained person reviews the case by a deadline (a missed
deadline goes to the supervisor). The reviewer's decision (`approve`) resumes gently or refers on."""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

from workflows.case import tasks
from workflows.case.core import CaseRun

with workflow.unsafe.imports_passed_through():
    from domain.enums import ApprovalKind, HandOff, Stage, TaskKind

REVIEWS = (ApprovalKind.WELLBEING_REVIEW, ApprovalKind.VULNERABILITY_REVIEW)


def enter_review(run: CaseRun, kind: ApprovalKind, why: str) -> None:
    """Stop all contact and hand the case to a trained person; for distress, refer to the crisis line."""
    line = run.config.rules.crisis_line
    if kind is ApprovalKind.WELLBEING_REVIEW:
        run.event("wellbeing_referral", {"crisis_line": line.model_dump(), "automated_contact": "stopped",
                                               "handed_to": "trained person"})
    run.s.review_due = run.now + run.config.policy.wellbeing.review_within
    run.ask_approval(kind, run.key("review"),
                           f"{why[0].upper()}{why[1:]}: review by a trained person (crisis line {line.number})")
    run.to_stage(Stage.WELLBEING_HOLD, why)


async def step(run: CaseRun) -> datetime | None:
    s = run.s
    if not any(a.kind in REVIEWS for a in s.approvals):  # decided: see `messages.approve`
        return run.now
    if s.review_due and run.now >= s.review_due:
        run.hand_off(HandOff.SUPERVISOR, "wellbeing review overdue")
        if s.desk is not None:
            tasks.make(run, TaskKind.REVIEW, "care", run.now + run.config.policy.desk.approval_within,
                       "a wellbeing or vulnerability review is overdue: decide it")
        s.review_due = None
    return run.plan_next("Wellbeing review by a trained person", s.review_due)
