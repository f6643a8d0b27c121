"""Search attributes: how operators find cases in the Web UI. Never personal data: these are not
encrypted. Within the SQL visibility budget (at most 10 Keyword and 3 of each other type)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from temporalio.common import SearchAttributeKey, SearchAttributeUpdate

from domain.enums import Stage

CASE_STAGE = SearchAttributeKey.for_keyword("CaseStage")
RISK_SEGMENT = SearchAttributeKey.for_keyword("RiskSegment")
COUNTRY = SearchAttributeKey.for_keyword("Country")
ASSIGNED_TEAM = SearchAttributeKey.for_keyword("AssignedTeam")
DAYS_PAST_DUE = SearchAttributeKey.for_int("DaysPastDue")
AMOUNT_DUE = SearchAttributeKey.for_float("AmountDue")
CASE_FLAGS = SearchAttributeKey.for_keyword_list("CaseFlags")
NEXT_ACTION_AT = SearchAttributeKey.for_datetime("NextActionAt")
# The desk's (cases opened with it, or once someone assigns them): whose list, which first, what is owed by when.
ASSIGNED_AGENT = SearchAttributeKey.for_keyword("AssignedAgent")
PRIORITY = SearchAttributeKey.for_int("Priority")  # `domain.desk.priority`, as of the case's last step
DUE_BY = SearchAttributeKey.for_datetime("DueBy")  # the earliest deadline a person owes the case
PROMISE_DUE = SearchAttributeKey.for_datetime("PromiseDue")  # an open promise's due date, its first instant
# Champion/challenger: the arm a case was dealt (cases of a policy with a trial).
STRATEGY_ARM = SearchAttributeKey.for_keyword("StrategyArm")

# Keyword 6 of 10, KeywordList 1 of 3, Int 2 of 3, Double 1 of 3, Datetime 3 of 3 (SQL visibility's limits).
ALL: list[SearchAttributeKey[Any]] = [
    CASE_STAGE, RISK_SEGMENT, COUNTRY, ASSIGNED_TEAM, DAYS_PAST_DUE, AMOUNT_DUE, CASE_FLAGS, NEXT_ACTION_AT,
    ASSIGNED_AGENT, PRIORITY, DUE_BY, PROMISE_DUE, STRATEGY_ARM]

# Which team's queue a case sits in, by stage: what an operator filters on to find their work.
TEAM_BY_STAGE = {
    Stage.UPCOMING: "customer",
    Stage.VERIFICATION: "collections", Stage.ASSESSMENT: "collections", Stage.REMOTE_CONTACT: "collections",
    Stage.PROMISE: "collections", Stage.FIELD_VISIT: "field", Stage.HARDSHIP_PLAN: "care",
    Stage.WELLBEING_HOLD: "care", Stage.RELATIONSHIP: "customer", Stage.SETTLED: "customer",
    Stage.ESCALATED: "legal", Stage.REFERRED: "care", Stage.WITHDRAWN: "legal",
}


def case_attributes(stage: Stage, segment: str | None, country: str, days_past_due: int, amount_due: float,
                    flags: list[str], next_action_at: datetime | None) -> dict[str, object]:
    """The values a case shows; `updates` turns them into an upsert."""
    return {
        CASE_STAGE.name: stage.value, RISK_SEGMENT.name: segment, COUNTRY.name: country,
        ASSIGNED_TEAM.name: TEAM_BY_STAGE[stage], DAYS_PAST_DUE.name: days_past_due, AMOUNT_DUE.name: amount_due,
        CASE_FLAGS.name: sorted(set(flags)), NEXT_ACTION_AT.name: next_action_at,
    }


def desk_attributes(team: str | None, agent: str | None, priority: int, due_by: datetime | None,
                    promise_due: datetime | None) -> dict[str, object]:
    """What worklists filter and order on; `team` (an assignment's) overrides the stage's queue."""
    values: dict[str, object] = {ASSIGNED_AGENT.name: agent, PRIORITY.name: priority, DUE_BY.name: due_by,
                                 PROMISE_DUE.name: promise_due}
    return values | ({ASSIGNED_TEAM.name: team} if team else {})


def updates(values: dict[str, object], previous: dict[str, object]) -> list[SearchAttributeUpdate[Any]]:
    """Only what changed, so a case's history is not filled with identical upserts (a key a case does
    not show, such as the desk's on a case opened before it, is never set)."""
    out: list[SearchAttributeUpdate[Any]] = []
    for key in ALL:
        value = values.get(key.name)
        if value == previous.get(key.name):  # unchanged, or None and never set
            continue
        out.append(key.value_unset() if value is None else key.value_set(value))
    return out
