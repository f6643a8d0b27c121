"""Test-only helpers; the synthetic cases themselves are built by `testkit.cases`."""

from __future__ import annotations

from collections.abc import Awaitable

import pytest
from temporalio.client import WorkflowUpdateFailedError

from testkit.cases import ANSWERS, DISTRESSED, EMERGENCY, TALKS, UNREACHABLE, case, visit_hours

__all__ = ["ANSWERS", "DISTRESSED", "EMERGENCY", "TALKS", "UNREACHABLE", "case", "rejected", "visit_hours"]


async def rejected(update: Awaitable[object], reason: str) -> str:
    """Await an update that the workflow's validator must reject; return the reason it gave."""
    with pytest.raises(WorkflowUpdateFailedError) as failure:
        await update
    message = str(failure.value.cause)
    assert reason in message, f"rejected for another reason: {message}"
    return message
