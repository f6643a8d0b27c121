"""`CaseRun`: one case's working state and the effects every stage shares.

The workflow class holds one `CaseRun`; stage modules and message handlers take it and act through
it: record a fact, move the stage, hand off, hold, ask for an approval, plan the next action. Keys
for activities come from the case's own sequence (`key`), so every side effect is idempotent and a
replay produces the same commands.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows import ledger

with workflow.unsafe.imports_passed_through():
    from activities.contracts import EscalationRecord, EventRecord, LedgerFact
    from domain import lifecycle
    from domain.case_input import CaseInput
    from domain.enums import ApprovalKind, HandOff, HoldKind, Stage
    from domain.messages import UpdateResult
    from domain.money import in_minor_units
    from domain.policy import CaseConfig, SegmentTreatment, shared
    from domain.state import CaseState, Hold, NextAction, PendingApproval

Arg = TypeVar("Arg")
Result = TypeVar("Result")

# Patches (workflow.patched): each changes what some recorded histories did; see docs/replay.md.
HANDLERS_TAKE_TURNS = "handlers-take-turns"  # a handler waits for the activity in flight, then holds the lock
COMPLAINT_AFTER_CASE_FACTS = "complaint-after-case-facts"  # the case's facts are written before its complaint's
# After a handler's turn the loop looks again before it shows and writes a wait; paid in full while
# waiting, the payment's write carries the move to the relationship; a relationship case shows no NextActionAt.
LEANER_STEPS = "leaner-steps"
VULNERABILITY_LASTS = "vulnerability-lasts"  # a vulnerability on record: no robot calls, no visits, ever
# A wrong number is set apart (and no longer the borrower's), a hand-off lapses when the case leaves the
# end of its path, the hand-off's facts fall back on older evidence, hard stops show only as `hard_stop`.
REACH_AND_LAPSE = "reach-and-lapse"
NOTICES = "notices"  # statutory notices by post where the packs require them (validation, default)
# The arrears notice and its repeats, a visit's written notice, the validation notice with the first message.
MORE_NOTICES = "more-notices"
ARRANGEMENT_EVENTS = "arrangement-events"  # an arrangement to pay journalled as it starts and ends (an entry: a key)
DIAL_TIME_PERMISSION = "dial-time-permission"  # an agent's task is a call only once the guard allows its dial
# The balance engine: books by component, accrual within caps and freezes, allocation, relief offers. Decided
# once, at the case's start (the state keeps `books`), so a case opened before it keeps its plain balance.
BOOKS = "books"
# The desk: worklists and tasks on search attributes, contact-data, review and collector tasks, visits only
# by trained collectors of the region from the registry. Decided once, at the case's start (`s.desk`).
DESK = "desk"
# Propensity scores at the assessment and when the picture changes, the segment from score and rules. Decided
# once, at the case's start (`s.scoring`); scored only with a model at the start (`config.model`).
SCORING = "propensity-scoring"
PERSON_BEFORE_HANDOFF = "person-before-handoff"  # a credit report and legal hand-off wait for a person's approval

# Where a case goes when something overtakes the end of its path (a promise, a plan, a review).
AWAY_FROM_HANDOFF = frozenset({Stage.PROMISE, Stage.HARDSHIP_PLAN, Stage.WELLBEING_HOLD, Stage.ASSESSMENT})

LEDGER_WINDOW = timedelta(days=8)  # attempts older than this no longer count for any cap


class CaseRun:
    def __init__(self, case: CaseInput) -> None:
        self.s: CaseState = case.state or CaseState.opening(case.loan.outstanding_balance, case.early_warning)
        if self.s.config is not None:
            self.s.config = shared(self.s.config)
        case.state = None  # the state lives in `s`; the input keeps only what the loan system sent
        self.case = case
        self.wake = False  # something happened: the loop looks again before its timer
        self.published: dict[str, object] = {}  # search attributes as last upserted
        self.refusals_journalled: set[tuple[str, str]] = set()  # (what, guard rule): journalled once a run
        self.owed: list[LedgerFact] = []  # facts not yet in the ledger, in the order they happened
        self.stepping = True  # the loop is in a step whose end writes what is owed (`bookkeeping.flush`)
        # One activity of a case at a time (the loop's or a handler's): the loop holds it only for the
        # activity in flight, so a handler waits at most for that one, never for a whole step.
        self.lock = asyncio.Lock()
        self.in_turn = False  # a handler holds the lock for its whole turn

    # --- what the case is configured with ----------------------------------------------------

    @property
    def config(self) -> CaseConfig:
        assert self.s.config is not None, "the case is not open yet"
        return self.s.config

    @property
    def treatment(self) -> SegmentTreatment:
        assert self.s.assessment is not None, "the case is not assessed yet"
        return self.config.policy.segments[self.s.assessment.segment]

    @property
    def now(self) -> datetime:
        return workflow.now()

    @property
    def days_past_due(self) -> int:
        """As the loan system said at the start, plus the days the case has run since."""
        opened = self.s.opened_at or self.now
        return self.case.loan.days_past_due + (self.now - opened).days

    @property
    def case_id(self) -> str:
        return self.case.case_id

    def first_refusal(self, what: str, rule: str) -> bool:
        """Whether the guard's refusal of `what` by `rule` is new this run: journalled once, not at every wake."""
        if (what, rule) in self.refusals_journalled:
            return False
        self.refusals_journalled.add((what, rule))
        return True

    def exact(self, amount: Decimal, what: str = "amount", refuse: bool = True) -> Decimal:
        """An amount in the loan currency's minor units ("10.5" CNY is 10.50): finer is refused by a
        validator (`refuse`), and kept as it was by a handler (it may be replaying an older history)."""
        return in_minor_units(amount, self.case.loan.currency, what, refuse)

    def key(self, kind: str) -> str:
        """The next idempotency key: the case's own sequence, carried across continue-as-new."""
        self.s.seq += 1
        return f"{self.case.case_id}:{kind}:{self.s.seq}"

    # --- effects ---------------------------------------------------------------------------

    async def act(self, activity: Callable[[Any, Arg], Awaitable[Result]], arg: Arg, summary: str,
                  timeout: timedelta | None = None) -> Result:
        """Run an activity for the case. Its caller holds `lock`: one activity of a case at a time, so
        the ledger receives the case's facts in the order they happened."""
        assert self.lock.locked(), "activities of a case run under its lock"
        return await ledger.act(activity, arg, summary, timeout or self._timeout)

    @property
    def _timeout(self) -> timedelta:
        return self.s.config.policy.activity_timeout if self.s.config else ledger.DEFAULT_TIMEOUT

    def owe(self, fact: LedgerFact) -> None:
        """A fact the ledger must record; it rides with the step's next write (`bookkeeping`). Owed
        between steps (by a handler), it wakes the loop, whose step ends with that write."""
        self.owed.append(fact)
        if not self.stepping:
            self.wake = True

    def event(self, kind: str, data: dict[str, Any]) -> None:
        """An entry for the case's journal (written in order, hash-chained, by the next ledger write)."""
        self.owe(EventRecord(case_id=self.case_id, key=self.key(kind), kind=kind, at=self.now, data=data))

    def to_stage(self, stage: Stage, why: str) -> datetime:
        """Move the case (a no-op if it is there already); the move is journalled."""
        if stage is not self.s.stage:
            if not lifecycle.allowed(self.s.stage, stage):
                workflow.logger.error("stage move outside the lifecycle", extra={"from": self.s.stage, "to": stage})
            previous, self.s.stage = self.s.stage, stage
            self.wake = True
            self.event("stage_changed", {"from": previous.value, "to": stage.value, "why": why})
            if self.s.handoff is not None and stage in AWAY_FROM_HANDOFF and workflow.patched(REACH_AND_LAPSE):
                self.withdraw_handoff(f"the case moved to {stage.value}")
        return self.now

    def withdraw_handoff(self, why: str) -> None:
        """A hand-off asked (or approved) at the end of the path lapses when the case leaves it: a later end
        of the path is judged, and approved, afresh."""
        review, self.s.handoff = self.s.handoff, None
        assert review is not None
        self.s.approvals = [a for a in self.s.approvals if a.approval_id != review.approval_id]
        self.event("approval_withdrawn", {"approval_id": review.approval_id, "kind": "handoff", "why": why})

    def hand_off(self, kind: HandOff, reason: str) -> None:
        """A hand-off to people or a partner (supervisor, legal / recovery, credit bureau), on record."""
        self.owe(EscalationRecord(case_id=self.case_id, key=self.key(f"handoff-{kind.value}"), kind=kind,
                                  reason=reason, at=self.now))
        self.event("handed_off", {"kind": kind.value, "reason": reason})

    def finish(self, stage: Stage, hand_off: HandOff | None, reason: str) -> None:
        """Close the case in a terminal stage, handing it off first where someone takes it on."""
        if hand_off is not None:
            self.hand_off(hand_off, reason)
        self.s.outcome_reason = reason
        self.s.approvals = []
        self.to_stage(stage, reason)

    def ask_approval(self, kind: ApprovalKind, approval_id: str, summary: str) -> None:
        self.s.approvals.append(PendingApproval(approval_id=approval_id, kind=kind, requested_at=self.now,
                                                summary=summary))
        self.event("approval_requested", {"approval_id": approval_id, "kind": kind.value, "summary": summary})

    # --- holds -----------------------------------------------------------------------------

    def current_hold(self) -> Hold | None:
        """The hold in force, if any; holds whose time is up are lifted here."""
        for hold in list(self.s.flags.holds):
            if hold.until is not None and self.now >= hold.until:
                self.end_hold(hold.kind, "its time is up")
        return self.s.flags.holds[0] if self.s.flags.holds else None

    def start_hold(self, kind: HoldKind, reason: str, until: datetime | None = None, ref: str | None = None) -> None:
        flags = self.s.flags
        flags.holds = [h for h in flags.holds if h.kind is not kind]
        flags.holds.append(Hold(kind=kind, reason=reason, since=self.now, until=until, ref=ref))
        self.wake = True
        self.event("hold_started", {"kind": kind.value, "reason": reason,
                                    "until": until.isoformat() if until else None, "ref": ref})

    def end_hold(self, kind: HoldKind, reason: str) -> None:
        flags = self.s.flags
        if flags.hold(kind) is None:
            return
        flags.holds = [h for h in flags.holds if h.kind is not kind]
        self.wake = True
        self.event("hold_ended", {"kind": kind.value, "reason": reason})

    # --- turns, answers, plans -------------------------------------------------------------

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """A handler's turn: once the case is open (a message can arrive before `run` starts), and
        between the loop's activities. The loop holds the lock only for the activity in flight, so a
        handler waits at most for that one activity, never for a whole step, and its changes (and its
        own activity, if it has one) land whole."""
        await workflow.wait_condition(lambda: self.s.config is not None)
        if not workflow.patched(HANDLERS_TAKE_TURNS):  # recorded before handlers took the lock
            yield
            return
        # Checked here, at once, so its marker shares the task of the one above (markers cost one action
        # a task); `patched` answers the same for the rest of the run.
        workflow.patched(LEANER_STEPS)
        async with self.lock:
            self.in_turn = True
            try:
                yield
            finally:
                self.in_turn = False

    async def handler_changed_case(self) -> bool:
        """At the end of a step: if a handler is taking its turn, wait for it; True if it changed the
        case, so the loop looks again before it shows and writes a wait that may no longer hold."""
        if not self.lock.locked() or not workflow.patched(LEANER_STEPS):
            return False
        async with self.lock:
            return self.wake

    def exclusive(self) -> AbstractAsyncContextManager[object]:
        """The case lock for a handler's own activity: already held in its turn (histories recorded
        before handlers took turns took it here)."""
        return nullcontext() if self.in_turn else self.lock

    def moment(self) -> tuple[Stage, int, bool, int]:
        """What a step decided on: if any of it changed while the step waited, its decision is stale."""
        return self.s.stage, self.s.step_index, self.s.balance > 0, self.s.contact_info_version

    def recheck(self, validator: Callable[[Arg], None], arg: Arg) -> None:
        """Run an update's validator again once it has its turn: another message may have changed
        the case while it waited (two operators deciding the same approval)."""
        try:
            validator(arg)
        except ValueError as e:
            raise ApplicationError(str(e), type="InvalidUpdate", non_retryable=True) from e

    def reject_if_closed(self) -> None:
        if self.s.stage.terminal:
            raise ValueError(f"the case is closed ({self.s.stage.value})")

    def result(self, message: str, ref: str | None = None) -> UpdateResult:
        return UpdateResult(message=message, stage=self.s.stage, balance=self.s.balance, ref=ref)

    async def sleep_until(self, at: datetime | None) -> None:
        """Wait for the planned time (a durable timer named after the next action) or for something to
        happen (`wake`), whichever comes first."""
        summary = self.s.next_action.what if self.s.next_action else None
        if at is not None and at <= self.now:
            return
        with contextlib.suppress(TimeoutError):  # the planned time came: look again
            await workflow.wait_condition(lambda: self.wake, timeout=(at - self.now) if at else None,
                                          timeout_summary=summary if at else None)

    def history_is_long(self) -> bool:
        """Time to continue as new: the server suggests it, or the policy's own budget is spent."""
        info, config = workflow.info(), self.s.config
        budget = config.policy.history_event_budget if config else None
        over_budget = budget is not None and info.get_current_history_length() > budget
        return info.is_continue_as_new_suggested() or over_budget

    def prune_attempts(self) -> None:
        """Before continue-as-new: attempts too old to count for any cap, and closed tasks, need not travel on."""
        keep_after = self.now - LEDGER_WINDOW
        kept = [a for a in self.s.attempts if a.at >= keep_after]
        self.s.attempts_pruned += len(self.s.attempts) - len(kept)
        self.s.attempts = kept
        if self.s.desk is not None:  # closed tasks are in the journal; their ids stay unique (`tasks_made`)
            self.s.desk.tasks = self.s.desk.open_tasks()

    def plan_next(self, what: str, at: datetime | None) -> datetime | None:
        """What the case waits for next, and until when (None: until something happens)."""
        self.s.next_action = NextAction(what=what, at=at)
        return at
