"""The case's books in the workflow: opened with the case, accrued only where money moves or a freeze starts
or ends (not on every wake: a case costs no more than its business needs), shown today by projection.
Every movement is a journal entry with its amounts, so an auditor recomputes every balance
(`domain.compliance`). The arithmetic is `domain.books`; this decides when, and keeps `balance` in step.
Cases opened before the balance engine (no `books`) keep the balance as they always did."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from temporalio import workflow

from workflows.case.core import BOOKS, CaseRun

with workflow.unsafe.imports_passed_through():
    from domain import books as ledger_books
    from domain import clock
    from domain.balance import Accrual
    from domain.books import AppliedPayment, Books
    from domain.enums import HardStop, HoldKind, PlanStatus, ReliefStatus

FREEZING_STOPS = (HardStop.BANKRUPTCY, HardStop.DECEASED)


def open_books(run: CaseRun) -> None:
    """At the case's start (new cases only: the decision is kept in the state, so it is made once)."""
    if not workflow.patched(BOOKS):
        return
    config, loan = run.config, run.case.loan
    books = ledger_books.open_books(loan, config.rules.charges, config.policy.books, today(run))
    run.s.books = books
    run.s.balance = books.balance
    run.event("books_opened", {
        "currency": books.currency, "on": books.opened_on.isoformat(), **_owed(books),
        "terms": books.terms.model_dump(mode="json"), "caps": books.caps.model_dump(mode="json"),
        "order": list(books.order)})


def today(run: CaseRun) -> date:
    return clock.local(run.now, run.case.borrower.timezone).date()


def freeze_reasons(run: CaseRun) -> set[str]:
    """What stops accrual now: a moratorium (where the packs say so), a dispute, an arrangement kept (where
    the policy says so), death or bankruptcy, an accepted relief offer's freeze."""
    s, config = run.s, run.config
    reasons = set()
    if s.flags.hold(HoldKind.MORATORIUM) and config.rules.charges.freeze_in_moratorium:
        reasons.add("moratorium")
    if s.flags.hold(HoldKind.DISPUTE):
        reasons.add("dispute")
    if s.plan is not None and s.plan.status is PlanStatus.ACTIVE and config.policy.books.freeze_during_plan:
        reasons.add("plan")
    if any(stop in s.flags.hard_stops for stop in FREEZING_STOPS):
        reasons.add("hard_stop")
    if any(o.status is ReliefStatus.ACCEPTED and o.kind in ("interest_freeze", "token_payment")
           and o.review_at is not None and run.now < o.review_at for o in s.offers):
        reasons.add("relief")
    return reasons


def sync(run: CaseRun) -> None:
    """Start or end freezes as the case now stands, accruing up to today first so each day is judged by
    the freezes of its own time."""
    books = run.s.books
    if books is None or run.s.stage.terminal:
        return
    reasons = freeze_reasons(run)
    if reasons == books.open_freezes():
        return
    accrue(run)
    started, ended = ledger_books.set_freezes(books, reasons, today(run))
    for reason in started:
        run.event("freeze_started", {"reason": reason, "on": today(run).isoformat()})
    for reason in ended:
        run.event("freeze_ended", {"reason": reason, "on": today(run).isoformat()})


def accrue(run: CaseRun, until: date | None = None) -> list[Accrual]:
    """Accrue every day before `until` (today) not yet accrued; journalled with the balance after."""
    books = run.s.books
    assert books is not None
    periods = ledger_books.accrue_to(books, until or today(run))
    run.s.balance = books.balance
    if periods:
        run.event("accrued", {"periods": [p.model_dump(mode="json") for p in periods],
                              "frozen": sorted(books.open_freezes()), **_owed(books)})
    return periods


