"""The daily intake, run by a Temporal Schedule (`intake/schedule.py`): operators pause it or run it
now from the Web UI's Schedules page."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.contracts import IntakeRequest, IntakeSummary, UpcomingRequest
    from activities.intake import IntakeActivities


EARLY_WARNING = "early-warning"  # the intake also judges loans falling due soon (docs/steering.md)
RETRY = RetryPolicy(initial_interval=timedelta(seconds=5), maximum_interval=timedelta(minutes=5))


@workflow.defn
class DailyIntake:
    @workflow.run
    async def run(self, lookback_days: int = 7) -> IntakeSummary:
        info, day = workflow.info(), workflow.now().date()
        summary = await workflow.execute_activity_method(
            IntakeActivities.start_newly_overdue,
            IntakeRequest(day=day, lookback_days=lookback_days, task_queue=info.task_queue),
            start_to_close_timeout=timedelta(hours=2), heartbeat_timeout=timedelta(minutes=2),
            retry_policy=RETRY, summary="Start the cases of newly overdue loans",
        )
        if workflow.patched(EARLY_WARNING):  # runs recorded before early warning had one activity
            summary.early_warning = await workflow.execute_activity_method(
                IntakeActivities.watch_upcoming, UpcomingRequest(day=day, task_queue=info.task_queue),
                start_to_close_timeout=timedelta(hours=2), heartbeat_timeout=timedelta(minutes=2),
                retry_policy=RETRY, summary="Early warning for loans falling due soon",
            )
        return summary
