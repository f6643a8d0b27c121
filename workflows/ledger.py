"""How workflows call activities: one retry policy, typed calls, idempotency keys from the caller. And
the two ledger writes a complaint makes on its own (an entry in its case's journal, a hand-off to a
supervisor); the case itself owes its facts to `workflows.case.bookkeeping`, which writes them with
its work."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.contracts import EscalationRecord, EventRecord
    from activities.ledger import LedgerActivities
    from domain.enums import HandOff

Arg = TypeVar("Arg")
Result = TypeVar("Result")

RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                    maximum_interval=timedelta(minutes=1))
DEFAULT_TIMEOUT = timedelta(seconds=30)


async def act(activity: Callable[[Any, Arg], Awaitable[Result]], arg: Arg, summary: str,
              timeout: timedelta = DEFAULT_TIMEOUT) -> Result:
    """Run one activity method with the project's retry policy; mypy checks `arg` and the result."""
    return await workflow.execute_activity_method(activity, arg, start_to_close_timeout=timeout,
                                                  retry_policy=RETRY, summary=summary)


async def record_event(case_id: str, key: str, kind: str, at: datetime, data: dict[str, Any],
                       timeout: timedelta = DEFAULT_TIMEOUT) -> None:
    """One fact in the case's append-only journal (the activity chains its hash)."""
    await act(LedgerActivities.record_event, EventRecord(case_id=case_id, key=key, kind=kind, at=at, data=data),
              f"Ledger: {kind.replace('_', ' ')}", timeout)


async def hand_off(case_id: str, key: str, kind: HandOff, reason: str, at: datetime, summary: str,
                   timeout: timedelta = DEFAULT_TIMEOUT) -> None:
    """A case, or a question about it, handed to people or a partner, on record."""
    await act(LedgerActivities.hand_off, EscalationRecord(case_id=case_id, key=key, kind=kind, reason=reason, at=at),
              summary, timeout)