def pay(run: CaseRun, reference: str, amount: Decimal, paid_at: datetime) -> AppliedPayment:
    """Apply a payment: accrue to its day (or to today, if later days have accrued), then allocate."""
    books = run.s.books
    assert books is not None
    sync(run)
    day = clock.local(paid_at, run.case.borrower.timezone).date()
    accrue(run, max(day, books.accrued_to))
    applied = ledger_books.pay(books, reference, amount, max(day, books.accrued_to))
    run.s.balance = books.balance
    run.event("payment_applied", {"reference": reference, "amount": str(amount),
                                  "allocation": applied.allocation.model_dump(mode="json"), **_owed(books),
                                  "balance_after": str(books.balance)})
    return applied


def waive_penalty(run: CaseRun, why: str, amount: Decimal | None = None) -> Decimal:
    waived = ledger_books.waive_penalty(_accrued(run), amount)
    _journal(run, "penalty_waived", {"amount": str(waived), "why": why})
    return waived


def write_off(run: CaseRun, why: str, refund: Decimal = Decimal(0)) -> Decimal:
    """Write off what is left; `refund` was paid beyond what was agreed: a credit, and written off too."""
    amount = ledger_books.write_off(_accrued(run), refund)
    _journal(run, "written_off", {"amount": str(amount), "why": why})
    return amount


def correct(run: CaseRun, total: Decimal, why: str) -> None:
    """A dispute's corrected balance, on the books by component."""
    cut = ledger_books.correct(_accrued(run), total)
    _journal(run, "balance_corrected", {"by": str(cut), "why": why})


def _accrued(run: CaseRun) -> Books:
    """The books accrued to today: money is about to move."""
    books = run.s.books
    assert books is not None
    accrue(run)
    return books


def _journal(run: CaseRun, kind: str, data: dict[str, str]) -> None:
    """The balance in step with the books, and the movement journalled with the balance by component."""
    books = run.s.books
    assert books is not None
    run.s.balance = books.balance
    run.event(kind, {**data, **_owed(books)})


def plan_cost(run: CaseRun, end: datetime, waived: Decimal) -> Decimal:
    """What an arrangement to pay forgoes: the accrual it freezes until `end` (where the policy freezes it),
    and any penalty it waives."""
    books = run.s.books
    assert books is not None
    if not run.config.policy.books.freeze_during_plan:
        return waived
    last = clock.local(end, run.case.borrower.timezone).date()
    return ledger_books.forgone(books, today(run), last) + waived


def close(run: CaseRun) -> None:
    """The case ends: accrual up to today, so its last balance is today's."""
    if run.s.books is not None:
        accrue(run)


def balance_today(run: CaseRun) -> Decimal:
    """What the borrower owes today (the books projected; without books, the balance): what a message, a
    notice, a promise or a hand-off quotes."""
    books = shown(run)
    return books.balance if books is not None else run.s.balance


def shown(run: CaseRun) -> Books | None:
    """The books as they stand today (projected: nothing recorded), for the status and the statement."""
    books = run.s.books
    if books is None:
        return None
    return books if run.s.stage.terminal else ledger_books.projected(books, today(run))


def _owed(books: Books) -> dict[str, str]:
    owed = books.owed
    return {"principal": str(owed.principal), "interest": str(owed.interest), "penalty": str(owed.penalty),
            "fees": str(owed.fees), "balance": str(owed.total)}


def end_offer(run: CaseRun, offer_id: str, status: ReliefStatus, why: str) -> None:
    """A relief offer ends (lapsed, reviewed, broken, completed): journalled, and its freeze, if any, ends."""
    made = next((o for o in run.s.offers if o.offer_id == offer_id), None)
    if made is None or not made.live:
        return
    made.status = status
    run.wake = True
    kind = {ReliefStatus.LAPSED: "relief_lapsed", ReliefStatus.REVIEWED: "relief_reviewed",
            ReliefStatus.BROKEN: "relief_broken"}.get(status, "relief_completed")
    run.event(kind, {"offer_id": made.offer_id, "kind": made.kind, "why": why})
    sync(run)
