"""The guard: windows in the borrower's local time (DST, midnight), caps from the ledger, stops."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from adapters.config_files import load_rule_pack
from domain.clock import local
from domain.enums import Channel, HardStop, HoldKind, Outcome, Person
from domain.guard import HandOffFacts, PlannedAction, evaluate
from domain.policy import HandOffPolicy, HandOffRules, combine_packs
from domain.state import ContactAttempt, Flags, Hold

CN = combine_packs([load_rule_pack("cn")])
US = combine_packs([load_rule_pack("us-regf")])
SMS = PlannedAction(channel=Channel.SMS, phone_ref="n1")
ROBOT = PlannedAction(channel=Channel.ROBOT_CALL, phone_ref="n1")
CONSENT = Flags(robot_consent=["n1"])  # the borrower's prior express consent to robot calls on n1 (TCPA)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def calls(*specs: tuple[datetime, Outcome, str]) -> list[ContactAttempt]:
    return [ContactAttempt(key=f"k{i}", channel=Channel.ROBOT_CALL, phone_ref=ref, at=at, outcome=outcome)
            for i, (at, outcome, ref) in enumerate(specs)]


def decide(action=SMS, *, now, tz="Asia/Shanghai", flags=None, attempts=(), rules=CN, **kw):
    return evaluate(action, now=now, timezone=tz, flags=flags or Flags(), attempts=list(attempts), rules=rules, **kw)


@pytest.mark.parametrize("local_hour, local_minute, verdict, opens_utc", [
    (7, 59, "defer", utc(2026, 12, 1, 0, 0)),     # 08:00 Shanghai = 00:00 UTC the same day
    (8, 0, "allow", None),
    (21, 59, "allow", None),
    (22, 0, "defer", utc(2026, 12, 2, 0, 0)),     # after the window: next morning
    (23, 30, "defer", utc(2026, 12, 2, 0, 0)),
    (0, 15, "defer", utc(2026, 12, 1, 0, 0)),     # just after midnight: this morning
])
def test_contact_window_in_the_borrowers_local_time(local_hour, local_minute, verdict, opens_utc):
    now = utc(2026, 12, 1, 0, 0) + timedelta(hours=local_hour - 8, minutes=local_minute)
    decision = decide(now=now)
    assert decision.verdict == verdict
    assert decision.until == opens_utc
    assert decision.packs == ["cn@2026.1"]


def test_window_opens_at_local_eight_across_the_spring_dst_change():
    # New York, 2026-03-08: clocks jump 02:00 -> 03:00; 08:00 EDT is 12:00 UTC (13:00 the day before)
    decision = decide(now=utc(2026, 3, 8, 6, 30), tz="America/New_York", rules=US)
    assert decision.verdict == "defer" and decision.until == utc(2026, 3, 8, 12, 0)
    decision = decide(now=utc(2026, 3, 7, 3, 0), tz="America/New_York", rules=US)
    assert decision.until == utc(2026, 3, 7, 13, 0)


def test_window_closes_at_local_nine_after_the_autumn_dst_change():
    # 2026-11-01 New York falls back: 21:00 EST is 02:00 UTC the next day
    assert decide(now=utc(2026, 11, 2, 1, 59), tz="America/New_York", rules=US).allowed
    late = decide(now=utc(2026, 11, 2, 2, 0), tz="America/New_York", rules=US)
    assert late.verdict == "defer" and late.until == utc(2026, 11, 2, 13, 0)


def test_cn_caps_answered_voice_interactions_per_day_across_numbers():
    now = utc(2026, 12, 1, 6, 0)  # 14:00 Shanghai
    two = calls((now - timedelta(hours=3), Outcome.ANSWERED, "n1"),
                (now - timedelta(hours=2), Outcome.CONVERSATION, "n2"))
    assert decide(ROBOT, now=now, attempts=two).allowed
    three = two + calls((now - timedelta(hours=1), Outcome.ANSWERED, "n2"))
    decision = decide(ROBOT, now=now, attempts=three)
    assert decision.verdict == "defer" and decision.rule == "voice.interactions_per_day"
    assert decision.until == utc(2026, 12, 2, 0, 0)
    yesterday = calls(*[(now - timedelta(days=1, hours=h), Outcome.ANSWERED, "n1") for h in range(3)])
    assert decide(ROBOT, now=now, attempts=yesterday).allowed
    assert decide(SMS, now=now, attempts=three).allowed  # SMS is not a voice interaction


def test_cn_caps_unanswered_dials_per_number_per_day():
    now = utc(2026, 12, 1, 10, 0)
    six = calls(*[(now - timedelta(minutes=10 * (i + 1)), Outcome.NO_ANSWER, "n1") for i in range(6)])
    decision = decide(ROBOT, now=now, attempts=six)
    assert decision.verdict == "defer" and decision.rule == "voice.unanswered_per_number_per_day"
    assert decide(PlannedAction(channel=Channel.ROBOT_CALL, phone_ref="n2"), now=now, attempts=six).allowed
    assert decide(ROBOT, now=now, attempts=six[:5]).allowed


def test_us_seven_calls_in_seven_days_defers_until_the_oldest_leaves_the_window():
    now = utc(2026, 12, 8, 16, 0)  # 11:00 New York
    week = calls(*[(utc(2026, 12, d, 15, 0), Outcome.NO_ANSWER, "n1") for d in range(2, 9)])
    decision = decide(ROBOT, now=now, tz="America/New_York", attempts=week, rules=US, flags=CONSENT)
    assert decision.verdict == "defer" and decision.rule == "voice.attempts_per_7_days"
    assert decision.until == utc(2026, 12, 9, 13, 0)  # Dec 2 leaves the 7 days on Dec 9, 08:00 EST
    assert decide(ROBOT, now=now, tz="America/New_York", attempts=week[1:], rules=US, flags=CONSENT).allowed


def test_us_no_call_within_seven_days_after_a_conversation():
    talk = calls((utc(2026, 12, 1, 15, 0), Outcome.CONVERSATION, "n1"))
    decision = decide(ROBOT, now=utc(2026, 12, 7, 20, 0), tz="America/New_York", attempts=talk, rules=US,
                      flags=CONSENT)
    assert decision.verdict == "defer" and decision.rule == "voice.after_conversation"
    assert decision.until == utc(2026, 12, 8, 13, 0)  # day 1 is Dec 1: calls again from Dec 8
    assert decide(SMS, now=utc(2026, 12, 7, 20, 0), tz="America/New_York", attempts=talk, rules=US).allowed


def test_combined_packs_take_the_most_restrictive_value():
    both = combine_packs([load_rule_pack("cn"), load_rule_pack("us-regf")])
    assert both.packs == ["cn@2026.1", "us-regf@2026.1"]
    assert (both.contact_window.start.hour, both.contact_window.end.hour) == (8, 21)
    assert both.voice.max_interactions_per_day == 3 and both.voice.max_attempts_per_7_days == 7
    assert both.min_visit_collectors == 2 and both.crisis_line.number == "12356"


def test_the_pack_that_waits_longest_before_unreachable_wins():
    """A lower threshold would let emergency contacts be messaged sooner: the least protective pack."""
    patient = load_rule_pack("us-regf").model_copy(update={"unreachable_after_failures": 6})
    for order in ([load_rule_pack("cn"), patient], [patient, load_rule_pack("cn")]):
        assert combine_packs(order).unreachable_after_failures == 6


@pytest.mark.parametrize("flags, action, rule", [
    (Flags(distress=True), SMS, "wellbeing.distress"),
    (Flags(holds=[Hold(kind=HoldKind.PAUSE, reason="ops", since=utc(2026, 11, 30))]), SMS, "hold.pause"),
    (Flags(holds=[Hold(kind=HoldKind.DISPUTE, reason="not mine", since=utc(2026, 11, 30))]), ROBOT, "hold.dispute"),
    (Flags(holds=[Hold(kind=HoldKind.MORATORIUM, reason="bs", since=utc(2026, 11, 1), until=utc(2026, 12, 30))]), SMS,
     "hold.moratorium"),
    (Flags(vulnerable=True), SMS, "vulnerability.review"),
    (Flags(cease_all=True), SMS, "cease.all"),
    (Flags(cease_channels=["voice"]), ROBOT, "cease.voice"),
    (Flags(cease_channels=["sms"]), SMS, "cease.sms"),
    (Flags(cease_numbers=["n1"]), ROBOT, "cease.number"),
])
def test_stops_deny_even_inside_the_window(flags, action, rule):
    decision = decide(action, now=utc(2026, 12, 1, 4, 0), flags=flags)
    assert decision.verdict == "deny" and decision.rule == rule


def test_a_refused_channel_leaves_the_others_open():
    flags = Flags(cease_channels=["voice"])
    assert decide(SMS, now=utc(2026, 12, 1, 4, 0), flags=flags).allowed


def test_a_hold_whose_time_is_up_no_longer_stops_contact():
    flags = Flags(holds=[Hold(kind=HoldKind.MORATORIUM, reason="bs", since=utc(2026, 10, 1), until=utc(2026, 11, 30))])
    assert decide(now=utc(2026, 12, 1, 4, 0), flags=flags).allowed


THIRD = PlannedAction(channel=Channel.SMS, phone_ref="ec1", person=Person.EMERGENCY_CONTACT)


def test_emergency_contacts_only_when_the_borrower_is_unreachable_once_each_and_never_after_refusal():
    now = utc(2026, 12, 1, 4, 0)
    assert decide(THIRD, now=now).rule == "third_party.borrower_reachable"
    assert decide(THIRD, now=now, borrower_unreachable=True).allowed
    once = [ContactAttempt(key="k", channel=Channel.SMS, person="emergency_contact", phone_ref="ec1", at=now,
                           outcome=Outcome.DELIVERED)]
    assert decide(THIRD, now=now, borrower_unreachable=True, attempts=once).allowed  # cn sets no cap
    assert decide(THIRD, now=now, borrower_unreachable=True, attempts=once, third_party_cap=1).rule == \
        "third_party.max_each"
    assert decide(THIRD, now=now, borrower_unreachable=True, attempts=once, rules=US,
                  tz="America/New_York").rule == "third_party.max_each"
    refused = Flags(third_parties_refused=["ec1"])
    assert decide(THIRD, now=now, borrower_unreachable=True, flags=refused).rule == "third_party.refused"


def test_public_holidays_are_quiet_days_when_the_policy_says_so():
    from adapters.config_files import load_case_config

    config = load_case_config("standard", "CN", [], today=datetime(2026, 9, 20).date())
    assert datetime(2026, 10, 1).date() in config.rules.quiet_days  # National Day
    golden_week = decide(now=utc(2026, 10, 1, 4, 0), rules=config.rules)
    assert golden_week.verdict == "defer" and golden_week.rule == "quiet_day"
    assert golden_week.until.astimezone(UTC).date() > datetime(2026, 10, 1).date()
    back = local(golden_week.until, "Asia/Shanghai")
    assert back.date() not in config.rules.quiet_days and back.hour == 8
    assert decide(now=utc(2026, 10, 1, 4, 0), rules=CN).allowed  # packs alone set no quiet days
    assert load_case_config("standard", "CN", []).rules.quiet_days == []  # no date, no calendar



# --- hand-offs: a credit report or a legal hand-off -------------------------------------------

REPORT = PlannedAction(action="credit_report")
LEGAL = PlannedAction(action="legal_handoff")
LENDER = HandOffPolicy(credit_report_min_days_past_due=60, legal_min_days_past_due=90,
                       message_counts_as_reached_after_days=7)
NOW = utc(2026, 12, 1, 4)


def handoff(dpd=120, reached=NOW - timedelta(days=3), messaged=None, vulnerability=False, policy=LENDER,
            told=NOW - timedelta(days=1)):
    return HandOffFacts(days_past_due=dpd, reached_at=reached, messaged_at=messaged, vulnerability=vulnerability,
                        policy=policy, credit_report_notice_at=told)


def test_in_china_a_credit_report_waits_until_the_borrower_was_told_of_it():
    assert CN.credit_report_notice and not US.credit_report_notice  # 征信业管理条例 Art. 15
    untold = decide(REPORT, now=NOW, handoff=handoff(told=None))
    assert (untold.verdict, untold.rule, untold.until) == ("defer", "handoff.credit_report_notice", None)
    assert decide(LEGAL, now=NOW, handoff=handoff(told=None)).allowed  # a legal hand-off needs no such notice
    assert decide(REPORT, now=NOW, rules=US, handoff=handoff(told=None)).rule == "ok"
    assert decide(REPORT, now=NOW, handoff=handoff(told=None, reached=None)).rule == "handoff.not_reached"  # first


def test_a_hand_off_waits_for_the_days_past_due_of_its_kind():
    assert decide(REPORT, now=NOW, handoff=handoff(dpd=60)).allowed
    held = decide(LEGAL, now=NOW, handoff=handoff(dpd=60))
    assert (held.verdict, held.rule, held.until) == ("defer", "handoff.min_days_past_due", NOW + timedelta(days=30))


def test_a_packs_stricter_floor_wins_over_the_lenders():
    strict = US.model_copy(update={"handoff": HandOffRules(credit_report_min_days_past_due=180,
                                                           message_counts_as_reached_after_days=14)})
    held = decide(REPORT, now=NOW, rules=strict, handoff=handoff(dpd=120))
    assert (held.rule, held.until) == ("handoff.min_days_past_due", NOW + timedelta(days=60))
    messaged = NOW - timedelta(days=10)  # the lender would count it after 7 days, the pack after 14
    held = decide(REPORT, now=NOW, rules=strict, handoff=handoff(dpd=200, reached=None, messaged=messaged))
    assert (held.verdict, held.rule, held.until) == ("defer", "handoff.not_reached", messaged + timedelta(days=14))


def test_never_before_the_borrower_was_reached():
    never = decide(REPORT, now=NOW, handoff=handoff(reached=None))
    assert (never.verdict, never.rule) == ("deny", "handoff.not_reached")
    assert decide(REPORT, now=NOW, handoff=handoff(reached=None, messaged=NOW - timedelta(days=7))).allowed


def test_no_hand_off_for_a_vulnerable_borrower_or_during_a_hold():
    assert decide(LEGAL, now=NOW, handoff=handoff(vulnerability=True)).rule == "handoff.vulnerability"
    hold = Flags(holds=[Hold(kind=HoldKind.DISPUTE, reason="disputed", since=NOW)])
    assert decide(LEGAL, now=NOW, flags=hold, handoff=handoff()).rule == "hold.dispute"
    assert decide(LEGAL, now=NOW, handoff=handoff()).allowed


def test_us_robot_calls_only_to_numbers_with_recorded_consent():
    assert US.robot_calls_need_consent and not CN.robot_calls_need_consent  # the packs say so (TCPA)
    daytime = utc(2026, 12, 1, 16)  # 11:00 in New York
    denied = decide(ROBOT, now=daytime, tz="America/New_York", rules=US)
    assert (denied.verdict, denied.rule) == ("deny", "robot.consent")
    assert decide(ROBOT, now=daytime, tz="America/New_York", rules=US, flags=Flags(robot_consent=["n1"])).allowed
    assert decide(SMS, now=daytime, tz="America/New_York", rules=US).allowed  # an SMS needs no such consent
    assert decide(ROBOT, now=utc(2026, 12, 1, 2)).allowed  # cn: no such rule


@pytest.mark.parametrize("stop, contact, report, legal", [
    (HardStop.BANKRUPTCY, "hard_stop.bankruptcy", "hard_stop.bankruptcy", "hard_stop.bankruptcy"),
    (HardStop.DECEASED, "hard_stop.deceased", "hard_stop.deceased", "hard_stop.deceased"),
    (HardStop.ATTORNEY, "hard_stop.attorney", "ok", "ok"),          # people deal with the attorney
    (HardStop.TIME_BARRED, "ok", "ok", "hard_stop.time_barred"),     # no legal action, contact allowed
])
def test_hard_stops_each_stop_what_they_must(stop, contact, report, legal):
    flags = Flags(hard_stops=[stop])
    assert decide(SMS, now=NOW, flags=flags).rule == contact
    assert decide(REPORT, now=NOW, flags=flags, handoff=handoff()).rule == report
    assert decide(LEGAL, now=NOW, flags=flags, handoff=handoff()).rule == legal


def test_the_borrowers_own_hours_and_days_narrow_the_lawful_window():
    evenings = Flags(borrower_window={"start": "18:00", "end": "20:00"}, borrower_quiet_weekdays=[6])
    tuesday_10 = utc(2026, 12, 1, 2)  # Tuesday 10:00 in Shanghai: lawful, but not the borrower's hours
    held = decide(now=tuesday_10, flags=evenings)
    assert (held.verdict, held.rule, held.until) == ("defer", "borrower.window", utc(2026, 12, 1, 10))
    assert decide(now=utc(2026, 12, 1, 10, 30), flags=evenings).allowed  # 18:30
    sunday = decide(now=utc(2026, 12, 6, 10, 30), flags=evenings)  # Sunday 18:30: a day they asked to be left
    assert (sunday.rule, sunday.until) == ("borrower.quiet_weekday", utc(2026, 12, 7, 10))  # Monday 18:00
    third = PlannedAction(channel=Channel.SMS, phone_ref="ec1", person=Person.EMERGENCY_CONTACT)
    assert decide(third, now=tuesday_10, flags=evenings, borrower_unreachable=True).allowed  # theirs, not ours
    late = Flags(borrower_window={"start": "22:30", "end": "23:30"})
    assert decide(now=tuesday_10, flags=late).rule == "borrower.window"  # never lawful: denied, not deferred


def test_the_borrowers_own_medium_and_place_are_kept():
    by_text, no_home = Flags(borrower_medium="sms"), Flags(borrower_no_home_visits=True)
    daytime, visit = utc(2026, 12, 1, 2), PlannedAction(channel=Channel.VISIT)
    assert decide(SMS, now=daytime, flags=by_text).allowed
    assert (decide(ROBOT, now=daytime, flags=by_text).verdict, decide(ROBOT, now=daytime, flags=by_text).rule) == (
        "deny", "borrower.medium")
    assert decide(visit, now=daytime, flags=by_text).rule == "borrower.medium"  # a visit is not a text either
    assert decide(visit, now=daytime, flags=no_home).rule == "borrower.place"
    assert decide(ROBOT, now=daytime, flags=no_home).allowed  # calls are fine: only the place was refused
    assert decide(PlannedAction(channel=Channel.LETTER, notice=True), now=daytime, flags=by_text).allowed  # statutory
    assert decide(PlannedAction(channel=Channel.LETTER), now=daytime, flags=by_text).rule == "borrower.medium"  # a
    # letter of the schedule is not a text


def test_a_number_a_stranger_answered_is_never_called_again_but_the_others_are():
    flags = Flags(wrong_numbers=["n1"])
    assert decide(ROBOT, now=utc(2026, 12, 1, 2), flags=flags).rule == "wrong_number"
    assert decide(PlannedAction(channel=Channel.SMS, phone_ref="n2"), now=utc(2026, 12, 1, 2), flags=flags).allowed


def test_an_agents_task_is_no_call_until_it_is_dialled():
    now = utc(2026, 12, 8, 16, 0)  # 11:00 New York
    week = calls(*[(utc(2026, 12, d, 15, 0), Outcome.NO_ANSWER, "n1") for d in range(3, 9)])  # 6 calls
    task = ContactAttempt(key="t", channel=Channel.AGENT_CALL, phone_ref="n1", at=utc(2026, 12, 8, 15, 30),
                          outcome=Outcome.TASK_CREATED, dial_by=utc(2026, 12, 9, 2))
    assert decide(ROBOT, now=now, tz="America/New_York", attempts=[*week, task], rules=US, flags=CONSENT).allowed
    dialled = task.model_copy(update={"dialled": True})
    held = decide(ROBOT, now=now, tz="America/New_York", attempts=[*week, dialled], rules=US, flags=CONSENT)
    assert held.rule == "voice.attempts_per_7_days"  # the dial made it the 7th call


def test_a_legal_hand_off_waits_for_the_default_notices_days_to_remedy():
    uk = combine_packs([load_rule_pack("uk-conc")])
    assert uk.default_notice_days == 14 and CN.default_notice_days is None
    never = decide(LEGAL, now=NOW, rules=uk, handoff=handoff())
    assert (never.verdict, never.rule, never.until) == ("defer", "handoff.default_notice", None)
    served = NOW - timedelta(days=10)
    held = decide(LEGAL, now=NOW, rules=uk, handoff=handoff().model_copy(update={"default_notice_at": served}))
    assert (held.rule, held.until) == ("handoff.default_notice", served + timedelta(days=14))
    later = handoff().model_copy(update={"default_notice_at": NOW - timedelta(days=14)})
    assert decide(LEGAL, now=NOW, rules=uk, handoff=later).allowed
    owed = later.model_copy(update={"in_arrears": True})  # in arrears (CCA s.86B): the arrears notice first
    assert (decide(LEGAL, now=NOW, rules=uk, handoff=owed).rule) == "handoff.arrears_notice"
    assert decide(LEGAL, now=NOW, rules=uk, handoff=owed.model_copy(update={"arrears_notice_at": NOW})).allowed
    assert decide(REPORT, now=NOW, rules=uk, handoff=handoff()).allowed  # a credit report needs no such notice
    letter = PlannedAction(channel=Channel.LETTER, notice=True)
    paused = Flags(holds=[Hold(kind=HoldKind.PAUSE, reason="x", since=NOW)])
    assert decide(letter, now=utc(2026, 12, 1, 20), flags=paused).allowed  # required notices: no window, no hold
    assert decide(letter, now=NOW, flags=Flags(hard_stops=[HardStop.DECEASED])).rule == "hard_stop.deceased"
    reminder = PlannedAction(channel=Channel.LETTER)  # a letter of the schedule: a message like any other
    assert decide(reminder, now=utc(2026, 12, 1, 20), flags=paused).rule == "hold.pause"
    assert decide(reminder, now=NOW, flags=Flags(cease_channels=["letter"])).rule == "cease.letter"
    assert decide(reminder, now=NOW, flags=Flags(cease_all=True)).rule == "cease.all"
    assert decide(letter, now=NOW, flags=Flags(cease_channels=["letter"])).allowed  # the law's notice still goes


def test_a_visit_waits_for_its_written_notice_where_the_pack_requires_one():
    uk, visit = combine_packs([load_rule_pack("uk-conc")]), PlannedAction(channel=Channel.VISIT)
    ten = utc(2026, 12, 1, 10)
    assert uk.visit_notice_days == 7 and CN.visit_notice_days is None
    never = decide(visit, now=ten, tz="Europe/London", rules=uk)
    assert (never.verdict, never.rule, never.until) == ("defer", "visit.notice", None)
    posted = ten - timedelta(days=3)
    held = decide(visit, now=ten, tz="Europe/London", rules=uk, visit_notice_at=posted)
    assert (held.verdict, held.rule, held.until) == ("defer", "visit.notice", posted + timedelta(days=7))
    assert decide(visit, now=ten, tz="Europe/London", rules=uk, visit_notice_at=ten - timedelta(days=7)).allowed
    assert decide(visit, now=ten, tz="Europe/London", rules=CN).allowed  # no such rule in cn
