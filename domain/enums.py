"""The case's enumerations, on their own so that policy and models can both use them."""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    SMS = "sms"
    ROBOT_CALL = "robot_call"
    AGENT_CALL = "agent_call"
    VISIT = "visit"

    @property
    def is_voice(self) -> bool:
        return self in (Channel.ROBOT_CALL, Channel.AGENT_CALL)


class Outcome(StrEnum):
    """Every state a contact attempt can be in; receipts move it forward."""

    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    NO_ANSWER = "no_answer"
    ANSWERED = "answered"  # picked up: a voice interaction, no real exchange
    CONVERSATION = "conversation"  # a real exchange with the borrower
    TASK_CREATED = "task_created"  # an agent call or visit handed to people
    SKIPPED = "skipped"  # the guard denied it

    @property
    def is_failure(self) -> bool:
        return self in (Outcome.FAILED, Outcome.NO_ANSWER)

    @property
    def is_interaction(self) -> bool:
        return self in (Outcome.ANSWERED, Outcome.CONVERSATION)


class Stage(StrEnum):
    VERIFICATION = "verification"
    ASSESSMENT = "assessment"
    REMOTE_CONTACT = "remote_contact"
    FIELD_VISIT = "field_visit"
    PROMISE = "promise"
    HARDSHIP_PLAN = "hardship_plan"
    WELLBEING_HOLD = "wellbeing_hold"
    RELATIONSHIP = "relationship"
    # terminal
    SETTLED = "settled"
    ESCALATED = "escalated"
    REFERRED = "referred"
    WITHDRAWN = "withdrawn"  # a dispute upheld: the debt is not owed as claimed

    @property
    def terminal(self) -> bool:
        return self in (Stage.SETTLED, Stage.ESCALATED, Stage.REFERRED, Stage.WITHDRAWN)


class Segment(StrEnum):
    HARDSHIP = "hardship"
    LOW_RISK = "low_risk"
    HIGH_RISK = "high_risk"
