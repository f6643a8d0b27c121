"""Statutory notices, by post, where the case's packs require them: the US validation notice at the
start of collection (12 CFR 1006.34: the debt and the right to dispute it in writing within the
validation period), the UK arrears notice once the shortfall reaches the last instalments and again
while it lasts (CCA 1974 s.86B), the UK default notice before any legal hand-off (ss.87, 88: at least
14 days to remedy), a notice of an initial field visit, its purpose and date (CONC 7.9.12R), and in China
a notice before adverse information is reported (征信业管理条例 Art. 15). Each is a template, an attempt in
the contact ledger and a `notice_sent` entry."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from temporalio import workflow

from workflows.case import contact, money
from workflows.case.core import MORE_NOTICES, NOTICES, CaseRun

with workflow.unsafe.imports_passed_through():
    from domain import clock
    from domain.enums import Channel
    from domain.guard import PlannedAction
    from domain.notices import arrears_arise_at, arrears_notice_due, shortfall

Kind = Literal["validation", "default", "arrears", "visit", "credit_report"]
TEMPLATES = {"validation": "validation_notice", "default": "default_notice", "arrears": "arrears_notice",
             "visit": "visit_notice", "credit_report": "credit_report_notice"}


def due(run: CaseRun, kind: Kind) -> bool:
    """The packs require this notice now and it has not been posted (checked behind its patch). Notices of
    the collection itself wait for a complete address; the validation and default notices go as before."""
    rules = run.config.rules
    match kind:
        case "validation" | "default":
            required = rules.validation_notice is not None if kind == "validation" else rules.default_notice_days
            return bool(required) and kind not in run.s.notices and workflow.patched(NOTICES)
        case "arrears":
            at = next_arrears(run)
            return at is not None and run.now >= at
        case "visit" | "credit_report":
            required = rules.visit_notice_days is not None if kind == "visit" else rules.credit_report_notice
            return required and kind not in run.s.notices and address_known(run) and workflow.patched(MORE_NOTICES)


def address_known(run: CaseRun) -> bool:
    return run.s.verification is not None and run.s.verification.address_complete


def first_message_goes_with_validation(run: CaseRun) -> bool:
    """The US validation notice goes with the first message (the verification SMS) when the address is
    known; otherwise at the start of remote contact, as before."""
    return (run.config.rules.validation_notice is not None and "validation" not in run.s.notices
            and address_known(run) and workflow.patched(MORE_NOTICES) and due(run, "validation"))


def next_arrears(run: CaseRun) -> datetime | None:
    """When the next arrears notice is due, once there is an address to post it to (None: none required)."""
    rule = run.config.rules.arrears_notice
    if rule is None or not address_known(run) or not workflow.patched(MORE_NOTICES):
        return None
    s = run.s
    return arrears_notice_due(rule, run.case.loan.instalments, s.opened_at or run.now, s.total_paid, s.balance,
                              s.notices.get("arrears"), s.arrears_arose)


def _arising(run: CaseRun) -> datetime | None:
    rule, s = run.config.rules.arrears_notice, run.s
    if rule is None:
        return None
    return arrears_arise_at(rule, run.case.loan.instalments, s.opened_at or run.now, s.total_paid, s.balance)


async def post_arrears(run: CaseRun) -> datetime | None:
    """Post the arrears notice if it is due; return when the next one is (or when to try again). When the
    arrears first arise is kept, address or not: the first notice is owed from then."""
    if run.config.rules.arrears_notice is not None and run.s.arrears_arose is None \
            and workflow.patched(MORE_NOTICES):
        arises = _arising(run)
        if arises is not None and arises <= run.now:
            run.s.arrears_arose = arises
    if not due(run, "arrears"):
        return next_arrears(run)
    before = run.s.notices.get("arrears")
    retry = await send(run, "arrears")
    return next_arrears(run) if run.s.notices.get("arrears") != before else retry


def in_arrears_now(run: CaseRun) -> bool:
    """The arrears have arisen, as the packs' arrears notice counts them (a fact the hand-off is judged on)."""
    arises = _arising(run)
    return run.s.arrears_arose is not None or (arises is not None and arises <= run.now)


def dates(run: CaseRun, kind: Kind) -> dict[str, str]:
    """The notice's own dates, in the borrower's calendar: when the validation period ends, by when the
    default can be remedied, from when a visit may come."""
    rules, tz = run.config.rules, run.case.borrower.timezone

    def day(at: datetime) -> str:
        return clock.local(at, tz).date().isoformat()

    match kind:
        case "validation":
            v = rules.validation_notice
            assert v is not None
            return {"validation_ends": day(run.now + timedelta(days=v.assumed_receipt_days + v.validation_days))}
        case "default":
            assert rules.default_notice_days is not None
            return {"remedy_by": day(run.now + timedelta(days=rules.default_notice_days))}
        case "visit":
            return {"visit_from": day(visit_from(run))}
        case "arrears":
            schedule, s = run.case.loan.instalments, run.s
            owed = money.balance_today(run) if schedule is None else shortfall(
                schedule, s.opened_at or run.now, run.now, s.total_paid, s.balance)
            return {"arrears": str(owed)}
    return {}


def visit_from(run: CaseRun) -> datetime:
    """The earliest a noticed visit may come: the pack's days after the notice, or the policy's after the
    approval, whichever is later."""
    days = run.config.rules.visit_notice_days
    assert days is not None
    earliest = run.now + timedelta(days=days)
    return max(earliest, run.s.next_step_at or earliest)


async def send(run: CaseRun, kind: Kind) -> datetime | None:
    """Post the notice (the guard allows a required notice unless a hard stop or a review stands); return
    when to look again if it could not go now."""
    async with run.lock:
        decision = contact.guard(run, PlannedAction(channel=Channel.LETTER, notice=True))
        if decision.allowed:
            extra = dates(run, kind)
            await contact.send(run, Channel.LETTER, TEMPLATES[kind], None, contact.address_text(run), None, decision,
                               f"Post the {kind} notice", extra=extra)
            run.s.notices[kind] = run.now
            run.event("notice_sent", {"kind": kind, **extra})
            return None
    if run.first_refusal(kind, decision.rule) or not workflow.patched(MORE_NOTICES):
        contact.record_guard(run, decision, Channel.LETTER)
    return run.plan_next(f"The {kind} notice waits: {decision.reason}", decision.until)
