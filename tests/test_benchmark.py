"""The benchmark's pure helpers (no timing here: figures live in docs/benchmarks.md)."""

from __future__ import annotations

from temporalio.api.common.v1 import Payload, SearchAttributes
from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.api.history.v1 import (
    ActivityTaskStartedEventAttributes,
    HistoryEvent,
    MarkerRecordedEventAttributes,
    UpsertWorkflowSearchAttributesEventAttributes,
    WorkflowTaskFailedEventAttributes,
)

from loadtest.actions import billable_actions
from loadtest.tuning import WorkerTuning

E = EventType


def event(kind: EventType.ValueType, **attributes: object) -> HistoryEvent:
    return HistoryEvent(event_type=kind, **attributes)  # type: ignore[arg-type]


def upsert(*names: str) -> HistoryEvent:
    fields = {name: Payload(data=b'"x"') for name in names}
    return event(E.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
                 upsert_workflow_search_attributes_event_attributes=UpsertWorkflowSearchAttributesEventAttributes(
                     search_attributes=SearchAttributes(indexed_fields=fields)))


def started(attempt: int) -> HistoryEvent:
    return event(E.EVENT_TYPE_ACTIVITY_TASK_STARTED,
                 activity_task_started_event_attributes=ActivityTaskStartedEventAttributes(attempt=attempt))


def marker(task: int) -> HistoryEvent:
    return event(E.EVENT_TYPE_MARKER_RECORDED,
                 marker_recorded_event_attributes=MarkerRecordedEventAttributes(workflow_task_completed_event_id=task))


def test_a_short_case_counts_as_temporal_cloud_bills_it():
    history = [
        event(E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED),
        event(E.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED), event(E.EVENT_TYPE_WORKFLOW_TASK_STARTED),
        event(E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED),
        event(E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED), started(1), event(E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED),
        event(E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED), started(3), event(E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED),
        event(E.EVENT_TYPE_TIMER_STARTED), event(E.EVENT_TYPE_TIMER_CANCELED),
        event(E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED),
        event(E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED),
        event(E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED),
        upsert("CaseStage", "CaseSegment"),
        upsert("TemporalChangeVersion"),
        event(E.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED),
        marker(4), marker(4), marker(9),
        event(E.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW),
    ]
    counts = billable_actions(history)
    assert counts == {
        "workflow started": 1, "activity": 2, "activity retry": 2, "timer": 1, "update": 1, "signal": 1,
        "search attributes": 1, "child workflow": 2, "local activities": 2,
    }
    assert sum(counts.values()) == 13


def failed(cause: WorkflowTaskFailedCause.ValueType) -> HistoryEvent:
    return event(E.EVENT_TYPE_WORKFLOW_TASK_FAILED,
                 workflow_task_failed_event_attributes=WorkflowTaskFailedEventAttributes(cause=cause))


def test_workflow_tasks_completions_and_failures_are_free_but_a_reset_is_billed():
    reset = failed(WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW)
    plain = failed(WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND)
    assert billable_actions([event(E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED), plain, reset,
                             event(E.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED)]) == {"reset": 1}


def test_worker_settings_travel_on_the_command_line():
    tuning = WorkerTuning(cache=500, workflow_tasks=20, activity_polls=2)
    assert WorkerTuning.parse(tuning.argv()) == tuning
    options = tuning.options()
    assert options["max_cached_workflows"] == 500 and options["max_concurrent_workflow_tasks"] == 20
    assert "max_concurrent_activities" not in options and options["activity_task_poller_behavior"].maximum == 2


def test_a_profile_is_summed_by_where_the_time_goes():
    from loadtest.profile import share

    collapsed = "\n".join([
        "run (worker.py:1);execute (sqlalchemy/engine/base.py:9);send (asyncpg/protocol.py:3) 6",
        "run (worker.py:1);activate (temporalio/worker/_workflow_instance.py:5) 3",
        "run (worker.py:1);encode (adapters/codec.py:7);step (workflows/case/core.py:1) 1",
    ])
    total, shares = share(collapsed)
    assert total == 10
    assert shares["ledger (PostgreSQL: SQLAlchemy, asyncpg)"] == 0.6
    assert shares["workflow activations (SDK workflow instance)"] == 0.3
    assert shares["payload codec (encryption)"] == 0.1


def test_a_thread_waiting_in_its_event_loop_is_not_busy():
    from loadtest.profile import share

    total, shares = share("run (x.py:1);EpollSelector.select (selectors.py:464) 5\nrun (x.py:1);q (asyncpg/a.py:1) 5")
    assert total == 5 and shares["ledger (PostgreSQL: SQLAlchemy, asyncpg)"] == 1.0
