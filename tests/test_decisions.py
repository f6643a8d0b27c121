"""Scorecard, promises and hardship plans: pure decisions, documented and checked."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from adapters.config_files import load_policy
from domain import plans, scorecard
from domain.case_input import BorrowerProfile
from domain.enums import HardshipReason, Segment
from domain.messages import HardshipReport
from tests import factories

POLICY = load_policy("standard")


def profile(**kw) -> BorrowerProfile:
    base: dict[str, Any] = dict(monthly_income=Decimal("12000"), monthly_debt_payments=Decimal("1000"),
                                on_time_payments=20, late_payments=1, missed_payments=0)
    return BorrowerProfile(**base | kw)


LOAN = factories.case().loan


@pytest.mark.parametrize("kind, segment", [("low_risk", Segment.LOW_RISK), ("high_risk", Segment.HIGH_RISK),
                                           ("hardship", Segment.HARDSHIP)])
def test_the_factory_profiles_land_in_their_segments(kind, segment):
    case = factories.case(profile=kind)
    assert scorecard.assess(case.profile, case.loan, POLICY.scorecard).segment is segment


def test_no_income_means_no_ability_and_the_soft_path():
    result = scorecard.assess(profile(monthly_income=Decimal("0")), LOAN, POLICY.scorecard)
    assert result.ability == 0 and result.segment is Segment.HARDSHIP and "no income reported" in result.reasons


def test_willingness_falls_with_missed_payments_and_broken_promises():
    scores = [scorecard.willingness_score(profile(missed_payments=m, broken_promises=b))[0]
              for m, b in [(0, 0), (3, 0), (6, 0), (6, 2)]]
    assert scores == sorted(scores, reverse=True) and scores[0] > scores[-1]


def test_ability_falls_as_other_debt_rises():
    scores = [scorecard.ability_score(profile(monthly_debt_payments=Decimal(d)), LOAN)[0]
              for d in (0, 3000, 6000, 9000, 12000)]
    assert scores == sorted(scores, reverse=True) and scores[-1] == 0


def test_promise_rules():
    today = date(2026, 12, 1)
    assert plans.promise_problem(Decimal("10"), today, today, Decimal("100"), POLICY.promise) is None
    assert "in the past" in plans.promise_problem(Decimal("10"), today - timedelta(days=1), today, Decimal("100"),
                                                  POLICY.promise)
    assert "days ahead" in plans.promise_problem(Decimal("10"), today + timedelta(days=31), today, Decimal("100"),
                                                 POLICY.promise)
    assert "more than the balance" in plans.promise_problem(Decimal("101"), today, today, Decimal("100"),
                                                            POLICY.promise)


def test_promise_deadline_is_the_end_of_the_borrowers_day_plus_grace():
    deadline = plans.promise_deadline(date(2026, 12, 5), "Asia/Shanghai", timedelta(days=2))
    assert deadline == datetime(2026, 12, 7, 16, 0, tzinfo=UTC)  # Dec 6 00:00 Shanghai + 2 days


@pytest.mark.parametrize("instalments, waive, needs_approval", [(None, False, False), (6, False, False),
                                                                 (7, False, True), (3, True, False)])
def test_hardship_plan_spreads_the_balance_and_asks_approval_above_thresholds(instalments, waive, needs_approval):
    now = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)
    loan = LOAN.model_copy(update={"penalties_accrued": Decimal("150.00")})
    report = HardshipReport(reason=HardshipReason.ILLNESS, requested_instalments=instalments, waive_penalty=waive)
    plan = plans.propose_plan("p1", report, loan, Decimal("1000.00"), Decimal("0"), now, "Asia/Shanghai",
                              POLICY.hardship)
    assert plan.needs_approval is needs_approval
    assert len(plan.instalments) == (instalments or POLICY.hardship.default_instalments)
    assert sum(i.amount for i in plan.instalments) + plan.penalty_waived == Decimal("1000.00")
    assert all(a.deadline < b.deadline for a, b in zip(plan.instalments, plan.instalments[1:], strict=False))
    assert plan.instalments[0].amount <= plan.instalments[-1].amount  # no lump sum up front
    assert "credit bureau" in plan.credit_effect


def test_a_waiver_above_the_threshold_needs_approval():
    loan = LOAN.model_copy(update={"penalties_accrued": Decimal("900.00")})
    plan = plans.propose_plan("p1", HardshipReport(reason=HardshipReason.JOB_LOSS, waive_penalty=True), loan,
                              Decimal("3000.00"), Decimal("0"), datetime(2026, 12, 1, tzinfo=UTC), "Asia/Shanghai",
                              POLICY.hardship)
    assert plan.penalty_waived == Decimal("900.00") and plan.needs_approval
