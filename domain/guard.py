"""The compliance guard: may this outbound action happen now?

A pure function of the action, the case's sticky flags, its contact ledger, the effective rules and
the time. It answers allow, deny (never, for this action) or defer until a time (the workflow
sleeps on a durable timer until then and asks again). Every decision names the rule and the packs
that made it, so a replay of the case decides the same and an auditor can read why.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict

from domain import clock
from domain.enums import Channel, HardStop, Outcome, Person
from domain.policy import EffectiveRules, HandOffPolicy, Window
from domain.state import ContactAttempt, Flags


class PlannedAction(BaseModel):
    """A contact (on a channel), or one of the outbound actions that are not contacts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: Channel | None = None
    phone_ref: str | None = None
    person: Person = Person.BORROWER
    action: Literal["contact", "legal_handoff", "credit_report"] = "contact"
    notice: bool = False  # a letter the rules require (statutory): through holds, windows and caps


class HandOffFacts(BaseModel):
    """What a hand-off (credit report, legal) is judged on besides holds and reviews."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    days_past_due: int
    reached_at: datetime | None  # the first conversation with the borrower
    messaged_at: datetime | None  # the first message delivered to the borrower
    vulnerability: bool  # a vulnerability on record (lasting, whatever a review decided)
    policy: HandOffPolicy
    default_notice_at: datetime | None = None  # when a default notice was posted
    in_arrears: bool = False  # the shortfall reaches what the pack's arrears notice counts
    arrears_notice_at: datetime | None = None  # when the last arrears notice was posted
    credit_report_notice_at: datetime | None = None  # when the borrower was told of a credit-bureau report


Verdict = Literal["allow", "deny", "defer"]


class GuardDecision(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    verdict: Verdict
    rule: str
    reason: str
    until: datetime | None = None
    packs: list[str]

    @property
    def allowed(self) -> bool:
        return self.verdict == "allow"


HARD_STOPS = {
    HardStop.ATTORNEY: "the borrower is represented: only the attorney is dealt with, by a person",
    HardStop.BANKRUPTCY: "a bankruptcy petition stays every act to collect",
    HardStop.DECEASED: "the borrower has died: the estate process, by a person",
    HardStop.TIME_BARRED: "the debt is time-barred: no legal action",
}

_CEASE_CHANNEL = {
    Channel.SMS: "sms",
    Channel.ROBOT_CALL: "voice",
    Channel.AGENT_CALL: "voice",
    Channel.VISIT: "visit",
    Channel.EMAIL: "email",
    Channel.LETTER: "letter",
}


def evaluate(
    action: PlannedAction,
    *,
    now: datetime,
    timezone: str,
    flags: Flags,
    attempts: list[ContactAttempt],
    rules: EffectiveRules,
    borrower_unreachable: bool = False,
    third_party_cap: int | None = None,
    handoff: HandOffFacts | None = None,
    visit_notice_at: datetime | None = None,
    message_caps: Mapping[str, int] | None = None,
) -> GuardDecision:
    def decide(verdict: Verdict, rule: str, reason: str, until: datetime | None = None) -> GuardDecision:
        return GuardDecision(verdict=verdict, rule=rule, reason=reason, until=until, packs=rules.packs)

    # Hard stops first: they never turn into a later contact by themselves.
    if flags.distress:
        return decide("deny", "wellbeing.distress", "distress reported: automated contact stopped")
    if flags.vulnerable:
        return decide("deny", "vulnerability.review", "vulnerability recorded: a person reviews before any contact")
    for stop in flags.hard_stops:
        everything = stop in (HardStop.BANKRUPTCY, HardStop.DECEASED)
        if everything or (stop is HardStop.ATTORNEY and action.action == "contact"):
            return decide("deny", f"hard_stop.{stop.value}", HARD_STOPS[stop])
        if stop is HardStop.TIME_BARRED and action.action == "legal_handoff":
            return decide("deny", "hard_stop.time_barred", HARD_STOPS[stop])
    if action.channel is Channel.LETTER and action.notice:  # a statutory notice by post: no window or cap
        return decide("allow", "ok", "a notice the rules require")  # applies; what the law requires goes through holds
    for hold in flags.holds:
        if hold.until is None or now < hold.until:
            return decide("deny", f"hold.{hold.kind.value}", f"on hold ({hold.kind.value})")  # its reason: sealed
    if action.action != "contact":  # not a contact: windows, caps and opt-outs do not apply
        held = _handoff(action.action, now, rules, handoff) if handoff is not None else None
        if held is not None:
            return decide(*held)
        return decide("allow", "ok", "no hold, no review pending")
    if action.person == "emergency_contact":
        refusal = _third_party(action, flags, attempts, rules, borrower_unreachable, third_party_cap)
        if refusal:
            return decide("deny", *refusal)
    if flags.cease_all:
        return decide("deny", "cease.all", "the borrower asked us to stop all contact")
    channel = action.channel
    if channel is None:
        raise ValueError("a planned contact names its channel")
    if _CEASE_CHANNEL[channel] in flags.cease_channels:
        return decide("deny", f"cease.{_CEASE_CHANNEL[channel]}", "the borrower refused this channel")
    if action.phone_ref and action.phone_ref in flags.cease_numbers:
        return decide("deny", "cease.number", "the borrower refused contact on this number")
    if action.phone_ref and action.phone_ref in flags.wrong_numbers:
        return decide("deny", "wrong_number", "a stranger answered this number: it is not the borrower's")
    if flags.vulnerability_on_record and channel in (Channel.ROBOT_CALL, Channel.VISIT):
        return decide("deny", f"vulnerability.no_{'visit' if channel is Channel.VISIT else 'robot'}",
                      "a vulnerability is on record: a person calls, nobody visits")
    if channel is Channel.ROBOT_CALL and rules.robot_calls_need_consent and action.phone_ref not in flags.robot_consent:
        return decide("deny", "robot.consent", "no recorded prior express consent to robot calls on this number")

    way = _borrowers_way(channel, flags) if action.person == Person.BORROWER else None
    if way is not None:
        return decide(*way)
    if channel is Channel.VISIT and rules.visit_notice_days is not None:
        if visit_notice_at is None:
            return decide("defer", "visit.notice", "a written notice of the visit is posted first")
        if now < visit_notice_at + timedelta(days=rules.visit_notice_days):
            return decide("defer", "visit.notice", f"the visit notice's {rules.visit_notice_days} days run",
                          visit_notice_at + timedelta(days=rules.visit_notice_days))

    window: Window = rules.visit_window if channel is Channel.VISIT else rules.contact_window
    today = clock.local(now, timezone).date()
    if today in rules.quiet_days:
        day = today + timedelta(days=1)
        while day in rules.quiet_days:
            day += timedelta(days=1)
        return decide("defer", "quiet_day", f"{today} is a public holiday for the borrower",
                      clock.at_local(day, window.start, timezone))
    opens = clock.next_window_start(now, timezone, window.start, window.end)
    if opens is not None:
        return decide(
            "defer", "window", f"outside {window.start:%H:%M}-{window.end:%H:%M} {timezone}", opens
        )
    own = _borrowers_own(channel, now, timezone, flags, window, rules) if action.person == Person.BORROWER else None
    if own is not None:
        return decide(*own)

    if channel.is_voice:
        capped = _voice_caps(action, now, timezone, attempts, rules)
        if capped is not None:
            rule, reason, until = capped
            return decide("defer", rule, reason, until)
    cap = (message_caps or {}).get(channel.value) if action.person == Person.BORROWER else None
    if cap is not None:
        capped = _message_cap(channel, cap, now, timezone, attempts, rules)
        if capped is not None:
            return decide("defer", *capped)

    return decide("allow", "ok", "within window and caps")


def _message_cap(channel: Channel, cap: int, now: datetime, tz: str, attempts: list[ContactAttempt],
                 rules: EffectiveRules) -> tuple[str, str, datetime] | None:
    """The lender's own cap on written messages of one channel in any 7 days: the window slides."""
    local_today = clock.local(now, tz).date()
    first_day = local_today - timedelta(days=6)
    recent = sorted(clock.local(a.at, tz).date() for a in attempts
                    if a.channel is channel and a.person == Person.BORROWER and a.at <= now
                    and clock.local(a.at, tz).date() >= first_day)
    if len(recent) < cap:
        return None
    drop_day = recent[len(recent) - cap] + timedelta(days=7) if cap > 0 else local_today + timedelta(days=7)
    return (f"{channel.value}.per_7_days", f"{len(recent)} {channel.value} messages in 7 days (cap {cap})",
            clock.at_local(drop_day, rules.contact_window.start, tz))


