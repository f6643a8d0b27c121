"""Applying a payment to a case: the new balance, what was paid beyond it, and a reference seen before.

A backend may send the same payment twice (a retried webhook, a rerun file): a reference already
applied changes nothing. A payment above the balance settles it; the excess is owed back to the
borrower, never kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

ZERO = Decimal(0)


@dataclass(frozen=True)
class PaymentApplied:
    duplicate: bool  # this reference was applied before: nothing changed
    balance: Decimal  # after the payment
    total_paid: Decimal  # after the payment
    overpaid: Decimal  # beyond the balance: a refund due to the borrower


def apply_payment(balance: Decimal, total_paid: Decimal, applied_refs: list[str], amount: Decimal,
                  reference: str) -> PaymentApplied:
    if reference in applied_refs:
        return PaymentApplied(duplicate=True, balance=balance, total_paid=total_paid, overpaid=ZERO)
    return PaymentApplied(duplicate=False, balance=max(ZERO, balance - amount), total_paid=total_paid + amount,
                          overpaid=max(ZERO, amount - balance))


def waive(balance: Decimal, amount: Decimal) -> Decimal:
    """The balance after a penalty waiver (an approved hardship plan's)."""
    return balance - amount
