"""When an arrears notice is owed (CCA 1974 s.86B, the uk-conc pack): the pure decision the workflow and
the checker share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.config_files import load_rule_pack
from domain.case_input import Instalments
from domain.notices import arrears_arise_at, arrears_notice_due, shortfall
from domain.policy import combine_packs

RULE = load_rule_pack("uk-conc").arrears_notice
OPENED = datetime(2026, 12, 1, 10, tzinfo=UTC)
assert RULE is not None
BIG = Decimal("100000")


def monthly(arrears: str, amount: str = "100") -> Instalments:
    return Instalments(amount=Decimal(amount), interval_days=30, arrears=Decimal(arrears))


@pytest.mark.parametrize("schedule, paid, arises_after_days", [
    (monthly("200"), "0", 0),            # two monthly instalments short at the start: at once
    (monthly("199.99"), "0", 30),        # a cent short of two: the next instalment makes it
    (monthly("100"), "0", 30),           # one short: the next due date
    (monthly("0"), "0", 60),             # up to date: two instalments later
    (monthly("300"), "150", 30),         # collected since: below two again until the next one falls due
    (Instalments(amount=Decimal("100"), interval_days=7, arrears=Decimal("300")), "0", 7),  # weekly: four
])
def test_the_arrears_arise_when_the_shortfall_reaches_the_last_instalments(schedule, paid, arises_after_days):
    assert arrears_arise_at(RULE, schedule, OPENED, Decimal(paid), BIG) == OPENED + timedelta(days=arises_after_days)


def test_without_a_schedule_an_unpaid_borrower_is_in_arrears_and_a_small_balance_never_is():
    assert arrears_arise_at(RULE, None, OPENED, Decimal("0"), Decimal("1")) == OPENED
    assert arrears_arise_at(RULE, None, OPENED, Decimal("500"), Decimal("0")) is None  # paid off
    assert arrears_arise_at(RULE, monthly("150"), OPENED, Decimal("0"), Decimal("150")) is None  # < two left


def test_the_first_notice_is_owed_from_when_the_arrears_first_arose_whatever_is_paid_later():
    paid_since = arrears_notice_due(RULE, monthly("200"), OPENED, Decimal("100"), BIG, None, arose=OPENED)
    assert paid_since == OPENED  # s.86B(1): first satisfied at the opening; a later payment does not undo it
    assert arrears_notice_due(RULE, monthly("200"), OPENED, Decimal("100"), BIG, None) == OPENED + timedelta(days=30)


def test_the_notice_repeats_within_six_months_while_the_arrears_last():
    assert arrears_notice_due(RULE, None, OPENED, Decimal("0"), BIG, None) == OPENED
    last = OPENED + timedelta(days=20)
    assert arrears_notice_due(RULE, None, OPENED, Decimal("0"), BIG, last) == last + timedelta(days=180)
    assert arrears_notice_due(None, None, OPENED, Decimal("0"), BIG, None) is None  # no pack asks for one
    assert arrears_notice_due(RULE, None, OPENED, Decimal("0"), Decimal("0"), last) is None  # cleared


def test_combined_packs_take_the_soonest_notice():
    uk = load_rule_pack("uk-conc")
    stricter = uk.model_copy(update={"name": "stricter", "arrears_notice": RULE.model_copy(
        update={"instalments": 1, "repeat_days": 90})})
    combined = combine_packs([uk, stricter]).arrears_notice
    assert combined is not None and (combined.instalments, combined.repeat_days, combined.within_days) == (1, 90, 14)


@given(arrears=st.integers(0, 2000), amount=st.integers(1, 500), interval=st.sampled_from([7, 14, 30]),
       paid=st.integers(0, 2000), balance=st.integers(0, 5000))
def test_the_arrears_arise_exactly_when_the_shortfall_first_reaches_the_threshold(arrears, amount, interval, paid,
                                                                                    balance):
    schedule = Instalments(amount=Decimal(amount), interval_days=interval, arrears=Decimal(arrears))
    count = RULE.weekly_instalments if interval <= 7 else RULE.instalments
    arises = arrears_arise_at(RULE, schedule, OPENED, Decimal(paid), Decimal(balance))

    def reached(at: datetime) -> bool:
        return shortfall(schedule, OPENED, at, Decimal(paid), Decimal(balance)) >= Decimal(amount) * count

    if balance == 0 or arises is None:
        assert not any(reached(OPENED + timedelta(days=d)) for d in range(0, 400, interval)) or balance == 0
    else:
        assert reached(arises)
        assert arises == OPENED or not reached(arises - timedelta(days=1))
