"""Relief a lender offers a borrower who cannot pay as agreed (the seed's 临时减免利息或延长还款周期): each
offer a pure proposal with what it costs the lender, its share of the balance, how the credit record will
show it, and who must approve it (the policy's approval matrix). The workflow (`workflows/case/relief.py`)
makes, approves, accepts and expires offers; this decides whether one is allowed and what it costs.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from pydantic import Field

from domain import clock
from domain.books import Books, forgone, months_after
from domain.enums import ReliefStatus
from domain.policy import ROLES, HardshipPolicy, ReliefKind, ReliefPolicy, Role
from domain.values import AwareDatetime, Model, Money, PositiveMoney

ZERO = Decimal(0)
BY_MONTH: tuple[ReliefKind, ...] = ("interest_freeze", "token_payment")


class ReliefRequest(Model):
    """An offer an operator (or a collector at a visit) makes, within their role's limits or for approval."""

    kind: ReliefKind
    months: int | None = Field(default=None, ge=1, le=60, description="interest_freeze, token_payment: "
                               "how long before its review")
    amount: PositiveMoney | None = Field(default=None, description="settlement: the sum that settles the "
                                         "debt; token_payment: the monthly payment")
    instalments: int | None = Field(default=None, ge=2, le=60, description="longer_term: the new number of "
                                    "instalments")
    offered_by: str = Field(min_length=1, max_length=100)
    role: Role = "agent"
    note: str = Field(default="", max_length=2000)


class ReliefAcceptance(Model):
    offer_id: str = Field(min_length=1, max_length=160)
    by: str = Field(default="borrower", min_length=1, max_length=100, description="the borrower, or the agent "
                    "who took their acceptance")


class ReliefOffer(Model):
    """An offer as the case keeps it, from its making to its end."""

    offer_id: str
    kind: ReliefKind
    months: int | None = None
    amount: Money | None = None
    instalments: int | None = None
    cost: Money  # what the lender forgoes, at the time of the offer
    share: Decimal  # the cost as a share of the balance then
    balance: Money  # the balance the offer was priced on
    approver: Role  # the least role that may grant it
    credit_effect: str
    offered_by: str
    status: ReliefStatus
    made_at: AwareDatetime
    expires_at: AwareDatetime  # not accepted by then (a settlement: not paid by then), it lapses
    accepted_at: AwareDatetime | None = None
    review_at: AwareDatetime | None = None  # a freeze or token payments end here, for a person to review
    paid_at_start: Money = ZERO  # total paid when accepted (a settlement counts what came after)
    credit_at_start: Money = ZERO  # the books' credit then (paid beyond the balance is refunded once)

    @property
    def live(self) -> bool:
        return self.status in (ReliefStatus.PENDING_APPROVAL, ReliefStatus.OFFERED, ReliefStatus.ACCEPTED)


def rank(role: Role | None) -> int:
    return -1 if role is None else ROLES.index(role)


def price(request: ReliefRequest, books: Books, hardship: HardshipPolicy, freeze_during_plan: bool,
          now: datetime, tz: str) -> Decimal:
    """What the offer forgoes: accrual it freezes, the part of the balance it writes off, a penalty waived."""
    today = clock.local(now, tz).date()
    match request.kind:
        case "interest_freeze" | "token_payment":
            assert request.months is not None
            return forgone(books, today, months_after(today, request.months))
        case "longer_term":
            assert request.instalments is not None
            end = clock.local(now + hardship.instalment_interval * request.instalments, tz).date()
            return forgone(books, today, end) if freeze_during_plan else ZERO
        case "settlement":
            assert request.amount is not None
            return books.balance - request.amount
        case "penalty_waiver":
            return books.owed.penalty
    raise AssertionError(request.kind)


def problem(request: ReliefRequest, books: Books, policy: ReliefPolicy) -> str | None:
    """Why this offer cannot be made as asked, or None (the approval matrix is checked once it is priced)."""
    balance = books.balance
    if balance <= 0:
        return "nothing is owed"
    given = {f for f in ("months", "amount", "instalments") if getattr(request, f) is not None}
    wanted = {"interest_freeze": {"months"}, "token_payment": {"months", "amount"}, "longer_term": {"instalments"},
              "settlement": {"amount"}, "penalty_waiver": set()}[request.kind]
    if given - wanted:
        return f"{request.kind} takes no {', '.join(sorted(given - wanted))}"
    if request.kind in BY_MONTH:
        if request.months is None:
            return f"{request.kind} needs months (1 to {policy.max_months})"
        if request.months > policy.max_months:
            return f"{request.months} months is more than the policy's {policy.max_months}"
    if request.kind in ("settlement", "token_payment") and request.amount is None:
        return f"{request.kind} needs an amount"
    if request.kind == "settlement" and request.amount is not None:
        least = (balance * policy.settlement_min_share).quantize(books.unit)
        if not least <= request.amount < balance:
            return (f"a settlement asks at least {least} ({policy.settlement_min_share:%} of the balance {balance}) "
                    "and less than the balance")
    if request.kind == "token_payment" and request.amount is not None:
        least = (balance * policy.token_min_share).quantize(books.unit)
        if not least <= request.amount < balance:
            return f"a token payment is at least {least} a month and less than the balance {balance}"
    if request.kind == "longer_term" and request.instalments is None:
        return "longer_term needs instalments"
    if request.kind == "penalty_waiver" and books.owed.penalty <= 0:
        return "no penalty interest is owed to waive"
    return None


def approver(cost: Decimal, balance: Decimal, request: ReliefRequest, policy: ReliefPolicy,
             currency: str) -> tuple[Role | None, Decimal]:
    """Who must approve (None: no role may: outside the policy's limits) and the cost's share of the balance."""
    share = (cost / balance).quantize(Decimal("0.0001")) if balance > 0 else Decimal(1)
    return policy.approver(request.kind, cost, share, currency), share


def describe(offer: ReliefOffer, currency: str) -> str:
    what = {"interest_freeze": f"interest frozen for {offer.months} months",
            "token_payment": f"token payments of {offer.amount} {currency} a month for {offer.months} months",
            "longer_term": f"the balance over {offer.instalments} instalments",
            "settlement": f"settle for {offer.amount} {currency}, the rest written off",
            "penalty_waiver": "penalty interest waived"}[offer.kind]
    return f"{what}; costs {offer.cost} {currency} ({offer.share:.2%} of the balance)"


def expires(now: datetime, policy: ReliefPolicy) -> datetime:
    return now + policy.offer_valid


def review_at(accepted: datetime, months: int, tz: str) -> datetime:
    """The review: the same local time `months` later."""
    local = clock.local(accepted, tz)
    day = months_after(local.date(), months)
    return accepted + timedelta(days=(day - local.date()).days)
