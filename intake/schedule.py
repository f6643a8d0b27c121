"""The daily intake as a Temporal Schedule: created or brought up to date from configuration, and
left to operators afterwards (pause, trigger, backfill from the Web UI's Schedules page)."""

from __future__ import annotations

import os
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleHandle,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from workflows.daily_intake import DailyIntake

SCHEDULE_ID = "daily-intake"


def daily_intake(task_queue: str, at: str | None = None, timezone: str | None = None,
                 lookback_days: int = 7) -> Schedule:
    """Every day at `at` (HH:MM, INTAKE_AT, default 06:00) in `timezone` (INTAKE_TIMEZONE, default UTC);
    a run still going when the next is due makes the next one skip."""
    at = at or os.environ.get("INTAKE_AT", "06:00")
    try:
        hour, minute = (int(x) for x in at.split(":"))
    except ValueError:
        raise SystemExit(f"INTAKE_AT must be HH:MM, not {at!r}") from None
    return Schedule(
        action=ScheduleActionStartWorkflow(DailyIntake.run, lookback_days, id="daily-intake", task_queue=task_queue),
        spec=ScheduleSpec(calendars=[ScheduleCalendarSpec(hour=[ScheduleRange(hour)], minute=[ScheduleRange(minute)])],
                          time_zone_name=timezone or os.environ.get("INTAKE_TIMEZONE", "UTC")),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(days=1)),
        state=ScheduleState(note="Starts the cases of loans newly overdue in the loan system's export"),
    )


async def ensure_schedule(client: Client, task_queue: str, **options) -> ScheduleHandle:
    """Create the Schedule, or update its action and timing; a pause set by an operator stays."""
    wanted = daily_intake(task_queue, **options)
    try:
        return await client.create_schedule(SCHEDULE_ID, wanted)
    except ScheduleAlreadyRunningError:
        handle = client.get_schedule_handle(SCHEDULE_ID)

        def keep_state(current: ScheduleUpdateInput) -> ScheduleUpdate:
            wanted.state = current.description.schedule.state
            return ScheduleUpdate(schedule=wanted)

        await handle.update(keep_state)
        return handle
