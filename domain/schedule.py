"""When the next step of a treatment's contact schedule is due: the reminder cadence.

The cadence itself is data: each segment's `schedule` in `config/policies/*.yaml` lists its steps
(channel, template, and the wait `after` the previous step). These functions say when a step falls
due; the guard then says whether it may go out at that moment (hours, caps, holds).
"""

from __future__ import annotations

from datetime import datetime

from domain.policy import ContactStep, RelationshipPolicy


def first_step_at(schedule: list[ContactStep], start: datetime) -> datetime:
    """The first step, counted from when the treatment starts (the assessment, or a review)."""
    return start + schedule[0].after


def next_step_at(schedule: list[ContactStep], index: int, previous_at: datetime) -> datetime | None:
    """Step `index` (0-based), counted from the step before it (or a resumption); None past the end."""
    return previous_at + schedule[index].after if index < len(schedule) else None


def step_due(due_at: datetime | None, now: datetime) -> bool:
    """Whether a step planned for `due_at` may be taken now (no plan: at once)."""
    return due_at is None or now >= due_at


def relationship_until(paid_at: datetime, policy: RelationshipPolicy) -> datetime:
    """How long a settled case keeps its light touch."""
    return paid_at + policy.duration


def reminder_at(previous_at: datetime, policy: RelationshipPolicy) -> datetime:
    """The next credit-health reminder, counted from the last (or from settlement)."""
    return previous_at + policy.reminder_interval


def relationship_wake(next_reminder: datetime, until: datetime) -> datetime:
    """When a settled case next looks: its next reminder, or its end if that comes first."""
    return min(next_reminder, until)
