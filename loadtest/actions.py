"""Billable actions of a workflow run, counted from its history as Temporal Cloud counts them.

The definition is Temporal's page "Temporal Cloud Actions" (https://docs.temporal.io/cloud/actions),
read for this benchmark in its current version; per history event:

    WorkflowExecutionStarted                       1  (a client start, a continue-as-new's new run, a child)
    WorkflowExecutionContinuedAsNew                0  (billed as the next run's WorkflowExecutionStarted)
    StartChildWorkflowExecutionInitiated           2  (the intent, and the attempt to start it)
    UpsertWorkflowSearchAttributes                 1  (per command, however many attributes; none when it
                                                       only sets TemporalChangeVersion)
    WorkflowExecutionOptionsUpdated                1
    WorkflowTaskFailed (cause RESET_WORKFLOW)      1  (a reset)
    ActivityTaskScheduled                          1  (the activity started)
    ActivityTaskStarted                            attempt - 1  (its retries)
    MarkerRecorded                                 1  per workflow task that records any, however many
                                                       (the page bills local activities' markers this way)
    TimerStarted                                   1  (also the implicit timer of a wait with a timeout)
    WorkflowExecutionSignaled                      1  (the sender's SignalExternal... is not billed)
    WorkflowExecutionUpdateAccepted                1  (rejected updates are billed too, but leave no event)
    NexusOperationScheduled / CancelRequested      1

Not in a history, so not counted here: queries (one action each, answered by a worker), rejected
updates, activity heartbeats that reach the server, schedules' own actions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.api.history.v1 import HistoryEvent

E = EventType
ONE_EACH = {
    E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED: "workflow started",
    E.EVENT_TYPE_WORKFLOW_EXECUTION_OPTIONS_UPDATED: "workflow options updated",
    E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: "activity",
    E.EVENT_TYPE_TIMER_STARTED: "timer",
    E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED: "signal",
    E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED: "update",
    E.EVENT_TYPE_NEXUS_OPERATION_SCHEDULED: "nexus",
    E.EVENT_TYPE_NEXUS_OPERATION_CANCEL_REQUESTED: "nexus",
}
CHANGE_VERSION = "TemporalChangeVersion"


def billable_actions(events: Iterable[HistoryEvent]) -> Counter[str]:
    """The run's billable actions by kind (sum the values for the total)."""
    counts: Counter[str] = Counter()
    marker_tasks: set[int] = set()  # workflow tasks (by their completed event) that recorded markers
    for e in events:
        kind = e.event_type
        if kind in ONE_EACH:
            counts[ONE_EACH[kind]] += 1
        elif kind == E.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
            counts["child workflow"] += 2
        elif kind == E.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            fields = e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
            if set(fields) - {CHANGE_VERSION}:
                counts["search attributes"] += 1
        elif kind == E.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            retries = e.activity_task_started_event_attributes.attempt - 1
            if retries > 0:
                counts["activity retry"] += retries
        elif kind == E.EVENT_TYPE_MARKER_RECORDED:
            task = e.marker_recorded_event_attributes.workflow_task_completed_event_id
            if task not in marker_tasks:
                marker_tasks.add(task)
                counts["local activities"] += 1
        elif (kind == E.EVENT_TYPE_WORKFLOW_TASK_FAILED and e.workflow_task_failed_event_attributes.cause
              == WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW):
            counts["reset"] += 1
    return counts
