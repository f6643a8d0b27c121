"""When an arrears notice is owed (CCA 1974 s.86B, the uk-conc pack): the pure decision."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from adapters.config_files import load_rule_pack
from domain.case_input import Instalments
from domain.notices import arrears_notice_due, in_arrears

RULE = load_rule_pack("uk-conc").arrears_notice
NOW = datetime(2026, 12, 1, 10, tzinfo=UTC)
assert RULE is not None


@pytest.mark.parametrize("amount, interval, arrears, paid, owed", [
    ("100", 30, "200", "0", True),     # two monthly instalments short: owed
    ("100", 30, "199.99", "0", False),  # a cent less than two
    ("100", 30, "300", "100.01", False),  # collected since: below two again
    ("100", 7, "300", "0", False),     # weekly: four are needed
    ("100", 7, "400", "0", True),
])
def test_the_shortfall_is_measured_in_the_last_instalments(amount, interval, arrears, paid, owed):
    schedule = Instalments(amount=Decimal(amount), interval_days=interval, arrears=Decimal(arrears))
    assert in_arrears(RULE, schedule, Decimal(paid), Decimal("1000")) is owed


def test_without_a_schedule_an_unpaid_borrower_is_taken_to_be_in_arrears():
    assert in_arrears(RULE, None, Decimal("0"), Decimal("1")) is True
    assert in_arrears(RULE, None, Decimal("500"), Decimal("0")) is False  # paid: nothing owed


def test_the_first_notice_is_due_at_once_and_repeats_within_six_months():
    assert arrears_notice_due(RULE, None, Decimal("0"), Decimal("10"), None, NOW) == NOW
    last = NOW - timedelta(days=20)
    assert arrears_notice_due(RULE, None, Decimal("0"), Decimal("10"), last, NOW) == last + timedelta(days=180)
    assert arrears_notice_due(None, None, Decimal("0"), Decimal("10"), None, NOW) is None  # no pack asks
    assert arrears_notice_due(RULE, None, Decimal("0"), Decimal("0"), last, NOW) is None  # cleared
