"""A case's books: what the borrower owes by component, accrued day by day in the borrower's calendar
from the loan's terms (`domain.balance`), with every accrual, payment, freeze, waiver and write-off kept
for the statement and the journal.

The workflow decides *when* (`workflows/case/money.py`): it accrues only where money moves or a freeze
starts or ends, never on every wake, and shows today's figures by projection. This module decides *how
much*, purely. Statement periods run monthly from the day the case opened; an accrual that crosses a
period's start is split there, so each period's figures stand on their own.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from pydantic import Field

from domain.balance import Accrual, Allocation, Caps, Freeze, Owed, Terms, accrue, allocate
from domain.money import minor_unit
from domain.policy import ALLOCATION_ORDER, BooksPolicy, Charges, Component
from domain.values import Model

if TYPE_CHECKING:
    from domain.case_input import Loan  # the case input carries the state, which carries the books

ZERO = Decimal(0)


class AppliedPayment(Model):
    """One payment as the books applied it."""

    reference: str
    on: date
    amount: Decimal
    allocation: Allocation
    balance_after: Decimal


class Books(Model):
    """The case's money: carried across continue-as-new, rebuilt by an auditor from the journal."""

    currency: str
    terms: Terms
    caps: Caps
    order: tuple[Component, ...] = ALLOCATION_ORDER
    opened_on: date
    owed: Owed
    accrued_to: date  # accrual has run for every day before this one
    freezes: list[Freeze] = Field(default_factory=list)
    accruals: list[Accrual] = Field(default_factory=list)
    payments: list[AppliedPayment] = Field(default_factory=list)
    waived: Decimal = ZERO
    written_off: Decimal = ZERO
    credit: Decimal = ZERO  # paid beyond what was owed: a refund due to the borrower

    @property
    def unit(self) -> Decimal:
        return minor_unit(self.currency)

    @property
    def balance(self) -> Decimal:
        return self.owed.total

    def open_freezes(self) -> set[str]:
        return {f.reason for f in self.freezes if f.end is None}


def open_books(loan: Loan, charges: Charges, policy: BooksPolicy, today: date) -> Books:
    """The books as the loan system hands the case over: its balance split into penalty (what it says has
    accrued), principal (at most the loan's), and interest (the rest)."""
    balance = loan.outstanding_balance
    penalty = min(loan.penalties_accrued, balance)
    principal = min(loan.principal, balance - penalty)
    terms = Terms(annual_interest_rate=loan.annual_interest_rate if policy.accrue else ZERO,
                  daily_penalty_rate=loan.daily_penalty_rate if policy.accrue else ZERO)
    return Books(
        currency=loan.currency, terms=terms,
        caps=Caps(annual_cost_rate=charges.annual_cost_cap, penalty_allowed=charges.penalty_allowed),
        order=policy.allocation_order or charges.allocation_order or ALLOCATION_ORDER, opened_on=today,
        owed=Owed(principal=principal, penalty=penalty, interest=balance - penalty - principal), accrued_to=today)


def months_after(start: date, months: int) -> date:
    """The same day of the month `months` later (the month's last day where it has fewer)."""
    month = start.month - 1 + months
    year, month = start.year + month // 12, month % 12 + 1
    for day in (start.day, 30, 29, 28):
        try:
            return date(year, month, day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def period_start(opened_on: date, today: date) -> date:
    """The start of the statement period `today` falls in (monthly from the day the case opened)."""
    months = (today.year - opened_on.year) * 12 + today.month - opened_on.month
    start = months_after(opened_on, max(months, 0))
    return start if start <= today else months_after(opened_on, max(months - 1, 0))


def next_period_start(opened_on: date, day: date) -> date:
    """The first statement period's start after `day`."""
    months = (day.year - opened_on.year) * 12 + day.month - opened_on.month
    return next(start for k in range(max(months, 0), months + 3) if (start := months_after(opened_on, k)) > day)


def accrue_to(books: Books, day: date) -> list[Accrual]:
    """Accrue every day before `day` not yet accrued, split at statement periods' starts."""
    added: list[Accrual] = []
    while books.accrued_to < day:
        end = min(day, next_period_start(books.opened_on, books.accrued_to))
        books.owed, accrual = accrue(books.owed, books.terms, books.caps, books.accrued_to, end, books.freezes,
                                     books.unit)
        books.accrued_to = end
        added.append(accrual)
    books.accruals += added
    return added


def set_freezes(books: Books, reasons: set[str], day: date) -> tuple[list[str], list[str]]:
    """Open a freeze for each reason now in force, close those no longer in force (accrue to `day` first).
    Returns the reasons started and ended."""
    current = books.open_freezes()
    started, ended = sorted(reasons - current), sorted(current - reasons)
    books.freezes = [f.model_copy(update={"end": day}) if f.end is None and f.reason in ended else f
                     for f in books.freezes]
    books.freezes += [Freeze(start=day, reason=reason) for reason in started]  # type: ignore[arg-type]
    return started, ended


def pay(books: Books, reference: str, amount: Decimal, day: date) -> AppliedPayment:
    """Apply a payment in the books' order (accrue to `day` first); beyond what is owed is a credit."""
    books.owed, allocation = allocate(books.owed, amount, books.unit, books.order)
    books.credit += allocation.overpaid
    applied = AppliedPayment(reference=reference, on=day, amount=amount, allocation=allocation,
                             balance_after=books.balance)
    books.payments.append(applied)
    return applied


def waive_penalty(books: Books, amount: Decimal | None = None) -> Decimal:
    """Waive accrued penalty interest (all of it, or up to `amount`); returns what was waived."""
    waived = books.owed.penalty if amount is None else min(amount, books.owed.penalty)
    books.owed = books.owed.model_copy(update={"penalty": books.owed.penalty - waived})
    books.waived += waived
    return waived


def write_off(books: Books, refund: Decimal = ZERO) -> Decimal:
    """Write off all that is left (a settlement paid): nothing more is owed or accrues. `refund`: paid beyond
    what the settlement asked, owed back to the borrower (a credit), so written off with the rest."""
    amount = books.balance + refund
    books.owed = Owed(principal=ZERO.quantize(books.unit))
    books.credit += refund
    books.written_off += amount
    return amount


def correct(books: Books, total: Decimal) -> Decimal:
    """A dispute's corrected balance: what is struck off comes off fees, penalty, interest and then principal
    (what the correction found not owed). Returns the reduction (negative: the balance rose)."""
    cut = books.balance - total
    if cut < 0:
        books.owed = books.owed.model_copy(update={"principal": books.owed.principal - cut})
        return cut
    left, parts = cut, {}
    for component in ("fees", "penalty", "interest", "principal"):
        taken = min(getattr(books.owed, component), left)
        parts[component] = getattr(books.owed, component) - taken
        left -= taken
    books.owed = books.owed.model_copy(update=parts)
    return cut


def projected(books: Books, day: date) -> Books:
    """The books as they would stand on `day` (for a query: nothing recorded)."""
    copy = books.model_copy(deep=True)
    accrue_to(copy, day)
    return copy


def forgone(books: Books, start: date, end: date) -> Decimal:
    """What a freeze of [start, end) would forgo: the interest and penalty the days would accrue (within the
    caps) on today's principal."""
    _, accrual = accrue(Owed(principal=books.owed.principal), books.terms, books.caps, start, end, [], books.unit)
    return accrual.interest + accrual.penalty
