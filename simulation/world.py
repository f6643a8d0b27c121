"""The simulated borrowers' side of every contact: a channel provider that answers as each borrower would,
and an agenda of what borrowers do afterwards (pay, and what an agent records after a conversation).

It stands where the SMS gateway and the call centre stand (outside these machines), behind the same
`ChannelProvider` interface the real adapters implement. Every answer is drawn from a random generator
seeded by the simulation's seed and the request's idempotency key, so a retried request gets the same
answer and the same seed gives the same portfolio.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from adapters.providers.base import OutboundRequest, Played, ProviderResponse
from domain.enums import Channel, DelinquencyReason, Outcome
from simulation.borrowers import SimLoan

Kind = Literal["pay", "pay_part", "outcome", "start"]


@dataclass(order=True)
class Action:
    """Something a borrower (or the agent who spoke to them) does at `at`."""

    at: datetime
    seq: int
    case_id: str = field(compare=False)
    kind: Kind = field(compare=False)
    share: float = field(default=1.0, compare=False)  # of the balance, for a payment
    promise_days: int = field(default=0, compare=False)  # an outcome with a promise: due in this many days
    keeps: bool = field(default=False, compare=False)
    reason: DelinquencyReason | None = field(default=None, compare=False)
    attempt_key: str | None = field(default=None, compare=False)


class World:
    """The simulated borrowers, by number, and what they will do next (a time-ordered agenda)."""

    def __init__(self, seed: int, clock: Callable[[], datetime]):
        self.seed, self.clock = seed, clock
        self.by_number: dict[str, SimLoan] = {}
        self.agenda: list[Action] = []
        self._seq = itertools.count()
        self.answers: dict[str, ProviderResponse] = {}
        self.paid_on_time_planned: set[str] = set()

    def rng(self, *parts: object) -> random.Random:
        digest = hashlib.sha256(":".join(map(str, (self.seed, *parts))).encode()).digest()
        return random.Random(int.from_bytes(digest[:8], "big"))

    def enter(self, loan: SimLoan) -> None:
        """A loan enters: its borrower's numbers become known, and what they would do unprompted is planned."""
        for number in loan.case.borrower.mobile_numbers:
            self.by_number[number] = loan
        t, rng, now = loan.traits, self.rng("enter", loan.case.case_id), loan.enters_at
        if loan.upcoming:
            if rng.random() < 0.25 + 0.55 * t.ability * t.willingness:  # pays on time, reminded or not
                due = loan.case.loan.due_date
                self.plan(self._on(due, loan, rng.randint(0, 2)), loan.case.case_id, "pay")
                self.paid_on_time_planned.add(loan.case.case_id)
            return
        for week in range(8):
            if rng.random() < t.pays_unprompted * (0.3 + t.ability) * staleness(loan):
                self.plan(now + timedelta(days=7 * week + rng.uniform(0, 7)), loan.case.case_id, "pay")
                return

    def plan(self, at: datetime, case_id: str, kind: Kind, **details: object) -> None:
        heapq.heappush(self.agenda, Action(at, next(self._seq), case_id, kind, **details))  # type: ignore[arg-type]

    def due(self, now: datetime) -> list[Action]:
        out = []
        while self.agenda and self.agenda[0].at <= now:
            out.append(heapq.heappop(self.agenda))
        return out

    @staticmethod
    def _on(day: date, loan: SimLoan, days_before: int) -> datetime:
        tz = ZoneInfo(loan.case.borrower.timezone)
        return datetime(day.year, day.month, day.day, 12, tzinfo=tz) - timedelta(days=days_before)

    # --- the provider ---------------------------------------------------------------------------

    def answer(self, request: OutboundRequest) -> ProviderResponse:
        if request.idempotency_key not in self.answers:
            outcome, distress = self._react(request)
            played: Played = "message" if outcome in (Outcome.DELIVERED, Outcome.ANSWERED, Outcome.CONVERSATION) \
                else "none"
            self.answers[request.idempotency_key] = ProviderResponse(
                provider="simulator", message_id=f"sim-{len(self.answers) + 1}", outcome=outcome, distress=distress,
                played=played)
        return self.answers[request.idempotency_key]

    def _react(self, request: OutboundRequest) -> tuple[Outcome, bool]:
        channel, now = request.channel, self.clock()
        if channel is Channel.VISIT:
            return Outcome.TASK_CREATED, False
        if channel is Channel.LETTER:
            return Outcome.SENT, False
        loan = self.by_number.get(request.to)
        rng = self.rng("contact", request.idempotency_key)
        if loan is None:  # an emergency contact: a message arrives; a call reaches someone who is not the borrower
            return (Outcome.DELIVERED if channel is Channel.SMS else
                    Outcome.THIRD_PARTY if rng.random() < 0.5 else Outcome.NO_ANSWER), False
        t, case_id = loan.traits, loan.case.case_id
        hour = now.astimezone(ZoneInfo(loan.case.borrower.timezone)).hour
        numbers = len(loan.case.borrower.mobile_numbers)  # a second number: more ways to reach them
        answers = min(1.0, t.reach * (1.6 if t.evening and hour >= 17 else 0.7 if t.evening else 1.0)
                      * (1.3 if numbers > 1 else 1.0))
        if channel is Channel.SMS:
            if rng.random() < 0.03:
                return Outcome.FAILED, False
            upcoming = loan.upcoming and now.date() < loan.case.loan.due_date
            if upcoming and case_id not in self.paid_on_time_planned:  # the friendly reminder before the due date
                if rng.random() < 0.45 * t.willingness * (0.3 + t.ability):
                    self.plan(self._on(loan.case.loan.due_date, loan, 1), case_id, "pay")
                    self.paid_on_time_planned.add(case_id)
            elif not upcoming and rng.random() < (t.sms_response * t.ability * (0.4 + 0.6 * t.willingness)
                                                  * staleness(loan)):
                self.plan(now + timedelta(days=rng.uniform(0.3, 3)), case_id, "pay")
            return Outcome.DELIVERED, False
        if rng.random() >= answers:
            machine = channel is Channel.ROBOT_CALL and rng.random() < 0.3
            return (Outcome.VOICEMAIL if machine else Outcome.NO_ANSWER), False
        if channel is Channel.ROBOT_CALL:
            if rng.random() < 0.5 * t.call_response * t.ability * t.willingness * staleness(loan):
                self.plan(now + timedelta(days=rng.uniform(0.5, 4)), case_id, "pay")
            return Outcome.ANSWERED, False
        distress = rng.random() < t.distress  # an agent's conversation
        if not distress:
            self._conversation(loan, request.idempotency_key, now, rng)
        return Outcome.CONVERSATION, distress

    def _conversation(self, loan: SimLoan, key: str, now: datetime, rng: random.Random) -> None:
        """What the agent records a few minutes after the call, and what the borrower then does."""
        t, case_id = loan.traits, loan.case.case_id
        reason = (DelinquencyReason.REFUSES if t.willingness < 0.3 else
                  rng.choice((DelinquencyReason.JOB_LOSS, DelinquencyReason.INCOME_CUT, DelinquencyReason.ILLNESS))
                  if t.ability < 0.35 else DelinquencyReason.FORGOT if t.willingness > 0.7 else DelinquencyReason.OTHER)
        at = now + timedelta(minutes=5)
        if t.willingness >= 0.3 and rng.random() < t.call_response * (0.5 + t.willingness / 2) * staleness(loan):
            days = rng.randint(3, 10)
            share = 1.0 if t.ability > 0.45 else round(rng.uniform(0.3, 0.7), 2)
            keeps = rng.random() < t.keeps_promises * (0.4 + 0.6 * t.ability)
            self.plan(at, case_id, "outcome", promise_days=days, share=share, keeps=keeps, reason=reason,
                      attempt_key=key)
            if keeps:
                self.plan(now + timedelta(days=days - rng.uniform(0, 2)), case_id,
                          "pay" if share >= 1 else "pay_part", share=share)
        else:
            self.plan(at, case_id, "outcome", reason=reason, attempt_key=key)


def staleness(loan: SimLoan) -> float:
    """How much longer overdue makes a borrower less likely to pay (the older the debt, the lower the cure
    rate: roll rates' lesson), which the rule scorecard does not look at."""
    return math.exp(-loan.case.loan.days_past_due / 45)


class SimulatedProvider:
    """The provider the worker uses in the simulation: the world's answer, once per idempotency key."""

    name = "simulator"

    def __init__(self, world: World):
        self.world = world

    async def deliver(self, request: OutboundRequest) -> ProviderResponse:
        return self.world.answer(request)
