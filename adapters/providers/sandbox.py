"""The sandbox provider: a gateway that sends nothing, records everything, and answers by number.

Outcomes follow the last two digits of the number, like a payment provider's test cards, so a
demo or a test chooses a path by choosing a number:

| last digits | SMS        | robot call   | agent call                |
|-------------|------------|--------------|---------------------------|
| 00-09       | failed     | no answer    | no answer                 |
| 90-98       | delivered  | conversation | conversation              |
| 99          | delivered  | conversation | conversation, distress    |
| otherwise   | delivered  | answered     | no answer                 |

A visit dispatch always creates the task. Each idempotency key is sent once: a repeat returns the
recorded answer.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters import db
from adapters.providers.base import OutboundRequest, Played, ProviderResponse
from domain.enums import Channel, Outcome


def simulated_outcome(channel: Channel, to: str) -> tuple[Outcome, bool]:
    if channel is Channel.VISIT:
        return Outcome.TASK_CREATED, False
    if channel in (Channel.LETTER, Channel.EMAIL):  # posted; accepted by the relay
        return Outcome.SENT, False
    digits = "".join(c for c in to if c.isdigit())
    tail = int(digits[-2:]) if len(digits) >= 2 else 50
    if tail < 10:
        return (Outcome.FAILED if channel is Channel.SMS else Outcome.NO_ANSWER), False
    if tail >= 90:
        if channel is Channel.SMS:
            return Outcome.DELIVERED, False
        return Outcome.CONVERSATION, tail == 99
    if channel is Channel.SMS:
        return Outcome.DELIVERED, False
    if channel is Channel.AGENT_CALL and 80 <= tail < 90:  # the task waits for an agent to dial it
        return Outcome.TASK_CREATED, False
    if channel is Channel.ROBOT_CALL and 60 <= tail < 80:  # who answers: a machine, a stranger, a relative
        return (Outcome.VOICEMAIL if tail < 70 else Outcome.WRONG_PARTY if tail < 75 else Outcome.THIRD_PARTY), False
    return (Outcome.ANSWERED if channel is Channel.ROBOT_CALL else Outcome.NO_ANSWER), False


def spoken(request: OutboundRequest, outcome: Outcome) -> tuple[Played, str]:
    """What the answerer heard, as a right-party-first call plays it: the message only to the borrower."""
    script = request.script
    if script is None:  # an SMS, an agent's task, a visit brief: the body as sent
        return ("message", request.body) if outcome in (Outcome.DELIVERED, Outcome.SENT) else ("none", request.body)
    if outcome in (Outcome.ANSWERED, Outcome.CONVERSATION):
        return "message", f"{script.identify} / {script.message}"
    if outcome is Outcome.VOICEMAIL:
        return ("voicemail", script.voicemail) if script.voicemail else ("none", "")
    if outcome in (Outcome.WRONG_PARTY, Outcome.THIRD_PARTY):
        return "identify", script.identify
    return "none", ""


def mask(to: str) -> str:
    return ("*" * max(0, min(len(to), 8) - 4) + to[-4:]) if len(to) > 4 else "****"


class SandboxProvider:
    name = "sandbox"

    def __init__(self, engine: AsyncEngine):
        self.engine = engine

    async def deliver(self, request: OutboundRequest) -> ProviderResponse:
        outcome, distress = simulated_outcome(request.channel, request.to)
        played, said = spoken(request, outcome)
        table = db.sandbox_messages
        async with self.engine.begin() as conn:
            await conn.execute(
                insert(table).values(
                    idempotency_key=request.idempotency_key, channel=request.channel.value,
                    to_masked="(address)" if request.channel in (Channel.VISIT, Channel.LETTER) else mask(request.to),
                    body=said, outcome=outcome.value, distress=distress,
                ).on_conflict_do_nothing(index_elements=["idempotency_key"])
            )
            row = (await conn.execute(
                select(table.c.id, table.c.outcome, table.c.distress)
                .where(table.c.idempotency_key == request.idempotency_key)
            )).one()
        return ProviderResponse(provider=self.name, message_id=f"sbx-{row.id}", outcome=Outcome(row.outcome),
                                distress=row.distress, played=spoken(request, Outcome(row.outcome))[0])