def _borrowers_way(channel: Channel, flags: Flags) -> tuple[Verdict, str, str, datetime | None] | None:
    """How and where the borrower asked to be contacted: never otherwise."""
    if flags.borrower_medium is not None and _CEASE_CHANNEL[channel] != flags.borrower_medium:
        return "deny", "borrower.medium", f"the borrower asked to be contacted by {flags.borrower_medium} only", None
    if channel is Channel.VISIT and flags.borrower_no_home_visits:
        return "deny", "borrower.place", "the borrower asked not to be visited at home", None
    return None


def _borrowers_own(channel: Channel, now: datetime, tz: str, flags: Flags, window: Window,
                   rules: EffectiveRules) -> tuple[Verdict, str, str, datetime | None] | None:
    """The borrower's own restrictions, inside the lawful window: their days, then their hours."""
    mine = flags.borrower_window
    if mine is not None:
        start, end = max(window.start, mine.start), min(window.end, mine.end)
        if start >= end:
            return "deny", "borrower.window", "the borrower's hours fall outside the lawful window", None
        window = Window(start=start, end=end)
    today = clock.local(now, tz).date()
    if today.weekday() in flags.borrower_quiet_weekdays:
        day = today + timedelta(days=1)
        while day.weekday() in flags.borrower_quiet_weekdays or day in rules.quiet_days:
            day += timedelta(days=1)
        return ("defer", "borrower.quiet_weekday", f"{today:%A}s do not suit the borrower",
                clock.at_local(day, window.start, tz))
    if mine is not None:
        opens = clock.next_window_start(now, tz, window.start, window.end)
        if opens is not None:
            return "defer", "borrower.window", f"the borrower asked for {window.start:%H:%M}-{window.end:%H:%M}", opens
    return None


