"""Amounts as a lender's books keep them: in the currency's minor units (ISO 4217, from CLDR's data via
Babel), never a hard-coded cent, and only from decimal strings: a JSON number may already have lost a
cent before it reaches us."""

from __future__ import annotations

from decimal import Decimal

from babel.numbers import get_currency_precision, is_currency

# Babel reads its CLDR data from a file on first use: read it now, at import, outside any workflow sandbox
# (which refuses to open files), so a case's amounts can be checked inside one.
get_currency_precision("XXX")


def known_currency(code: str) -> str:
    if not is_currency(code):
        raise ValueError(f"{code!r} is not an ISO 4217 currency code")
    return code


def minor_unit(currency: str) -> Decimal:
    """The currency's smallest amount: 0.01 CNY, 1 JPY, 0.001 KWD."""
    return Decimal(1).scaleb(-get_currency_precision(currency))


def in_minor_units(amount: Decimal, currency: str, what: str = "amount") -> Decimal:
    """The amount to the currency's minor units ("10.5" CNY is 10.50); finer than they go is refused,
    never rounded away."""
    places = get_currency_precision(currency)
    exact = amount.quantize(Decimal(1).scaleb(-places))
    if exact != amount:
        raise ValueError(f"{what} {amount} has more decimal places than {currency}'s {places}")
    return exact


def not_a_number(value: object) -> object:
    """Refuse a JSON number (or a Python float) where an amount belongs: decimal strings only."""
    if isinstance(value, bool | int | float):
        raise ValueError(f'an amount is a decimal string such as "10.50", not the number {value!r} '
                         "(a number may already have lost a cent)")
    return value
