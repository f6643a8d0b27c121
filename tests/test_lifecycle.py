"""Every path of the case lifecycle on the time-skipping server: real workflow, real activities,
real Postgres ledger, the sandbox provider choosing outcomes by number."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from domain.models import Stage
from domain.policy import load_policy
from tests import factories
from workflows.overdue_case import OverdueCase
from domain.models import Payment


def pay(amount: str, ref: str) -> Payment:
    return Payment(amount=Decimal(amount), reference=ref, paid_at=datetime.now(UTC))


async def test_paid_in_full_goes_through_relationship_to_settled(cases):
    handle = await cases.start()
    status = await cases.until(handle, lambda s: s.contact_counts.get("sms", 0) >= 1, what="first SMS")
    assert status.stage is Stage.REMOTE_CONTACT and status.segment.value == "low_risk"

    result = await handle.execute_update(OverdueCase.record_payment, pay("3000.00", "BANK-1"))
    assert result.balance == 0

    outcome = await handle.result()
    assert outcome.stage is Stage.SETTLED and outcome.total_paid == Decimal("3000.00")
    case_id = outcome.case_id
    reminders = await cases.rows(
        "SELECT count(*) AS n FROM contact_attempts WHERE case_id = :c AND template = 'credit_health'", c=case_id)
    rel = load_policy("standard").relationship  # one reminder per interval strictly inside the period
    assert reminders[0]["n"] == -(-rel.duration // rel.reminder_interval) - 1
    [row] = await cases.rows("SELECT stage, balance, closed_at FROM cases WHERE case_id = :c", c=case_id)
    assert row["stage"] == "settled" and row["balance"] == 0 and row["closed_at"] is not None
