"""Statutory notices, by post, where the case's packs require them: the US validation notice at the
start of collection (12 CFR 1006.34: the debt and the right to dispute it in writing within the
validation period) and the UK default notice before any legal hand-off (CCA 1974 ss.87, 88: at least
14 days to remedy). Each is a template, an attempt in the contact ledger and a `notice_sent` entry."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

from workflows.case import contact
from workflows.case.core import NOTICES, CaseRun

with workflow.unsafe.imports_passed_through():
    from domain import clock
    from domain.enums import Channel
    from domain.guard import PlannedAction

TEMPLATES = {"validation": "validation_notice", "default": "default_notice"}


def due(run: CaseRun, kind: str) -> bool:
    """The packs require this notice and it has not been posted (checked behind the patch)."""
    rules = run.config.rules
    required = rules.validation_notice is not None if kind == "validation" else rules.default_notice_days is not None
    return required and kind not in run.s.notices and workflow.patched(NOTICES)


def dates(run: CaseRun, kind: str) -> dict[str, str]:
    """The notice's own dates, in the borrower's calendar: when the validation period ends, or by when the
    default can be remedied."""
    rules, tz = run.config.rules, run.case.borrower.timezone
    if kind == "validation":
        v = rules.validation_notice
        assert v is not None
        ends = run.now + timedelta(days=v.assumed_receipt_days + v.validation_days)
        return {"validation_ends": clock.local(ends, tz).date().isoformat()}
    assert rules.default_notice_days is not None
    return {"remedy_by": clock.local(run.now + timedelta(days=rules.default_notice_days), tz).date().isoformat()}


async def send(run: CaseRun, kind: str) -> datetime | None:
    """Post the notice (the guard allows a required notice unless a hard stop or a review stands); return
    when to look again if it could not go now."""
    async with run.lock:
        decision = contact.guard(run, PlannedAction(channel=Channel.LETTER))
        if decision.allowed:
            extra = dates(run, kind)
            await contact.send(run, Channel.LETTER, TEMPLATES[kind], None, contact.address_text(run), None, decision,
                               f"Post the {kind} notice", extra=extra)
            run.s.notices[kind] = run.now
            run.event("notice_sent", {"kind": kind, **extra})
            return None
    contact.record_guard(run, decision, Channel.LETTER)
    return run.plan_next(f"The {kind} notice waits: {decision.reason}", decision.until)
