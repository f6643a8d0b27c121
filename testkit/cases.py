"""Synthetic borrowers and loans (never real people): the tests' cases, the load test's numbered cases
and the demo's cases from `examples/`."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from adapters.config_files import load_rule_pack
from domain import clock
from domain.case_input import CaseInput

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# Sandbox numbers choose outcomes by their last two digits (adapters/providers/sandbox.py).
ANSWERS = "+8613800138050"       # SMS delivered, robot answered, agent no answer
UNREACHABLE = "+8613800138000"   # SMS failed, calls not answered
TALKS = "+8613800138091"         # calls become conversations
DISTRESSED = "+8613800138099"    # a call in which the borrower shows distress
EMERGENCY = "+8613900139050"

# Borrower profiles that the standard scorecard puts in each segment.
PROFILES: dict[str, dict[str, Any]] = {
    "low_risk": {"monthly_income": "12000", "monthly_debt_payments": "1000", "on_time_payments": 20,
                 "late_payments": 1, "missed_payments": 0},
    "high_risk": {"monthly_income": "15000", "monthly_debt_payments": "2000", "on_time_payments": 2,
                  "late_payments": 3, "missed_payments": 8, "broken_promises": 2},
    "hardship": {"monthly_income": "2000", "monthly_debt_payments": "1500", "on_time_payments": 18,
                 "late_payments": 2, "missed_payments": 1},
}


# The address's region by country: where `testkit.staff` has trained collectors.
REGIONS = {"CN": "Zhejiang", "GB": "England", "US": "California"}


def case(*, case_id: str | None = None, mobile: str | list[str] = ANSWERS, balance: str = "3000.00",
         profile: str = "low_risk", policy: str = "standard", timezone: str = "Asia/Shanghai",
         country: str = "CN", address: bool = True, emergency: bool = True, name: str = "Test Borrower",
         contact: str = "Test Contact", loan_id: str = "L-1", days_past_due: int = 10,
         instalments: dict[str, Any] | None = None, daily_penalty_rate: str = "0", annual_interest_rate: str = "0",
         region: str | None = None, **extra: Any) -> CaseInput:
    """A case on the sandbox's numbers; `extra` replaces top-level fields of the input as given. Its loan
    accrues nothing unless given rates (tests of contact and process pay the balance they were given)."""
    data: dict[str, Any] = {
        "case_id": case_id or f"T-{uuid.uuid4().hex[:10]}",
        "borrower": {
            "name": name, "mobile_numbers": [mobile] if isinstance(mobile, str) else mobile,
            "address": {"line1": "1 Test Road", "city": "Hangzhou", "region": region or REGIONS.get(country, ""),
                        "postal_code": "310000",
                        "country": country} if address else {},
            "timezone": timezone, "country": country, "locale": "zh-CN" if country == "CN" else "en",
        },
        "emergency_contacts": [{"name": contact, "relation": "sibling", "phone": EMERGENCY}] if emergency else [],
        "loan": {"loan_id": loan_id, "principal": "5000.00", "outstanding_balance": balance, "currency": "CNY",
                 "due_date": (date.today() - timedelta(days=days_past_due)).isoformat(),
                 "days_past_due": days_past_due, "daily_penalty_rate": daily_penalty_rate,
                 "annual_interest_rate": annual_interest_rate, "penalties_accrued": "150.00",
                 "instalments": instalments},
        "profile": PROFILES[profile],
        "policy": policy,
    }
    data.update(extra)
    return CaseInput.model_validate(data)


def numbered(n: int, *, tag: str, policy: str, timezone: str, profile: str = "low_risk") -> CaseInput:
    """Case `n` of a load run, `<tag>-<n:06d>`: its own borrower and loan, balance 3000.00, answering SMS."""
    return case(case_id=f"{tag}-{n:06d}", policy=policy, timezone=timezone, profile=profile,
                name=f"Load Borrower {n}", contact=f"Load Contact {n}", loan_id=f"L-{n}", days_past_due=28)


def example(name: str, *, case_id: str, policy: str, timezone: str) -> CaseInput:
    """The case in `examples/<name>.json`, under another id, policy and borrower timezone."""
    data = json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))
    data["case_id"] = case_id
    data["policy"] = policy
    data["borrower"]["timezone"] = timezone
    return CaseInput.model_validate(data)


def visit_hours(now: datetime, timezone: str) -> dict[str, datetime]:
    """`started_at` and `ended_at` of a 40-minute visit inside the visit window that ended before `now`,
    on the borrower's latest day that allows it: a report the audit finds clean."""
    window = load_rule_pack("cn").visit_window
    local = clock.local(now, timezone)
    start = clock.at_local(local.date(), window.start, timezone) + timedelta(minutes=15)
    if start + timedelta(minutes=40) > now:
        start = clock.at_local(local.date() - timedelta(days=1), window.start, timezone) + timedelta(minutes=15)
    return {"started_at": start, "ended_at": start + timedelta(minutes=40)}


def daytime_zone(now: datetime | None = None) -> str:
    """A zone where it is (now) well inside the contact window, so the rules hold on the real clock."""
    window = load_rule_pack("cn").contact_window
    return clock.zone_inside_window(now or datetime.now(UTC), window.start, window.end)