def _handoff(action: str, now: datetime, rules: EffectiveRules,
             facts: HandOffFacts) -> tuple[Verdict, str, str, datetime | None] | None:
    """A credit report or legal hand-off: never for a vulnerable borrower, not before the days past due
    the packs and the policy set, and never before the borrower has been communicated with."""
    if facts.vulnerability:
        return "deny", "handoff.vulnerability", "a vulnerability is on record: a person decides the treatment", None
    minimum = handoff_minimum(action, rules, facts.policy)
    if facts.days_past_due < minimum:
        return ("defer", "handoff.min_days_past_due", f"{facts.days_past_due} days past due; {action} from {minimum}",
                now + timedelta(days=minimum - facts.days_past_due))
    if action == "legal_handoff" and rules.arrears_notice is not None and facts.in_arrears \
            and facts.arrears_notice_at is None:
        return "defer", "handoff.arrears_notice", "an arrears notice is posted first", None
    days = rules.default_notice_days
    if action == "legal_handoff" and days is not None:
        if facts.default_notice_at is None:
            return "defer", "handoff.default_notice", "a default notice is served first", None
        if now < facts.default_notice_at + timedelta(days=days):
            return ("defer", "handoff.default_notice", f"the default notice's {days} days to remedy run",
                    facts.default_notice_at + timedelta(days=days))
    if facts.reached_at is None:
        wait = max(rules.handoff.message_counts_as_reached_after_days or 0,
                   facts.policy.message_counts_as_reached_after_days)
        if facts.messaged_at is None:
            return "deny", "handoff.not_reached", "the borrower has never been reached", None
        if now < facts.messaged_at + timedelta(days=wait):
            return ("defer", "handoff.not_reached",
                    f"no conversation yet; a delivered message counts after {wait} days",
                    facts.messaged_at + timedelta(days=wait))
    if action == "credit_report" and rules.credit_report_notice and facts.credit_report_notice_at is None:
        return "defer", "handoff.credit_report_notice", "the borrower is told of the report first", None
    return None


