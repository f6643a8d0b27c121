"""Amounts as the books keep them: decimal strings only, in each currency's own minor units (#14)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from adapters.config_files import load_policy
from domain.case_input import CaseInput
from domain.enums import HardshipReason
from domain.messages import HardshipReport, Payment
from domain.money import in_minor_units, minor_unit, strict_amounts
from domain.plans import propose_plan
from tests import factories


def test_each_currency_has_its_own_minor_unit():
    assert (minor_unit("CNY"), minor_unit("JPY"), minor_unit("KWD")) == (Decimal("0.01"), Decimal("1"),
                                                                         Decimal("0.001"))
    assert str(in_minor_units(Decimal("10.5"), "CNY")) == "10.50"
    assert str(in_minor_units(Decimal("1.2"), "KWD")) == "1.200"
    assert minor_unit("IQD") == Decimal("0.001")  # ISO's figure (CLDR's is 0)
    with pytest.raises(ValueError, match=r"more decimal places than JPY allows \(0\)"):
        in_minor_units(Decimal("100.5"), "JPY")
    with pytest.raises(ValueError, match=r"more decimal places than CNY allows \(2\)"):
        in_minor_units(Decimal("10.555"), "CNY")
    assert in_minor_units(Decimal("10.555"), "CNY", refuse=False) == Decimal("10.555")  # a recorded history


@pytest.mark.parametrize("number", [10.5, 10, True])
def test_an_amount_sent_as_a_number_is_refused_with_the_reason_where_input_arrives(number):
    sent = json.dumps({"amount": number, "paid_at": "2026-12-01T10:00:00+08:00", "reference": "R-1"})
    with strict_amounts(), pytest.raises(ValidationError, match="an amount is a decimal string"):
        Payment.model_validate_json(sent)
    if number is not True:  # a history recorded before the rule still decodes
        assert Payment.model_validate_json(sent).amount == Decimal(str(number))
    assert Payment.model_validate_json('{"amount": "10.5", "paid_at": "2026-12-01T10:00:00+08:00", '
                                       '"reference": "R-1"}').amount == Decimal("10.5")


def case(currency: str, **loan) -> dict:
    data = json.loads(factories.case().model_dump_json(exclude={"state"}))
    data["loan"] |= {"currency": currency} | loan
    return data


def test_a_case_keeps_its_amounts_in_the_loan_currencys_minor_units():
    cny = CaseInput.model_validate(case("CNY", principal="5000", outstanding_balance="3000.5"))
    assert (str(cny.loan.principal), str(cny.loan.outstanding_balance)) == ("5000.00", "3000.50")
    assert json.loads(cny.model_dump_json())["loan"]["outstanding_balance"] == "3000.50"
    jpy = CaseInput.model_validate(case("JPY", principal="500000", outstanding_balance="300000",
                                        penalties_accrued="0"))
    assert str(jpy.loan.outstanding_balance) == "300000"
    too_fine = case("JPY", principal="5000", outstanding_balance="3000.5", penalties_accrued="0")
    with strict_amounts():
        with pytest.raises(ValidationError, match=r"loan.outstanding_balance 3000.5 has more decimal places than JPY"):
            CaseInput.model_validate(too_fine)
        for code in ("ZZZ", "XXX", "XAU"):
            with pytest.raises(ValidationError, match="not an ISO 4217 currency with minor units"):
                CaseInput.model_validate(case(code))
        with pytest.raises(ValidationError, match="an amount is a decimal string"):
            CaseInput.model_validate_json(json.dumps(case("CNY", outstanding_balance=3000.5)))
    assert CaseInput.model_validate(too_fine).loan.outstanding_balance == Decimal("3000.5")  # replayed: as it was


def test_a_plans_instalments_are_split_in_the_currencys_own_units():
    jpy = CaseInput.model_validate(case("JPY", principal="100000", outstanding_balance="100000",
                                        penalties_accrued="0"))
    report = HardshipReport(reason=HardshipReason.JOB_LOSS, requested_instalments=3)
    plan = propose_plan("p", report, jpy.loan, Decimal("100000"), Decimal("0"), datetime(2026, 12, 1, tzinfo=UTC),
                        "Asia/Tokyo", load_policy("standard").hardship)
    amounts = [i.amount for i in plan.instalments]
    assert amounts == [Decimal("33333"), Decimal("33333"), Decimal("33334")] and sum(amounts) == Decimal("100000")
