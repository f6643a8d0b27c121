"""The balance engine: what a case owes, as principal, interest, penalty interest and fees, accrued over
days of the borrower's calendar from the loan's terms, within the rule packs' caps, and not at all on days
a freeze covers (a moratorium, a dispute, an agreed plan, a hard stop, a relief offer).

Pure and exact: Decimal throughout, with no division that could round (`accrue`); each period's accrual
is rounded down to the currency's minor unit (never a charge the borrower did not owe) and the fraction
left is carried to the next period, so many short periods owe exactly what one long one would. A period
ends wherever the principal changes (a payment), so within one the principal is constant. The packs'
cap is an annual rate on actual days over 365, whatever the loan's own day count (the stricter reading).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, localcontext
from typing import Literal

from pydantic import Field, model_validator

from domain.policy import ALLOCATION_ORDER, Component, Strict

COMPONENTS = ALLOCATION_ORDER
ZERO = Decimal(0)
CAP_YEAR = 365  # the caps' annual rates are read on actual days over 365


class Owed(Strict):
    """What is owed, by component, in the currency's minor units."""

    principal: Decimal = Field(ge=0)
    interest: Decimal = Field(default=ZERO, ge=0)
    penalty: Decimal = Field(default=ZERO, ge=0)
    fees: Decimal = Field(default=ZERO, ge=0)
    carried_interest: Decimal = Field(default=ZERO, ge=0, description="accrued, less than a minor unit: not yet "
                                      "owed; in parts of 1 / (365 × the day count), where it is exact")
    carried_penalty: Decimal = Field(default=ZERO, ge=0)

    @property
    def total(self) -> Decimal:
        return self.principal + self.interest + self.penalty + self.fees


class Terms(Strict):
    """The loan's own terms: what the agreement allows to accrue."""

    annual_interest_rate: Decimal = Field(ge=0, le=1)
    daily_penalty_rate: Decimal = Field(default=ZERO, ge=0, le=Decimal("0.01"))
    day_count: Literal[360, 365] = Field(default=365, description="days in a year for a daily rate")


class Caps(Strict):
    """What the rule packs allow at most, whatever the agreement says."""

    annual_cost_rate: Decimal | None = Field(default=None, ge=0, description="interest and penalty together, "
                                             "a year, as a share of the principal")
    penalty_allowed: bool = True


class Freeze(Strict):
    """Days on which nothing accrues: [start, end), open-ended while `end` is None."""

    start: date
    end: date | None = None
    reason: Literal["moratorium", "dispute", "plan", "hard_stop", "relief"]

    @model_validator(mode="after")
    def _ordered(self) -> Freeze:
        if self.end is not None and self.end < self.start:
            raise ValueError("a freeze ends after it starts")
        return self

    def covers(self, day: date) -> bool:
        return self.start <= day and (self.end is None or day < self.end)


class Accrual(Strict):
    """One period's accrual: what the terms gave, and what the caps and freezes left of it."""

    start: date
    end: date
    days_accrued: int  # the period's days no freeze covered
    principal: Decimal  # what it accrued on (constant within a period)
    interest: Decimal
    penalty: Decimal
    capped: bool  # the packs' cap cut it


def accruing_days(start: date, end: date, freezes: list[Freeze]) -> int:
    """Days in [start, end) that no freeze covers."""
    spans = sorted((max(f.start, start), min(f.end or end, end)) for f in freezes)
    frozen, reached = 0, start
    for first, last in spans:
        first = max(first, reached)
        if first < last:
            frozen += (last - first).days
            reached = last
    return (end - start).days - frozen


def accrue(owed: Owed, terms: Terms, caps: Caps, start: date, end: date, freezes: list[Freeze],
           unit: Decimal) -> tuple[Owed, Accrual]:
    """Interest and penalty interest on the principal for the days of [start, end) no freeze covers; the
    packs' annual cost cap cuts the penalty first, then the interest.

    Exact: a daily rate over 365 or 360 days repeats in decimal, so every figure is kept in parts of
    1 / (365 × day_count) (`parts`), where it is a finite decimal; only the whole minor units are owed, and
    the parts left over are carried as they are. So many short periods owe exactly what one long one
    would, whatever the rounding of a division."""
    if end < start:
        raise ValueError("an accrual period ends after it starts")
    days = accruing_days(start, end, freezes)
    principal, parts = owed.principal, CAP_YEAR * terms.day_count
    with localcontext() as exact:
        exact.prec = 60  # products of the inputs' digits: never rounded
        interest = principal * terms.annual_interest_rate * days * CAP_YEAR
        penalty = principal * terms.daily_penalty_rate * days * parts if caps.penalty_allowed else ZERO
        capped = False
        if caps.annual_cost_rate is not None:
            ceiling = principal * caps.annual_cost_rate * days * terms.day_count
            if interest + penalty > ceiling:
                capped = True
                interest = min(interest, ceiling)
                penalty = ceiling - interest
        interest, penalty = interest + owed.carried_interest, penalty + owed.carried_penalty
        whole_interest, whole_penalty = _whole(interest, parts, unit), _whole(penalty, parts, unit)
        accrued = owed.model_copy(update={
            "interest": owed.interest + whole_interest, "penalty": owed.penalty + whole_penalty,
            "carried_interest": interest - whole_interest * parts, "carried_penalty": penalty - whole_penalty * parts})
    return accrued, Accrual(start=start, end=end, days_accrued=days, principal=principal,
                            interest=whole_interest, penalty=whole_penalty, capped=capped)


def _whole(amount_in_parts: Decimal, parts: int, unit: Decimal) -> Decimal:
    """The whole minor units in an amount counted in parts (rounded down: never a charge not owed)."""
    return ((amount_in_parts / unit) // parts) * unit


class Allocation(Strict):
    """How one payment was applied; `overpaid` is a credit to refund, never absorbed."""

    fees: Decimal = ZERO
    penalty: Decimal = ZERO
    interest: Decimal = ZERO
    principal: Decimal = ZERO
    overpaid: Decimal = ZERO

    @property
    def applied(self) -> Decimal:
        return self.fees + self.penalty + self.interest + self.principal


def allocate(owed: Owed, amount: Decimal, unit: Decimal,
             order: tuple[Component, ...] = COMPONENTS) -> tuple[Owed, Allocation]:
    """Apply a payment to the components in the order the pack or policy sets; what is left over after
    all of them is an overpayment."""
    if amount <= 0 or amount != amount.quantize(unit):
        raise ValueError(f"a payment is a positive amount in minor units of {unit}")
    if sorted(order) != sorted(COMPONENTS):
        raise ValueError(f"an allocation order names each of {', '.join(COMPONENTS)} once")
    left, paid, remaining = amount, {}, {}
    for component in order:
        due = getattr(owed, component)
        paid[component] = min(due, left)
        remaining[component] = due - paid[component]
        left -= paid[component]
    carried = {"carried_interest": owed.carried_interest, "carried_penalty": owed.carried_penalty}
    return Owed(**remaining, **carried), Allocation(**paid, overpaid=left)
