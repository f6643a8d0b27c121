"""Property: over generated 90-day timelines, whatever the guard allows, the auditor finds lawful.

Each timeline has a borrower timezone (DST zones included), a combination of rule packs, contacts
the treatment wants at random moments, outcomes and late receipts, opt-outs (all, a medium, a
number), pauses and distress. A scheduler acts as the workflow does: it asks the guard, sends on
allow, waits until the deferral's time and asks again, drops on deny, and journals everything. The
independent checker (`domain.compliance`) must then find no violation in the journal.
"""

from __future__ import annotations

import heapq
import itertools
import json
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from adapters.config_files import load_rule_pack
from domain.compliance import find_violations
from domain.enums import Channel, HardStop, HoldKind, Outcome, Person
from domain.guard import HandOffFacts, PlannedAction, evaluate
from domain.journal import Entry
from domain.policy import HandOffPolicy, Window, combine_packs
from domain.state import ContactAttempt, Flags, Hold

PACK_SETS = [["cn"], ["us-regf"], ["uk-conc"], ["cn", "us-regf"], ["uk-conc", "cn"], ["us-regf", "uk-conc"]]
RULES = {tuple(p): combine_packs([load_rule_pack(n) for n in p]) for p in PACK_SETS}
ZONES = ["Asia/Shanghai", "America/New_York", "Europe/London", "America/Los_Angeles", "Australia/Sydney",
         "America/Santiago", "Pacific/Chatham", "Asia/Kolkata"]
CHANNELS = [Channel.SMS, Channel.ROBOT_CALL, Channel.AGENT_CALL, Channel.VISIT]
OUTCOMES = {
    Channel.SMS: [Outcome.DELIVERED, Outcome.FAILED, Outcome.SENT],
    Channel.ROBOT_CALL: [Outcome.ANSWERED, Outcome.NO_ANSWER, Outcome.CONVERSATION, Outcome.VOICEMAIL,
                         Outcome.WRONG_PARTY, Outcome.THIRD_PARTY],
    Channel.AGENT_CALL: [Outcome.CONVERSATION, Outcome.NO_ANSWER, Outcome.TASK_CREATED, Outcome.ANSWERED],
    Channel.VISIT: [Outcome.TASK_CREATED],
}
NUMBERS = ["n1", "n2", "n3"]
HORIZON = timedelta(days=90)

