"""The daily intake as a Temporal Schedule: created or brought up to date from configuration, and
left to operators afterwards (pause, trigger, backfill from the Web UI's Schedules page)."""

from __future__ import annotations

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

from settings import DAILY_INTAKE_AT, DAILY_INTAKE_SCHEDULE_ID, DAILY_INTAKE_TIMEZONE
from workflows.daily_intake import DailyIntake

SCHEDULE_ID = DAILY_INTAKE_SCHEDULE_ID  # operators find it by this id on the Schedules page


def daily_intake(task_queue: str, at: str = DAILY_INTAKE_AT, timezone: str = DAILY_INTAKE_TIMEZONE,
                 lookback_days: int = 7) -> Schedule:
    """Every day at `at` (HH:MM; INTAKE_AT in `settings.IntakeSettings`) in `timezone` (INTAKE_TIMEZONE);
    a run still going when the next is due makes the next one skip."""
    try:
        hour, minute = (int(x) for x in at.split(":"))
    except ValueError:
        raise SystemExit(f"INTAKE_AT must be HH:MM, not {at!r}") from None
    return Schedule(
        action=ScheduleActionStartWorkflow(DailyIntake.run, lookback_days, id="daily-intake", task_queue=task_queue),
        spec=ScheduleSpec(calendars=[ScheduleCalendarSpec(hour=[ScheduleRange(hour)], minute=[ScheduleRange(minute)])],
                          time_zone_name=timezone),
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
