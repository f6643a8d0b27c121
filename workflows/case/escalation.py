"""The end of a treatment's path: a hardship case goes to the hardship team; otherwise a credit-bureau
report and the legal / recovery hand-off (wilful non-payment), which a person approves, only once the
guard allows them (no hold, review, vulnerability or hard stop; the days past due the packs and policy
set; the borrower communicated with). A case that can never be handed off goes to a supervisor."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from temporalio import workflow

from workflows.case import contact, money, notices
from workflows.case.core import PERSON_BEFORE_HANDOFF, REACH_AND_LAPSE, CaseRun

with workflow.unsafe.imports_passed_through():
    from domain.enums import ApprovalKind, HandOff, HandOffStatus, Stage
    from domain.guard import GuardDecision, HandOffFacts, PlannedAction
    from domain.state import HandOffReview

ACTIONS: tuple[Literal["credit_report"], Literal["legal_handoff"]] = ("credit_report", "legal_handoff")


async def end_of_path(run: CaseRun, why: str) -> datetime | None:
    if not run.treatment.escalate_at_end:
        run.finish(Stage.REFERRED, HandOff.HARDSHIP_TEAM, f"{why}; referred to the hardship team")
        return None
    if not workflow.patched(PERSON_BEFORE_HANDOFF):
        return _at_once(run, why)
    s = run.s
    review = s.handoff
    if review is not None and review.status is HandOffStatus.REJECTED:
        run.finish(Stage.REFERRED, HandOff.SUPERVISOR, f"{review.why}; hand-off declined by {review.decided_by}")
        return None
    if notices.due(run, "default"):  # before any legal hand-off, and its days to remedy before it
        wait = await notices.send(run, "default")
        if wait is not None:
            return wait
    for action in ACTIONS:
        decision = contact.guard(run, PlannedAction(action=action), handoff=facts(run))
        if decision.rule == "handoff.credit_report_notice" and notices.due(run, "credit_report"):
            wait = await notices.send(run, "credit_report")  # told once nothing else stands in the way
            if wait is not None:
                return wait
            decision = contact.guard(run, PlannedAction(action=action), handoff=facts(run))
        if decision.allowed:
            continue
        if decision.rule == "handoff.arrears_notice" and not notices.address_known(run):  # no address to post to
            run.finish(Stage.REFERRED, HandOff.SUPERVISOR, f"{why}; no complete address for the arrears notice")
            return None
        if s.next_action is None or s.next_action.what != held(decision):  # journalled once, not every wake
            run.event("guard_decision", {"action": action, **decision.model_dump(mode="json")})
        if decision.verdict == "deny" and decision.rule.startswith(("handoff.", "hard_stop.")):  # never, here
            to = HandOff.WELLBEING_TEAM if decision.rule == "handoff.vulnerability" else HandOff.SUPERVISOR
            run.finish(Stage.REFERRED, to, f"{why}; not handed off: {decision.reason}")
            return None
        return run.plan_next(held(decision), decision.until)
    if review is None:
        review = s.handoff = HandOffReview(approval_id=run.key("handoff"), why=why)
        run.ask_approval(ApprovalKind.HANDOFF, review.approval_id,
                         f"Credit-bureau report and legal / recovery hand-off: {why}; "
                         f"{money.balance_today(run)} {run.case.loan.currency} unpaid, "
                         f"{run.days_past_due} days past due")
    if review.status is HandOffStatus.AWAITING_APPROVAL:
        return run.plan_next("Wait for a person's decision on the hand-off", None)
    arranged = f"; arrangement to pay {s.arrangement.value}" if s.arrangement else ""
    run.hand_off(HandOff.CREDIT_BUREAU,
                 f"delinquency of {money.balance_today(run)} {run.case.loan.currency} reported{arranged}")
    run.finish(Stage.ESCALATED, HandOff.LEGAL_RECOVERY,
               f"{review.why}; wilful non-payment: legal / recovery hand-off approved by {review.decided_by}")
    return None


def facts(run: CaseRun) -> HandOffFacts:
    s = run.s
    reached, messaged = s.reached_at, s.messaged_at
    if (reached is None or messaged is None) and workflow.patched(REACH_AND_LAPSE):
        if reached is None and s.counts.get("conversations"):  # it talked before these facts were kept
            reached = s.opened_at
        messaged = messaged or contact.first_delivered(run)
    return HandOffFacts(days_past_due=run.days_past_due, reached_at=reached, messaged_at=messaged,
                        vulnerability=s.vulnerability is not None, policy=run.config.policy.handoff,
                        default_notice_at=s.notices.get("default"), in_arrears=notices.in_arrears_now(run),
                        arrears_notice_at=s.notices.get("arrears"),
                        credit_report_notice_at=s.notices.get("credit_report"))


def held(decision: GuardDecision) -> str:
    return f"Hand-off held: {decision.reason}"


def _at_once(run: CaseRun, why: str) -> datetime | None:
    """Histories recorded before a person approved every hand-off."""
    for action in ACTIONS:
        decision = contact.guard(run, PlannedAction(action=action))
        if not decision.allowed:  # a hold or a review stands in the way: a person decides
            run.event("guard_decision", {"action": action, **decision.model_dump(mode="json")})
            return run.plan_next(f"Hand-off held: {decision.reason}", None)
    run.hand_off(HandOff.CREDIT_BUREAU, f"delinquency of {money.balance_today(run)} {run.case.loan.currency} reported")
    run.finish(Stage.ESCALATED, HandOff.LEGAL_RECOVERY, f"{why}; wilful non-payment: legal / recovery hand-off")
    return None
