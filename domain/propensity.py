"""Propensity to pay: what a case has shown so far (`Snapshot`), the model's features from it, and the
segment decided from the model's score and the rules together.

One definition serves both sides: the workflow builds a snapshot from its state when it scores, and the
training command builds the same snapshot from the ledger at the same moments (the case's assessment,
then each broken promise, right-party contact and partial payment), so the model learns on what it will
be shown. The model only ranks; the rules keep the last word where they protect the borrower: a
borrower the scorecard finds unable to pay stays on the hardship path whatever the score.
"""

from __future__ import annotations

import math
from decimal import Decimal

from pydantic import Field

from domain.case_input import CaseInput
from domain.enums import DelinquencyReason, Segment
from domain.enums import ScoreTrigger as Trigger
from domain.state import Assessment
from domain.values import Model

__all__ = ["FEATURES", "Score", "Snapshot", "Trigger", "features", "opening_snapshot", "scorecard_rank", "segment"]


class Snapshot(Model):
    """A case as it stood when scored: the loan system's facts at the start and what has happened since.
    Codes and counts only (no name, number or note)."""

    country: str = Field(pattern=r"^[A-Z]{2}$")
    days_past_due: int = Field(ge=0, description="at the case's start")
    principal: Decimal
    balance: Decimal = Field(description="at the case's start")
    monthly_income: Decimal
    monthly_debt_payments: Decimal
    on_time_payments: int = 0
    late_payments: int = 0
    missed_payments: int = 0
    broken_promises_before: int = 0
    ability: int = Field(ge=0, le=100)
    willingness: int = Field(ge=0, le=100)
    numbers: int = Field(ge=0, description="usable borrower numbers after verification")
    days_open: float = Field(ge=0)
    messages_delivered: int = 0
    calls: int = 0
    right_party_contacts: int = 0
    promises: int = 0
    promises_kept: int = 0
    promises_broken: int = 0
    paid: Decimal = Field(default=Decimal(0), ge=0, description="paid since the case's start")
    reason: DelinquencyReason | None = None


COUNTRIES = ("CN", "GB", "US")
FEATURES: tuple[str, ...] = (
    "days_past_due", "log_balance", "balance_to_principal", "debt_ratio", "months_of_free_income",
    "history_on_time_share", "history_missed", "broken_promises_before", "ability", "willingness", "numbers",
    "days_open", "messages_delivered", "calls", "right_party_contacts", "right_party_rate", "promises",
    "promises_kept", "promises_broken", "paid_share",
    *(f"country_{c}" for c in COUNTRIES),
    *(f"reason_{r.value}" for r in DelinquencyReason), "reason_none",
)


def features(s: Snapshot) -> list[float]:
    """The model's inputs, in `FEATURES` order: ratios rather than amounts, so currencies mix."""
    income, debt = float(s.monthly_income), float(s.monthly_debt_payments)
    free = income - debt
    history = s.on_time_payments + s.late_payments + s.missed_payments
    balance = float(s.balance)
    named = {
        "days_past_due": float(s.days_past_due),
        "log_balance": math.log1p(max(balance, 0.0)),
        "balance_to_principal": balance / float(s.principal) if s.principal > 0 else 1.0,
        "debt_ratio": debt / income if income > 0 else 1.0,
        "months_of_free_income": min(balance / free, 60.0) if free > 0 else 60.0,
        "history_on_time_share": s.on_time_payments / history if history else 0.5,
        "history_missed": float(s.missed_payments),
        "broken_promises_before": float(s.broken_promises_before),
        "ability": float(s.ability),
        "willingness": float(s.willingness),
        "numbers": float(s.numbers),
        "days_open": s.days_open,
        "messages_delivered": float(s.messages_delivered),
        "calls": float(s.calls),
        "right_party_contacts": float(s.right_party_contacts),
        "right_party_rate": s.right_party_contacts / s.calls if s.calls else 0.0,
        "promises": float(s.promises),
        "promises_kept": float(s.promises_kept),
        "promises_broken": float(s.promises_broken),
        "paid_share": float(s.paid) / balance if balance > 0 else 0.0,
        **{f"country_{c}": float(s.country == c) for c in COUNTRIES},
        **{f"reason_{r.value}": float(s.reason is r) for r in DelinquencyReason},
        "reason_none": float(s.reason is None),
    }
    return [named[name] for name in FEATURES]


def scorecard_rank(assessment: Assessment) -> float:
    """The rule scorecard's own ranking, for comparison with the model: ability and willingness, equally
    weighted, on 0..1 (higher: likelier to pay)."""
    return (assessment.ability + assessment.willingness) / 200


class Score(Model):
    """A model's answer for one snapshot."""

    probability: float = Field(ge=0, le=1, description="of cure within the model's horizon")
    model_version: str


def segment(rules: Segment, score: Score | None, low_risk_from: float, high_risk_below: float,
            current: Segment | None = None, protected: bool = False) -> tuple[Segment, str]:
    """The segment from the scorecard's (`rules`) and the score together, with why. Without a score the
    rules decide alone. A score never moves a borrower onto a stricter path who cannot pay or needs care:
    hardship by the scorecard, a case already on the hardship path (`current`), or one `protected` (a
    hardship report, distress, a vulnerability) keeps its path. Otherwise a high score takes the gentle
    path and a low one the strict path; in between the scorecard's segment stands."""
    if score is None:
        return current or rules, "rules alone (no model)"
    p, version = score.probability, score.model_version
    if rules is Segment.HARDSHIP or current is Segment.HARDSHIP or protected:
        kept = current or rules
        return kept, f"{kept.value} kept: the borrower cannot pay or needs care; score {p:.2f} ({version})"
    if p >= low_risk_from:
        return Segment.LOW_RISK, f"score {p:.2f} ≥ {low_risk_from} ({version})"
    if p < high_risk_below:
        return Segment.HIGH_RISK, f"score {p:.2f} < {high_risk_below} ({version})"
    return rules, f"score {p:.2f} ({version}) between the thresholds: the scorecard's {rules.value}"


def opening_snapshot(case: CaseInput, assessment: Assessment) -> Snapshot:
    """A loan as the loan system describes it, before any contact: what early warning scores."""
    loan, profile = case.loan, case.profile
    return Snapshot(
        country=case.borrower.country, days_past_due=loan.days_past_due, principal=loan.principal,
        balance=loan.outstanding_balance, monthly_income=profile.monthly_income,
        monthly_debt_payments=profile.monthly_debt_payments, on_time_payments=profile.on_time_payments,
        late_payments=profile.late_payments, missed_payments=profile.missed_payments,
        broken_promises_before=profile.broken_promises, ability=assessment.ability,
        willingness=assessment.willingness, numbers=len(case.borrower.mobile_numbers), days_open=0)
