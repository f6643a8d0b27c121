"""Amounts as a lender's books keep them: in the currency's minor units (ISO 4217, from the `iso4217`
package's copy of the standard's list), never a hard-coded cent; and, where input first arrives, only
from decimal strings: a JSON number may already have lost a cent before it reaches us.

The strictness is the entry points' (`strict_amounts`): the HTTP service, the starter and bulk files
refuse a number or an amount finer than its currency's minor unit. A workflow reading its recorded
history stays lenient, so a case started or updated before this rule (or through the Web UI, whose
updates are decoded inside the workflow) still replays; update validators, which never run on replay,
refuse what is too fine."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from decimal import Decimal

from iso4217 import Currency

_STRICT: ContextVar[bool] = ContextVar("duecourse_strict_amounts", default=False)


@contextmanager
def strict_amounts() -> Iterator[None]:
    """Input from outside: refuse numbers, unknown currencies and amounts finer than their currency."""
    token = _STRICT.set(True)
    try:
        yield
    finally:
        _STRICT.reset(token)


def strict() -> bool:
    return _STRICT.get()


def _exponent(code: str) -> int | None:
    try:
        return Currency(code).exponent
    except ValueError:
        return None


def known_currency(code: str) -> str:
    """An ISO 4217 currency with minor units (not a fund, a metal or a testing code), where input arrives."""
    if strict() and _exponent(code) is None:
        raise ValueError(f"{code!r} is not an ISO 4217 currency with minor units")
    return code


def places(currency: str) -> int:
    """The currency's decimal places: 2 CNY, 0 JPY, 3 KWD (2 for a code ISO gives none)."""
    exponent = _exponent(currency)
    return 2 if exponent is None else exponent


def minor_unit(currency: str) -> Decimal:
    """The currency's smallest amount: 0.01 CNY, 1 JPY, 0.001 KWD."""
    return Decimal(1).scaleb(-places(currency))


def in_minor_units(amount: Decimal, currency: str, what: str = "amount", refuse: bool = True) -> Decimal:
    """The amount in the currency's minor units ("10.5" CNY is 10.50). Finer than they go is refused, never
    rounded away; with `refuse` off (a recorded history) it is kept as it was."""
    unit = minor_unit(currency)
    exact = amount.quantize(unit)
    if exact == amount:
        return exact
    if refuse:
        raise ValueError(f"{what} {amount} has more decimal places than {currency} allows ({places(currency)})")
    return amount


def not_a_number(value: object) -> object:
    """Where input arrives, refuse a JSON number (or a Python float) where an amount belongs."""
    if strict() and isinstance(value, bool | int | float):
        raise ValueError(f'an amount is a decimal string such as "10.50", not the number {value!r} '
                         "(a number may already have lost a cent)")
    return value