def handoff_minimum(action: str, rules: EffectiveRules, policy: HandOffPolicy) -> int:
    """Days past due before this hand-off: the highest of the packs' and the lender's."""
    if action == "credit_report":
        figures = [rules.handoff.credit_report_min_days_past_due, policy.credit_report_min_days_past_due]
    else:
        figures = [rules.handoff.legal_min_days_past_due, policy.legal_min_days_past_due]
    return max(f for f in figures if f is not None)


def _third_party(action: PlannedAction, flags: Flags, attempts: list[ContactAttempt], rules: EffectiveRules,
                 borrower_unreachable: bool, policy_cap: int | None) -> tuple[str, str] | None:
    """Emergency contacts are not parties to the loan: only to locate an unreachable borrower."""
    if not borrower_unreachable:
        return "third_party.borrower_reachable", "the borrower can be reached: third parties are not contacted"
    if action.phone_ref in flags.third_parties_refused:
        return "third_party.refused", "this contact asked not to be contacted again"
    caps = [c for c in (rules.third_party_max_each, policy_cap) if c is not None]
    sent = sum(1 for a in attempts if a.person == "emergency_contact" and a.phone_ref == action.phone_ref)
    if caps and sent >= min(caps):
        return "third_party.max_each", f"{sent} message(s) to this contact already (cap {min(caps)})"
    return None


def _voice_caps(
    action: PlannedAction, now: datetime, tz: str, attempts: list[ContactAttempt], rules: EffectiveRules
) -> tuple[str, str, datetime] | None:
    caps = rules.voice
    voice = [a for a in attempts
             if a.channel.is_voice and a.person == action.person and a.at <= now and a.counts_as_call]
    day_start = clock.start_of_local_day(now, tz)
    tomorrow = clock.next_local_day_at(now, tz, rules.contact_window.start)
    today = [a for a in voice if a.at >= day_start]

    if caps.max_interactions_per_day is not None:
        answered = sum(1 for a in today if a.outcome.is_interaction)
        if answered >= caps.max_interactions_per_day:
            return ("voice.interactions_per_day",
                    f"{answered} answered voice interactions today (cap {caps.max_interactions_per_day})",
                    tomorrow)
    if caps.max_unanswered_per_number_per_day is not None and action.phone_ref:
        unanswered = sum(1 for a in today if a.phone_ref == action.phone_ref and a.outcome.is_failure)
        if unanswered >= caps.max_unanswered_per_number_per_day:
            return ("voice.unanswered_per_number_per_day",
                    f"{unanswered} unanswered calls to this number today "
                    f"(cap {caps.max_unanswered_per_number_per_day})",
                    tomorrow)

    local_today = clock.local(now, tz).date()
    if caps.quiet_days_after_conversation is not None:
        talks = [clock.local(a.at, tz).date() for a in voice if a.outcome is Outcome.CONVERSATION]
        if talks:
            free_from = max(talks) + timedelta(days=caps.quiet_days_after_conversation)
            if local_today < free_from:
                return ("voice.after_conversation",
                        f"a telephone conversation on {max(talks)}: no call for "
                        f"{caps.quiet_days_after_conversation} days",
                        clock.at_local(free_from, rules.contact_window.start, tz))
    if caps.max_attempts_per_7_days is not None:
        first_day = local_today - timedelta(days=6)
        recent = sorted(clock.local(a.at, tz).date() for a in voice if clock.local(a.at, tz).date() >= first_day)
        if len(recent) >= caps.max_attempts_per_7_days:
            # the window slides once enough of the oldest calls fall out of it
            drop_day = recent[len(recent) - caps.max_attempts_per_7_days] + timedelta(days=7)
            return ("voice.attempts_per_7_days",
                    f"{len(recent)} call attempts in 7 days (cap {caps.max_attempts_per_7_days})",
                    clock.at_local(drop_day, rules.contact_window.start, tz))
    return None