minutes = st.integers(min_value=0, max_value=int(HORIZON.total_seconds() // 60))
# a burst: the same contact wanted `repeat` times, `gap` minutes apart (what drives the daily caps)
want = st.tuples(st.just("contact"), minutes, st.sampled_from(CHANNELS), st.sampled_from(NUMBERS),
                 st.integers(0, 3), st.integers(0, 9).map(lambda n: n == 0), st.integers(1, 12), st.integers(1, 120))
# a message to an emergency contact, which the guard allows only while the borrower is unreachable
third = st.tuples(st.just("third_party"), minutes, st.sampled_from(["ec1", "ec2"]))
refuse = st.tuples(st.just("refuse"), minutes, st.sampled_from(["ec1", "ec2"]))
cease = st.tuples(st.just("cease"), minutes, st.sampled_from(["all", "sms", "voice", "visit", "number"]),
                  st.sampled_from(NUMBERS))
pause = st.tuples(st.just("pause"), minutes, st.integers(60, 60 * 24 * 5), st.sampled_from(list(HoldKind)))
distress = st.tuples(st.just("distress"), minutes, st.integers(60, 60 * 24 * 10))
vulnerable = st.tuples(st.just("vulnerable"), minutes, st.integers(60, 60 * 24 * 10))
# the borrower's own hours (from, for how long) and days off
prefs = st.tuples(st.just("prefs"), minutes, st.integers(6, 21), st.integers(1, 6),
                  st.lists(st.integers(0, 6), max_size=2, unique=True), st.sampled_from([None, None, "sms", "voice"]),
                  st.booleans())
# at most one; bankruptcy and death stop everything after them, so they come late in the timeline
# (not at the very end: Hypothesis favours a range's bounds, and a stop with nothing after it is judged on nothing)
late = st.integers(int(HORIZON.total_seconds() // 60) * 2 // 3, int(HORIZON.total_seconds() // 60) * 5 // 6)
second_half = st.integers(int(HORIZON.total_seconds() // 60) // 2, int(HORIZON.total_seconds() // 60))
WHEN = {HardStop.TIME_BARRED: minutes, HardStop.ATTORNEY: second_half, HardStop.BANKRUPTCY: late,
        HardStop.DECEASED: late}
hard_stop = st.sampled_from(list(HardStop)).flatmap(lambda kind: st.tuples(st.just("hard_stop"), WHEN[kind],
                                                                             st.just(kind)))
# the end of the path: a credit report or legal hand-off, which waits for a person's approval
handoff = st.tuples(st.just("handoff"), minutes, st.sampled_from(["credit_report", "legal_handoff"]))
receipt = st.tuples(st.just("receipt"), minutes, st.integers(0, 200), st.sampled_from(
    [Outcome.DELIVERED, Outcome.FAILED, Outcome.ANSWERED, Outcome.CONVERSATION, Outcome.NO_ANSWER]))

timelines = st.fixed_dictionaries({
    "packs": st.sampled_from(PACK_SETS),
    "zone": st.sampled_from(ZONES),
    "start": st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31)),
    "wants": st.lists(want, min_size=3, max_size=40),
    "thirds": st.lists(st.one_of(third, third, refuse), max_size=12),
    "quiet": st.lists(st.integers(0, 90), max_size=6),
    "stops": st.lists(st.one_of(cease, pause, pause, distress, vulnerable), max_size=8),
    "prefs": st.lists(prefs, max_size=1),
    "hard_stops": st.one_of(st.just([]), st.lists(hard_stop, min_size=1, max_size=1)),
    "receipts": st.lists(receipt, max_size=20),
    "handoffs": st.lists(handoff, max_size=8),
    "approved_at": minutes,
    "consent": st.lists(st.sampled_from(NUMBERS), max_size=3, unique=True),  # robot-call consent (TCPA)
    "days_past_due": st.integers(0, 120),
    "arrears_notice_after": st.integers(0, 14 * 24 * 60 - 1),  # minutes: within the 14 days CCA s.86B allows
})
LENDER = HandOffPolicy(credit_report_min_days_past_due=30, legal_min_days_past_due=60,
                       message_counts_as_reached_after_days=14)


def played(outcome: Outcome, voicemail: str) -> str:
    """What a right-party-first call plays (the provider's side, as the sandbox does it)."""
    if outcome is Outcome.VOICEMAIL:
        return "voicemail" if voicemail == "limited_content" else "none"
    return "identify" if outcome in (Outcome.WRONG_PARTY, Outcome.THIRD_PARTY) else "message"


def simulate(timeline: dict, evaluate=evaluate) -> tuple[list[Entry], Counter]:
    """Run the timeline through the guard (or another decider); return the journal and a count of its
    decisions by rule."""
    tz, start = timeline["zone"], timeline["start"].replace(tzinfo=UTC)
    first_day = start.astimezone(ZoneInfo(tz)).date()
    rules = RULES[tuple(timeline["packs"])].model_copy(
        update={"quiet_days": sorted({first_day + timedelta(days=d) for d in timeline["quiet"]})})
    failures = 0  # the borrower's consecutive failed contacts, as the workflow counts them
    flags, attempts, journal = Flags(), list[ContactAttempt](), []
    seq = itertools.count(1)

    def log(entry_kind: str, at: datetime, key: str | None = None, **data) -> None:
        n = next(seq)
        journal.append(Entry("P", n, key or f"P:{n}", entry_kind, at, data, "", ""))

    log("case_opened", start, rules=rules.model_dump(mode="json"), timezone=tz,
        days_past_due=timeline["days_past_due"], handoff=LENDER.model_dump(mode="json"))
    approved = vulnerability = False
    default_notice_at = None
    if rules.validation_notice is not None:  # as the workflow does: posted at the start of collection
        log("notice_sent", start, kind="validation")
    # the arrears notice goes within its days (the workflow posts it at once); hand-offs before it wait
    arrears_at = start + timedelta(minutes=timeline["arrears_notice_after"]) if rules.arrears_notice else None
    posted = [(arrears_at, ("arrears_notice",))] if arrears_at is not None else []
    visit_notice_at = credit_report_notice_at = None
    flags.robot_consent = list(timeline["consent"])
    log("contact_data_verified", start, missing=[], address_complete=True,
        phones=[{"ref": n, "owner": "borrower", "valid": True, "robot_consent": n in flags.robot_consent}
                for n in NUMBERS])
    wanted = [(start + timedelta(minutes=w[1] + n * w[7]), w) for w in timeline["wants"] for n in range(w[6])]
    events = wanted + [(start + timedelta(minutes=e[1]), e)
                       for e in timeline["stops"] + timeline["receipts"] + timeline["thirds"] + timeline["handoffs"]
                       + timeline["hard_stops"] + timeline["prefs"]
                       + [("approve_handoff", timeline["approved_at"])]] + posted
    counter = itertools.count()
    queue = [(at, next(counter), e, 0) for at, e in events]
    heapq.heapify(queue)
    decisions: Counter = Counter()
    while queue:
        at, _, event, tries = heapq.heappop(queue)
        match event:
            case ("arrears_notice",):
                log("notice_sent", at, kind="arrears")
            case ("contact", _, channel, number, outcome_index, distressed, _, _):
                if channel is Channel.VISIT and rules.visit_notice_days and visit_notice_at is None:
                    visit_notice_at = at  # as the workflow does: the visit's notice first
                    log("notice_sent", at, kind="visit")
                decision = evaluate(PlannedAction(channel=channel, phone_ref=None if channel is Channel.VISIT
                                                  else number), now=at, timezone=tz, flags=flags,
                                    attempts=attempts, rules=rules, visit_notice_at=visit_notice_at)
                decisions[f"{decision.verdict}:{decision.rule}"] += 1
                if decision.verdict == "defer" and tries < 30:
                    assert decision.until > at, "a deferral must move forward in time"
                    heapq.heappush(queue, (decision.until, next(counter), event, tries + 1))
                elif decision.allowed:
                    options = OUTCOMES[channel]
                    outcome = options[outcome_index % len(options)]
                    shows_distress = distressed and outcome is Outcome.CONVERSATION
                    ref = None if channel is Channel.VISIT else number
                    key = f"a{len(attempts)}"
                    attempts.append(ContactAttempt(key=key, channel=channel, phone_ref=ref, at=at,
                                                   outcome=outcome, distress=shows_distress))
                    log("contact_attempt", at, key, channel=channel.value, person="borrower", phone_ref=ref,
                        outcome=outcome.value, distress=shows_distress, with_opt_out=rules.sms_requires_opt_out,
                        played=played(outcome, rules.voicemail))
                    if outcome is Outcome.WRONG_PARTY and ref and ref not in flags.cease_numbers:  # the workflow too
                        flags.cease_numbers.append(ref)
                        log("cease_contact", at, scope="number", number_ref=ref)
                    if shows_distress:
                        flags.distress = True
                        log("wellbeing_referral", at)
                    if outcome.is_failure:
                        failures += 1
                    elif outcome.is_interaction or outcome is Outcome.DELIVERED:
                        failures = 0
            case ("third_party", _, ref):
                decision = evaluate(PlannedAction(channel=Channel.SMS, phone_ref=ref, person=Person.EMERGENCY_CONTACT),
                                    now=at, timezone=tz, flags=flags, attempts=attempts, rules=rules,
                                    borrower_unreachable=failures >= rules.unreachable_after_failures)
                decisions[f"{decision.verdict}:{decision.rule}"] += 1
                if decision.allowed:
                    key = f"a{len(attempts)}"
                    attempts.append(ContactAttempt(key=key, channel=Channel.SMS, person=Person.EMERGENCY_CONTACT,
                                                   phone_ref=ref, at=at, outcome=Outcome.DELIVERED))
                    log("contact_attempt", at, key, channel="sms", person="emergency_contact", phone_ref=ref,
                        outcome="delivered", distress=False, with_opt_out=rules.sms_requires_opt_out,
                        template="location_inquiry" if rules.third_parties_location_only else "whereabouts_request")
            case ("refuse", _, ref):
                flags.third_parties_refused.append(ref)
                log("third_party_refused", at, phone_ref=ref)
            case ("cease", _, scope, number):
                if scope == "all":
                    flags.cease_all = True
                    log("cease_contact", at, scope="all")
                elif scope == "number":
                    flags.cease_numbers.append(number)
                    log("cease_contact", at, scope="number", number_ref=number)
                else:
                    flags.cease_channels.append(scope)
                    log("cease_contact", at, scope="channel", channel=scope)
            case ("pause", _, length, kind):
                if flags.hold(kind) is None:
                    until = at + timedelta(minutes=length) if kind is HoldKind.MORATORIUM else None
                    flags.holds.append(Hold(kind=kind, reason="generated", since=at, until=until))
                    log("hold_started", at, kind=kind.value, until=until.isoformat() if until else None)
                    if until is None:
                        heapq.heappush(queue, (at + timedelta(minutes=length), next(counter), ("lift", kind), 0))
            case ("lift", kind):
                flags.holds = [h for h in flags.holds if h.kind is not kind]
                log("hold_ended", at, kind=kind.value)
            case ("distress", _, review_after):
                if not flags.distress:
                    flags.distress = True
                    log("wellbeing_referral", at)
                heapq.heappush(queue, (at + timedelta(minutes=review_after), next(counter), ("review",), 0))
            case ("review",):
                if flags.distress:
                    flags.distress = False
                    log("approval_decided", at, kind="wellbeing_review")
            case ("vulnerable", _, review_after):
                flags.vulnerable = flags.vulnerability_on_record = vulnerability = True
                log("vulnerability_recorded", at, lasting=True)
                review = (at + timedelta(minutes=review_after), next(counter), ("vulnerability_review",), 0)
                heapq.heappush(queue, review)
            case ("vulnerability_review",):
                if flags.vulnerable:
                    flags.vulnerable = False
                    log("approval_decided", at, kind="vulnerability_review")
            case ("prefs", _, first_hour, hours, days, medium, no_home_visits):
                flags.borrower_window = Window(start=time(first_hour), end=time(min(first_hour + hours, 23)))
                flags.borrower_quiet_weekdays = sorted(days)
                flags.borrower_medium, flags.borrower_no_home_visits = medium, no_home_visits
                log("contact_preferences", at, window=flags.borrower_window.model_dump(mode="json"),
                    quiet_weekdays=flags.borrower_quiet_weekdays, medium=medium, no_home_visits=no_home_visits)
            case ("hard_stop", _, stop):
                if stop not in flags.hard_stops:
                    flags.hard_stops.append(stop)
                    log("hard_stop_recorded", at, kind=stop.value)
            case ("approve_handoff", _):
                approved = True
                log("approval_decided", at, kind="handoff", verdict="approved")
            case ("handoff", _, _) if not approved:  # the workflow waits for a person's approval first
                heapq.heappush(queue, (start + timedelta(minutes=timeline["approved_at"]), next(counter), event, tries))
            case ("handoff", _, action):
                if action == "legal_handoff" and rules.default_notice_days and default_notice_at is None:
                    default_notice_at = at  # as the workflow does: the default notice first
                    log("notice_sent", at, kind="default")
                borrower = [a for a in attempts if a.person == "borrower"]
                facts = HandOffFacts(
                    days_past_due=timeline["days_past_due"] + (at - start).days, vulnerability=vulnerability,
                    reached_at=min((a.at for a in borrower if a.outcome is Outcome.CONVERSATION), default=None),
                    messaged_at=min((a.at for a in borrower if a.outcome is Outcome.DELIVERED), default=None),
                    policy=LENDER, default_notice_at=default_notice_at, in_arrears=arrears_at is not None,
                    arrears_notice_at=arrears_at if arrears_at is not None and arrears_at <= at else None,
                    credit_report_notice_at=credit_report_notice_at)
                decision = evaluate(PlannedAction(action=action), now=at, timezone=tz, flags=flags, attempts=attempts,
                                    rules=rules, handoff=facts)
                decisions[f"{decision.verdict}:{decision.rule}"] += 1
                if decision.rule == "handoff.credit_report_notice":  # as the workflow does: tell, then ask again
                    credit_report_notice_at = at
                    log("notice_sent", at, kind="credit_report")
                    decision = evaluate(PlannedAction(action=action), now=at, timezone=tz, flags=flags,
                                        attempts=attempts, rules=rules,
                                        handoff=facts.model_copy(update={"credit_report_notice_at": at}))
                if decision.verdict == "defer" and tries < 30:  # (the arrears notice's wait: until it is posted)
                    heapq.heappush(queue, (decision.until or arrears_at, next(counter), event, tries + 1))
                elif decision.allowed:
                    log("handed_off", at, kind="credit_bureau" if action == "credit_report" else "legal_recovery")
            case ("receipt", _, index, outcome):
                if index < len(attempts) and attempts[index].channel is not Channel.VISIT \
                        and attempts[index].person == "borrower":
                    attempts[index].outcome = outcome
                    log("receipt", at, attempt_key=attempts[index].key, outcome=outcome.value)
                    if outcome.is_failure:
                        failures += 1
                    elif outcome.is_interaction or outcome is Outcome.DELIVERED:
                        failures = 0
    return journal, decisions


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(timelines)
def test_no_contact_the_guard_allows_breaks_a_rule(timeline):
    journal, _ = simulate(timeline)
    assert find_violations(journal) == []


def decisions_of_seeded_timelines() -> Counter:
    """The guard's decisions over 600 timelines of a fixed seed."""
    totals: Counter = Counter()

    @seed(20261129)
    @settings(max_examples=600, deadline=None, database=None)
    @given(timelines)
    def run(timeline):
        totals.update(simulate(timeline)[1])

    run()
    return totals


def test_the_generated_timelines_exercise_every_rule():
    """The property is only as strong as its timelines: each rule must defer or deny, many times.
    Counted in a process of its own: Hypothesis also draws constants from every module loaded, so inside
    the suite what the seed generates would depend on which tests ran before."""
    counted = subprocess.run(
        [sys.executable, "-c", "import json; from tests.test_guard_properties import decisions_of_seeded_timelines "
                               "as d; print(json.dumps(d()))"],
        capture_output=True, text=True, check=True, cwd=Path(__file__).parent.parent, timeout=300)
    totals = Counter(json.loads(counted.stdout.strip().splitlines()[-1]))
    for rule in ("allow:ok", "defer:window", "defer:voice.interactions_per_day", "defer:voice.attempts_per_7_days",
                 "defer:voice.unanswered_per_number_per_day",
                 "defer:voice.after_conversation", "deny:cease.all", "deny:cease.number", "deny:hold.pause",
                 "deny:hold.moratorium", "deny:hold.dispute", "defer:quiet_day",
                 "deny:third_party.borrower_reachable", "deny:third_party.refused",
                 "deny:wellbeing.distress", "defer:handoff.min_days_past_due", "deny:handoff.not_reached",
                 "defer:handoff.not_reached", "deny:handoff.vulnerability", "deny:robot.consent",
                 "deny:vulnerability.no_robot", "deny:vulnerability.no_visit", "deny:hard_stop.attorney",
                 "deny:hard_stop.bankruptcy", "deny:hard_stop.deceased", "deny:hard_stop.time_barred",
                 "defer:borrower.window", "defer:borrower.quiet_weekday", "defer:handoff.default_notice",
                 "defer:handoff.arrears_notice", "defer:visit.notice", "defer:handoff.credit_report_notice",
                 "deny:borrower.medium", "deny:borrower.place"):
        # rare: a refusal, then a message while unreachable; a hand-off within 14 days of the only message;
        # a hard stop (one timeline in two, late in it)
        rare = rule in ("deny:third_party.refused", "defer:handoff.not_reached", "deny:hard_stop.time_barred",
                        "defer:handoff.arrears_notice",
                        "deny:hard_stop.deceased", "deny:hard_stop.bankruptcy")
        assert totals[rule] >= (3 if rare else 10), (rule, totals[rule])


def test_the_checker_catches_what_a_guardless_scheduler_does():
    """The same timelines sent without asking the guard do break rules: the property can fail."""
    broken = 0

    @seed(20261129)
    @settings(max_examples=100, deadline=None, database=None)
    @given(timelines)
    def run(timeline):
        nonlocal broken
        allow = evaluate(PlannedAction(channel=Channel.SMS), now=datetime(2026, 1, 1, 4, tzinfo=UTC),
                         timezone="Asia/Shanghai", flags=Flags(), attempts=[], rules=RULES[("cn",)])
        journal, _ = simulate(timeline, evaluate=lambda *a, **k: allow)
        broken += bool(find_violations(journal))

    run()
    assert broken > 50
