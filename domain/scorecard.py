"""The assessment scorecard: ability and willingness to pay, each 0-100, and the segment.

Ability looks at money: the share of income left after other debt, against this loan's balance.
Willingness looks at behaviour: the repayment record and broken promises. The thresholds that turn
the two scores into a segment are policy (`ScorecardPolicy`); the arithmetic is here, documented,
and its inputs and result are recorded in the ledger.
"""

from __future__ import annotations

from decimal import Decimal

from domain.case_input import BorrowerProfile, Loan
from domain.enums import Segment
from domain.policy import ScorecardPolicy
from domain.state import Assessment


def ability_score(profile: BorrowerProfile, loan: Loan) -> tuple[int, list[str]]:
    reasons: list[str] = []
    income = profile.monthly_income
    if income <= 0:
        return 0, ["no income reported"]
    free = income - profile.monthly_debt_payments
    debt_ratio = profile.monthly_debt_payments / income
    # 60 points from the debt-service ratio: 0% -> 60, 80% or more -> 0
    ratio_points = max(Decimal(0), Decimal(60) * (1 - debt_ratio / Decimal("0.8")))
    # 40 points from how many months of free income the balance needs: <=1 -> 40, >=12 -> 0
    if free <= 0:
        months, months_points = None, Decimal(0)
        reasons.append("other debt takes all income")
    else:
        months = loan.outstanding_balance / free
        months_points = Decimal(40) * min(Decimal(1), max(Decimal(0), (12 - months) / 11))
    score = int((ratio_points + months_points).to_integral_value())
    reasons.append(f"debt service ratio {debt_ratio:.0%}")
    if months is not None:
        reasons.append(f"balance is {months:.1f} months of free income")
    return max(0, min(100, score)), reasons


def willingness_score(profile: BorrowerProfile) -> tuple[int, list[str]]:
    history = profile.on_time_payments + profile.late_payments + profile.missed_payments
    if history == 0:
        base, reasons = Decimal(60), ["no repayment history: neutral"]
    else:
        weighted = Decimal(profile.on_time_payments) + Decimal(profile.late_payments) / 2
        base = Decimal(100) * weighted / history
        reasons = [f"{profile.on_time_payments} on time, {profile.late_payments} late, "
                   f"{profile.missed_payments} missed"]
    penalty = Decimal(15) * profile.broken_promises
    if profile.broken_promises:
        reasons.append(f"{profile.broken_promises} broken promise(s)")
    return max(0, min(100, int((base - penalty).to_integral_value()))), reasons


def assess(profile: BorrowerProfile, loan: Loan, policy: ScorecardPolicy) -> Assessment:
    """Hardship first (cannot pay: soft path), then wilful (can pay, will not: strict path)."""
    ability, why_a = ability_score(profile, loan)
    willingness, why_w = willingness_score(profile)
    if ability < policy.hardship_below_ability:
        segment = Segment.HARDSHIP
    elif willingness < policy.high_risk_below_willingness:
        segment = Segment.HIGH_RISK
    else:
        segment = Segment.LOW_RISK
    return Assessment(ability=ability, willingness=willingness, segment=segment, reasons=why_a + why_w)
