"""Synthetic borrowers and loans for tests (never real people)."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest
from temporalio.client import WorkflowUpdateFailedError

from domain.case_input import CaseInput

# Sandbox numbers choose outcomes by their last two digits (adapters/providers/sandbox.py).
ANSWERS = "+8613800138050"       # SMS delivered, robot answered, agent no answer
UNREACHABLE = "+8613800138000"   # SMS failed, calls not answered
TALKS = "+8613800138091"         # calls become conversations
DISTRESSED = "+8613800138099"    # a call in which the borrower shows distress
EMERGENCY = "+8613900139050"


def case(*, case_id: str | None = None, mobile: str | list[str] = ANSWERS, balance: str = "3000.00",
         profile: str = "low_risk", policy: str = "standard", timezone: str = "Asia/Shanghai",
         country: str = "CN", address: bool = True, emergency: bool = True, **extra) -> CaseInput:
    profiles = {
        "low_risk": {"monthly_income": "12000", "monthly_debt_payments": "1000", "on_time_payments": 20,
                     "late_payments": 1, "missed_payments": 0},
        "high_risk": {"monthly_income": "15000", "monthly_debt_payments": "2000", "on_time_payments": 2,
                      "late_payments": 3, "missed_payments": 8, "broken_promises": 2},
        "hardship": {"monthly_income": "2000", "monthly_debt_payments": "1500", "on_time_payments": 18,
                     "late_payments": 2, "missed_payments": 1},
    }
    data = {
        "case_id": case_id or f"T-{uuid.uuid4().hex[:10]}",
        "borrower": {
            "name": "Test Borrower", "mobile_numbers": [mobile] if isinstance(mobile, str) else mobile,
            "address": {"line1": "1 Test Road", "city": "Hangzhou", "region": "Zhejiang", "postal_code": "310000",
                        "country": country} if address else {},
            "timezone": timezone, "country": country, "locale": "zh-CN" if country == "CN" else "en",
        },
        "emergency_contacts": [{"name": "Test Contact", "relation": "sibling", "phone": EMERGENCY}] if emergency else [],
        "loan": {"loan_id": "L-1", "principal": "5000.00", "outstanding_balance": balance, "currency": "CNY",
                 "due_date": (date.today() - timedelta(days=10)).isoformat(), "days_past_due": 10,
                 "daily_penalty_rate": "0.0005", "penalties_accrued": "150.00"},
        "profile": profiles[profile],
        "policy": policy,
    }
    data.update(extra)
    return CaseInput.model_validate(data)


def money(text: str) -> Decimal:
    return Decimal(text)


async def rejected(update, reason: str) -> str:
    """Await an update that the workflow's validator must reject; return the reason it gave."""
    with pytest.raises(WorkflowUpdateFailedError) as failure:
        await update
    message = str(failure.value.cause)
    assert reason in message, f"rejected for another reason: {message}"
    return message
