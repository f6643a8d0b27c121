"""Seeded synthetic borrowers: hidden traits, and the loan and profile the loan system would send.

Each borrower has traits nobody observes directly: ability and willingness to pay, reachability (how
often they answer, better in the evening for some), how they react to an SMS and to a call, whether they
keep promises, and a small chance of distress. What the loan system knows (income, other debt, the
repayment record, broken promises) is drawn from the traits with noise, so the rule scorecard sees
some of the truth, and the contacts a case makes reveal more (who answers, who promises, who pays):
what a model trained on outcomes can learn and the scorecard cannot. Every number is synthetic.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from domain.case_input import CaseInput

COUNTRIES = (  # country, share, timezone, currency, locale, mobile prefix, region (testkit.staff's collectors)
    ("CN", 0.70, "Asia/Shanghai", "CNY", "zh-CN", "+86138", "Zhejiang"),
    ("GB", 0.15, "Europe/London", "GBP", "en", "+447911", "England"),
    ("US", 0.15, "America/Los_Angeles", "USD", "en", "+1415555", "California"),
)


@dataclass(frozen=True)
class Traits:
    """What drives a borrower's behaviour in the simulation (hidden from the engine)."""

    ability: float  # 0..1: can pay
    willingness: float  # 0..1: will pay
    reach: float  # 0..1: answers a call
    evening: bool  # answers far more often after 17:00 local
    sms_response: float  # an SMS moves them to pay
    call_response: float  # a conversation moves them to promise
    keeps_promises: float
    distress: float  # on a conversation
    pays_unprompted: float  # a week's chance of paying with no contact at all


@dataclass(frozen=True)
class SimLoan:
    """One loan of the portfolio: when it enters (overdue, or due soon for an early warning), its case."""

    case: CaseInput
    traits: Traits
    enters_at: datetime
    upcoming: bool  # due in the future when it enters: a candidate for early warning


def _beta(rng: random.Random, a: float, b: float) -> float:
    return rng.betavariate(a, b)


def traits(rng: random.Random) -> Traits:
    ability = _beta(rng, 2.2, 1.8)
    willingness = _beta(rng, 2.5, 1.6)
    return Traits(
        ability=ability, willingness=willingness, reach=_beta(rng, 2.0, 2.0), evening=rng.random() < 0.4,
        sms_response=_beta(rng, 1.2, 6.0), call_response=_beta(rng, 2.0, 2.5), keeps_promises=_beta(rng, 3.0, 1.5),
        distress=0.01 if rng.random() < 0.9 else 0.08, pays_unprompted=_beta(rng, 1.0, 12.0))


def _money(x: float) -> str:
    return str(Decimal(x).quantize(Decimal("0.01")))


def borrower(n: int, rng: random.Random, t: Traits, start: datetime, upcoming: bool, tag: str) -> CaseInput:
    """The loan system's view of borrower `n`: observable facts drawn from the hidden traits, with noise."""
    country, _, tz, currency, locale, prefix, region = _country(rng)
    scale = {"CNY": 1.0, "GBP": 0.11, "USD": 0.14}[currency]
    income = max(800.0, rng.lognormvariate(8.9 + 0.9 * (t.ability - 0.5), 0.35)) * scale
    debt_ratio = min(0.95, max(0.0, 0.95 * (1 - t.ability) + rng.gauss(0, 0.12)))
    history = rng.randint(0, 24)
    on_time_share = min(1.0, max(0.0, 0.05 + 0.85 * t.willingness + rng.gauss(0, 0.18)))
    on_time = round(history * on_time_share)
    missed = round((history - on_time) * rng.uniform(0.3, 1.0))
    principal = rng.choice((3000, 5000, 8000, 12000, 20000, 30000)) * scale
    balance = principal * rng.uniform(0.4, 1.05)
    dpd = 0 if upcoming else rng.choice((1, 3, 5, 10, 15, 20, 30, 45, 60))
    due = (start.date() + timedelta(days=rng.randint(3, 6))) if upcoming else start.date() - timedelta(days=dpd)
    digits = 8 if country == "CN" else (6 if country == "GB" else 4)
    numbers = [f"{prefix}{rng.randrange(10 ** digits):0{digits}d}" for _ in range(1 if rng.random() < 0.7 else 2)]
    return CaseInput.model_validate({
        "case_id": f"{tag}-{n:06d}",
        "borrower": {
            "name": f"Simulated Borrower {n}", "mobile_numbers": numbers, "timezone": tz, "country": country,
            "locale": locale, "robot_call_consent": numbers if country == "US" else [],
            "address": {"line1": f"{n} Simulation Road", "city": "Sim City", "region": region,
                        "postal_code": "000000", "country": country},
        },
        "emergency_contacts": [{"name": f"Simulated Contact {n}", "relation": "sibling",
                                "phone": f"{prefix}{rng.randrange(10 ** digits):0{digits}d}"}],
        "loan": {"loan_id": f"SL-{n:06d}", "principal": _money(principal), "outstanding_balance": _money(balance),
                 "currency": currency, "due_date": due.isoformat(), "days_past_due": dpd,
                 "annual_interest_rate": "0.12", "daily_penalty_rate": "0", "penalties_accrued": "0"},
        "profile": {"monthly_income": _money(income), "monthly_debt_payments": _money(income * debt_ratio),
                    "on_time_payments": on_time, "late_payments": history - on_time - missed,
                    "missed_payments": missed,
                    "broken_promises": min(5, int(rng.expovariate(1.0) * (1.2 - t.willingness)))},
        "policy": "standard",
    })


def _country(rng: random.Random) -> tuple[str, float, str, str, str, str, str]:
    x = rng.random()
    for row in COUNTRIES:
        if x < row[1]:
            return row
        x -= row[1]
    return COUNTRIES[0]


def portfolio(n: int, seed: int, first: datetime, span: timedelta, upcoming_share: float = 0.3,
              tag: str = "SIM") -> list[SimLoan]:
    """`n` loans entering over `span` from `first`, in order of entry; the same seed, the same portfolio."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        enters = first + span * (i / max(1, n))
        t = traits(rng)
        upcoming = rng.random() < upcoming_share
        out.append(SimLoan(borrower(i, rng, t, enters, upcoming, tag), t, enters, upcoming))
    return out


def due_today(loan: SimLoan, today: date) -> bool:
    return loan.case.loan.due_date == today
