"""Breathing space: how long a moratorium holds a case. The scheme's numbers (standard length, the
days after a mental-health crisis treatment ends) are rule-pack data with their source."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Literal

from domain import clock
from domain.policy import Moratorium


def moratorium_until(kind: Literal["standard", "mental_health_crisis"], start: datetime,
                     scheme: Moratorium) -> datetime | None:
    """A standard moratorium has a fixed length; a mental-health crisis one lasts until its treatment
    ends, and then some (None until that end is known)."""
    return start + timedelta(days=scheme.standard_days) if kind == "standard" else None


def after_crisis_treatment(ended_on: date, timezone: str, scheme: Moratorium) -> datetime:
    """A crisis moratorium's end, once the treatment's end date is known (borrower's local day)."""
    return clock.end_of_local_day(ended_on, timezone) + timedelta(days=scheme.after_crisis_treatment_days)
