"""What people see of a case: the `status` query, the Web UI's current details, and the search
attributes operators filter on (upserted only when they change; never personal data)."""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

from workflows import search
from workflows.case import money
from workflows.case.core import LEANER_STEPS, REACH_AND_LAPSE, CaseRun

with workflow.unsafe.imports_passed_through():
    from domain import clock
    from domain import statement as statements
    from domain.enums import Stage
    from domain.statement import Statement
    from domain.status import CaseStatus


def statement(run: CaseRun) -> Statement | None:
    """Today's statement (projected: the books record nothing for a query)."""
    books = run.s.books
    if books is None:
        return None
    locale, tz = run.s.locale or run.case.borrower.locale, run.case.borrower.timezone
    with workflow.unsafe.sandbox_unrestricted():  # Babel reads CLDR's data files once: deterministic
        return statements.build(run.case_id, books, money.today(run), run.s.offers, locale, tz, run.s.stage.terminal)


def status(run: CaseRun) -> CaseStatus:
    s = run.s
    drawn = statement(run) if s.config else None  # the books projected once, for the balance and the statement
    return CaseStatus(
        case_id=run.case_id, stage=s.stage, segment=s.assessment.segment if s.assessment else None,
        currency=run.case.loan.currency, balance=drawn.total if drawn is not None else s.balance,
        total_paid=s.total_paid,
        days_past_due=run.days_past_due, flags=s.flags.active(), contact_counts=dict(s.counts),
        last_contacts=s.attempts[-5:], pending_promise=s.promise, plan=s.plan, visit=s.visit,
        pending_approvals=s.approvals, vulnerability=s.vulnerability, next_action=s.next_action,
        verification_missing=s.verification.missing if s.verification else [],
        policy=run.case.policy, rule_packs=run.config.rules.packs if s.config else [], run=s.runs,
        statement=drawn,
        offers=[o for o in s.offers if o.live],
    )


def publish(run: CaseRun) -> None:
    """Search attributes for operators' lists (when they change), and the live current details."""
    s = run.s
    values = search.case_attributes(
        s.stage, s.assessment.segment.value if s.assessment else None, run.case.borrower.country,
        run.days_past_due, float(s.balance), shown_flags(run) + (["promise"] if s.promise else [])
        + [f"awaiting_{a.kind.value}" for a in s.approvals],
        next_action_at(run),
    )
    changes = search.updates(values, run.published)
    if changes:
        workflow.upsert_search_attributes(changes)
        run.published = values
    workflow.set_current_details(details(run))


def shown_flags(run: CaseRun) -> list[str]:
    flags = run.s.flags
    return flags.active(hard_stop_kinds=bool(flags.hard_stops) and not workflow.patched(REACH_AND_LAPSE))


def next_action_at(run: CaseRun) -> datetime | None:
    """When a case next needs work. A paid case's light reminders are none: it leaves the due lists
    (and its reminders cost no upsert each)."""
    s = run.s
    if s.next_action is None or s.stage.terminal:
        return None
    if s.stage is Stage.RELATIONSHIP and workflow.patched(LEANER_STEPS):
        return None
    return s.next_action.at


def details(run: CaseRun) -> str:
    """The case at a glance, for the Web UI (a query, not stored in history); times in the borrower's zone."""
    s, loan, tz = run.s, run.case.loan, run.case.borrower.timezone
    books = money.shown(run)
    balance = books.balance if books is not None else s.balance
    lines = [f"### {s.stage.value.replace('_', ' ').capitalize()}"
             + (f" · {s.assessment.segment.value.replace('_', ' ')}" if s.assessment else ""),
             f"**Balance** {balance} {loan.currency} (paid {s.total_paid}) · **{run.days_past_due}** days past due"]
    if s.flags.active():
        lines.append("**Flags** " + ", ".join(s.flags.active()))
    if s.next_action:
        when = f" at {clock.local(s.next_action.at, tz):%Y-%m-%d %H:%M} {tz}" if s.next_action.at else ""
        lines.append(f"**Next** {s.next_action.what}{when}")
    for item in s.approvals:
        lines.append(f"**Awaiting approval** {item.summary} (`{item.approval_id}`)")
    if s.promise:
        lines.append(f"**Promise** {s.promise.amount} by {s.promise.due_date}")
    if books is not None:
        owed = books.owed
        lines.append(f"**Owed** principal {owed.principal} · interest {owed.interest} · penalty {owed.penalty}"
                     f" · fees {owed.fees}" + (f" · frozen: {', '.join(sorted(books.open_freezes()))}"
                                               if books.open_freezes() else ""))
    for offer in s.offers:
        if offer.live:
            lines.append(f"**Relief** {offer.kind.replace('_', ' ')} {offer.status.value} until "
                         f"{clock.local(offer.review_at or offer.expires_at, tz):%Y-%m-%d} (`{offer.offer_id}`)")
    if s.attempts:
        lines.append("**Last contacts**")
        lines += [f"- {clock.local(a.at, tz):%m-%d %H:%M} {a.channel.value} → {a.outcome.value}"
                  for a in s.attempts[-5:]]
    return "\n\n".join(lines[:4]) + ("\n\n" + "\n".join(lines[4:]) if lines[4:] else "")
