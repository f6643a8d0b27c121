"""The balance engine (`domain.balance`): accrual within the caps and never while frozen, allocation that
always sums to the payment, every figure in the currency's minor units."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.balance import COMPONENTS, Caps, Freeze, Owed, Terms, accrue, accruing_days, allocate

CENT, YEN = Decimal("0.01"), Decimal("1")
D0 = date(2026, 12, 1)

amounts = st.decimals(min_value=Decimal("0"), max_value=Decimal("1000000"), places=2)
rates = st.decimals(min_value=Decimal("0"), max_value=Decimal("0.5"), places=4)
penalty_rates = st.decimals(min_value=Decimal("0"), max_value=Decimal("0.001"), places=5)
caps = st.one_of(st.none(), st.decimals(min_value=Decimal("0"), max_value=Decimal("0.36"), places=3))
days = st.integers(0, 800)
freezes = st.lists(st.builds(lambda s, n, open_ended, reason: Freeze(
    start=D0 + timedelta(days=s), end=None if open_ended else D0 + timedelta(days=s + n), reason=reason),
    st.integers(0, 800), st.integers(0, 200), st.integers(0, 9).map(lambda n: n == 0),
    st.sampled_from(["moratorium", "dispute", "plan", "hard_stop", "relief"])), max_size=4)


def test_a_years_interest_and_penalty_as_the_terms_say():
    owed = Owed(principal=Decimal("10000.00"))
    terms = Terms(annual_interest_rate=Decimal("0.0365"), daily_penalty_rate=Decimal("0.0005"))
    after, accrual = accrue(owed, terms, Caps(), D0, D0 + timedelta(days=10), [], CENT)
    assert (after.interest, after.penalty, accrual.days_accrued) == (Decimal("10.00"), Decimal("50.00"), 10)
    assert after.total == Decimal("10060.00") and not accrual.capped


def test_the_packs_cap_cuts_the_penalty_first_then_the_interest():
    owed, terms = Owed(principal=Decimal("10000")), Terms(annual_interest_rate=Decimal("0.18"),
                                                           daily_penalty_rate=Decimal("0.0005"))
    after, accrual = accrue(owed, terms, Caps(annual_cost_rate=Decimal("0.24")), D0, D0 + timedelta(days=365), [],
                            CENT)
    assert (after.interest, after.penalty, accrual.capped) == (Decimal("1800.00"), Decimal("600.00"), True)
    after, _ = accrue(owed, terms, Caps(annual_cost_rate=Decimal("0.12")), D0, D0 + timedelta(days=365), [], CENT)
    assert (after.interest, after.penalty) == (Decimal("1200.00"), Decimal("0.00"))


def test_the_cap_is_a_years_rate_on_actual_days_whatever_the_loans_day_count():
    owed = Owed(principal=Decimal("10000"))
    terms = Terms(annual_interest_rate=Decimal("0.30"), day_count=360)
    after, _ = accrue(owed, terms, Caps(annual_cost_rate=Decimal("0.24")), D0, D0 + timedelta(days=365), [], CENT)
    assert after.interest == Decimal("2400.00")  # not 10000 x 0.24 x 365 / 360


def test_many_short_periods_owe_what_one_long_one_does():
    owed, terms = Owed(principal=Decimal("100")), Terms(annual_interest_rate=Decimal("0.18"))
    daily = owed
    for n in range(365):
        daily, _ = accrue(daily, terms, Caps(), D0 + timedelta(days=n), D0 + timedelta(days=n + 1), [], CENT)
    yearly, _ = accrue(owed, terms, Caps(), D0, D0 + timedelta(days=365), [], CENT)
    assert daily.interest == yearly.interest == Decimal("18.00")


def test_nothing_accrues_on_frozen_days_and_a_yen_has_no_cents():
    owed, terms = Owed(principal=Decimal("100000")), Terms(annual_interest_rate=Decimal("0.15"))
    moratorium = Freeze(start=D0 + timedelta(days=10), end=D0 + timedelta(days=70), reason="moratorium")
    after, accrual = accrue(owed, terms, Caps(), D0, D0 + timedelta(days=100), [moratorium], YEN)
    assert accrual.days_accrued == 40 and after.interest == Decimal("1643")  # 100000 x 0.15 x 40 / 365, down
    open_ended = Freeze(start=D0, reason="hard_stop")
    assert accrue(owed, terms, Caps(), D0, D0 + timedelta(days=100), [open_ended], YEN)[0] == owed


def test_a_payment_is_applied_in_the_order_set_and_an_overpayment_is_a_credit():
    owed = Owed(principal=Decimal("1000.00"), interest=Decimal("20.00"), penalty=Decimal("5.00"),
                fees=Decimal("0.00"))
    left, applied = allocate(owed, Decimal("30.00"), CENT)
    assert (applied.penalty, applied.interest, applied.principal, applied.overpaid) == (
        Decimal("5.00"), Decimal("20.00"), Decimal("5.00"), Decimal("0"))
    assert left == Owed(principal=Decimal("995.00"))
    _, principal_first = allocate(owed, Decimal("30.00"), CENT, ("principal", "interest", "penalty", "fees"))
    assert principal_first.principal == Decimal("30.00") and principal_first.interest == 0
    cleared, over = allocate(owed, Decimal("1100.00"), CENT)
    assert cleared.total == 0 and over.overpaid == Decimal("75.00")
    with pytest.raises(ValueError, match="names each"):
        allocate(owed, Decimal("1"), CENT, ("principal", "interest"))
    with pytest.raises(ValueError, match="minor units"):
        allocate(owed, Decimal("0.001"), CENT)


UNITS = st.sampled_from([YEN, CENT, Decimal("0.001")])


@given(principal=amounts, rate=rates, penalty=penalty_rates, cap=caps, start=days, length=days, frozen=freezes,
       day_count=st.sampled_from([360, 365]), unit=UNITS)
def test_accrual_never_breaks_the_cap_never_runs_while_frozen_and_keeps_minor_units(
        principal, rate, penalty, cap, start, length, frozen, day_count, unit):
    owed = Owed(principal=principal.quantize(unit, rounding="ROUND_DOWN"))
    principal = owed.principal
    terms = Terms(annual_interest_rate=rate, daily_penalty_rate=penalty, day_count=day_count)
    first, last = D0 + timedelta(days=start), D0 + timedelta(days=start + length)
    after, accrual = accrue(owed, terms, Caps(annual_cost_rate=cap), first, last, frozen, unit)
    counted = sum(1 for n in range(length) if not any(f.covers(first + timedelta(days=n)) for f in frozen))
    assert accrual.days_accrued == counted == accruing_days(first, last, frozen)
    charged = after.interest + after.penalty
    if cap is not None:
        assert charged <= principal * cap * counted / 365  # a year's rate on actual days, whatever the day count
    assert charged <= principal * (rate / day_count + penalty) * counted  # never more than the terms give
    if counted == 0:
        assert after == owed
    assert all(getattr(after, c) == getattr(after, c).quantize(unit) for c in COMPONENTS)
    parts = 365 * day_count  # carried exactly, in parts of 1 / (365 × day count): less than a minor unit
    assert after.carried_interest < unit * parts and after.carried_penalty < unit * parts


@given(principal=amounts, rate=rates, penalty=penalty_rates, splits=st.lists(days, max_size=6), length=days)
def test_splitting_a_period_changes_nothing_owed(principal, rate, penalty, splits, length):
    owed, terms = Owed(principal=principal), Terms(annual_interest_rate=rate, daily_penalty_rate=penalty)
    whole, _ = accrue(owed, terms, Caps(), D0, D0 + timedelta(days=length), [], CENT)
    bounds = sorted({0, length, *(min(s, length) for s in splits)})
    pieces = owed
    for a, b in zip(bounds, bounds[1:], strict=False):
        pieces, _ = accrue(pieces, terms, Caps(), D0 + timedelta(days=a), D0 + timedelta(days=b), [], CENT)
    assert (pieces.interest, pieces.penalty) == (whole.interest, whole.penalty)


@given(principal=amounts, interest=amounts, penalty=amounts, fees=amounts,
       payment=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("3000000"), places=2),
       order=st.permutations(COMPONENTS))
def test_allocation_always_sums_to_the_payment_in_the_order_set(principal, interest, penalty, fees, payment, order):
    owed = Owed(principal=principal, interest=interest, penalty=penalty, fees=fees)
    left, applied = allocate(owed, payment, CENT, tuple(order))
    assert applied.applied + applied.overpaid == payment
    assert left.total == owed.total - applied.applied and applied.overpaid == max(Decimal(0), payment - owed.total)
    for n, component in enumerate(order):  # a later component is paid only once the earlier ones are cleared
        if getattr(applied, component) > 0:
            assert all(getattr(left, earlier) == 0 for earlier in order[:n])


# --- the case's books (`domain.books`) --------------------------------------------------------

def _books(principal: Decimal, rate: Decimal, penalty: Decimal, cap: Decimal | None, opened: date):
    from domain.books import Books
    return Books(currency="CNY", terms=Terms(annual_interest_rate=rate, daily_penalty_rate=penalty),
                 caps=Caps(annual_cost_rate=cap), opened_on=opened, owed=Owed(principal=principal), accrued_to=opened)


@given(st.dates(date(2024, 1, 1), date(2030, 12, 31)), st.integers(0, 1500))
def test_every_day_falls_in_one_statement_period_and_periods_follow_each_other(opened, offset):
    from domain.books import next_period_start, period_start
    day = opened + timedelta(days=offset)
    start, following = period_start(opened, day), next_period_start(opened, day)
    assert start <= day < following and start.day in {opened.day, 28, 29, 30, 31}
    assert period_start(opened, following) == following  # the next period starts where this one ends


@given(amounts, rates, penalty_rates, caps, st.dates(date(2025, 1, 1), date(2028, 12, 31)),
       st.lists(st.integers(1, 60), min_size=1, max_size=12))
def test_accruing_in_many_steps_owes_what_one_step_would(principal, rate, penalty, cap, opened, steps):
    """Whenever the case happens to accrue (a payment, a freeze, a query's projection), the sum is the same:
    the periods split at statement starts and the fractions carry."""
    from domain.books import accrue_to
    stepwise, at_once = _books(principal, rate, penalty, cap, opened), _books(principal, rate, penalty, cap, opened)
    day = opened
    for step in steps:
        day += timedelta(days=step)
        accrue_to(stepwise, day)
    accrue_to(at_once, day)
    assert stepwise.owed == at_once.owed  # to the last part carried: no division rounds
    assert stepwise.accrued_to == at_once.accrued_to == day
    assert sum(a.days_accrued for a in stepwise.accruals) == (day - opened).days


@given(st.lists(st.tuples(st.sampled_from(["CNY", "GBP", "JPY", "USD"]), amounts), max_size=30))
def test_portfolio_sums_are_exact_and_by_currency_never_across(balances):
    from domain.books_audit import by_currency
    totals = by_currency(balances)
    assert set(totals) == {c for c, _ in balances}
    for currency, total in totals.items():
        assert total == sum((a for c, a in balances if c == currency), Decimal(0))
