"""The auditor's proof: planted violations are each found, and tampering breaks the chain."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from adapters.config_files import load_rule_pack
from adapters.ledger import Ledger
from domain.policy import ALLOCATION_ORDER as ORDER
from domain.policy import HandOffPolicy, combine_packs
from service.compliance import compliance_report

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, 21:00 the day before in New York


class Journal:
    """Writes a synthetic case's journal through the real ledger writer."""

    def __init__(self, ledger: Ledger, packs: list[str], tz: str):
        self.ledger, self.case_id, self.n = ledger, f"AUD-{uuid.uuid4().hex[:8]}", 0
        self.rules = combine_packs([load_rule_pack(p) for p in packs])
        self.tz = tz

    async def add(self, entry_kind: str, at: datetime, **data) -> None:
        self.n += 1
        await self.ledger.record_event(self.case_id, f"{self.case_id}:{entry_kind}:{self.n}", entry_kind, at, data)

    async def open(self, **opened) -> Journal:
        await self.add("case_opened", T0 - timedelta(hours=1), rules=self.rules.model_dump(mode="json"),
                       timezone=self.tz, policy="standard@1", **opened)
        return self

    async def contact(self, at: datetime, channel: str = "robot_call", outcome: str = "answered",
                      ref: str = "n1", opt_out: bool = True) -> None:
        await self.add("contact_attempt", at, channel=channel, person="borrower", phone_ref=ref, outcome=outcome,
                       with_opt_out=opt_out, distress=False, robot=channel == "robot_call", template="t")


async def rules_found(engine, journal: Journal) -> Counter:
    report = await compliance_report(Ledger(engine), journal.case_id)
    assert not report.broken
    return Counter(v.rule for v in report.violations)


async def test_planted_violations_under_cn_are_each_found(engine):
    j = await Journal(Ledger(engine), ["cn"], "Asia/Shanghai").open()
    await j.contact(T0, "sms")                                          # fine
    for h in (1, 2, 3):
        await j.contact(T0 + timedelta(hours=h), "robot_call", "answered")  # 3 interactions: fine
    await j.contact(T0 + timedelta(hours=4), "agent_call", "conversation")   # the 4th: cap
    await j.contact(T0 + timedelta(hours=5), "sms", opt_out=False)      # opt-out missing
    await j.add("visit_reported", T0 + timedelta(hours=6), visit_id="v", result="met", collectors=1, distress=False,
                started_at="2026-12-01T14:00:00+08:00", ended_at="2026-12-01T14:30:00+08:00")
    await j.add("cease_contact", T0 + timedelta(hours=7), scope="channel", channel="sms", number_ref=None)
    await j.contact(T0 + timedelta(hours=8), "sms")                     # after cease sms
    await j.contact(T0 + timedelta(hours=13), "robot_call")             # 23:00 local: window, and a 5th call
    await j.contact(T0 + timedelta(days=1, hours=1), "robot_call")      # next day, voice still allowed: fine
    await j.add("wellbeing_referral", T0 + timedelta(days=1, hours=2), crisis_line={"number": "12356"})
    await j.contact(T0 + timedelta(days=1, hours=3), "robot_call")      # during distress review
    found = await rules_found(engine, j)
    assert found == Counter({"window": 1, "voice.interactions_per_day": 2, "sms.opt_out": 1, "visit.collectors": 1,
                             "cease.sms": 1, "wellbeing.distress": 1})
    # the 23:00 call also came after three answered calls that day: both rules are named


async def test_planted_violations_under_us_regf_are_each_found(engine):
    j = await Journal(Ledger(engine), ["us-regf"], "America/New_York").open()
    phones = [{"ref": "n1", "owner": "borrower", "index": 0, "valid": True, "line_type": "mobile",
               "robot_consent": True}]
    await j.add("contact_data_verified", T0, phones=phones, missing=[], address_complete=True)
    await j.add("notice_sent", T0, kind="validation", validation_ends="2027-01-05")
    start = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # 10:00 New York
    for d in range(7):
        await j.contact(start + timedelta(days=d), "robot_call", "no_answer")
    await j.contact(start + timedelta(days=6, hours=2), "robot_call", "no_answer")  # 8th in 7 days
    await j.contact(start + timedelta(days=10), "agent_call", "conversation")
    await j.contact(start + timedelta(days=13), "robot_call", "no_answer")  # 3 days after a conversation
    await j.contact(start + timedelta(days=17), "robot_call", "no_answer")  # day 8: fine
    found = await rules_found(engine, j)
    assert found == Counter({"voice.attempts_per_7_days": 1, "voice.after_conversation": 1})


async def test_a_clean_journal_reports_clean(engine):
    j = await Journal(Ledger(engine), ["cn"], "Asia/Shanghai").open()
    await j.contact(T0, "sms")
    await j.contact(T0 + timedelta(days=1), "robot_call", "no_answer")
    report = await compliance_report(Ledger(engine), j.case_id)
    assert report.clean and report.contacts == 2 and "Violations: none" in report.text()


async def test_the_journal_refuses_updates_and_deletes(engine):
    j = await Journal(Ledger(engine), ["cn"], "Asia/Shanghai").open()
    for statement in ("UPDATE case_events SET kind = 'x' WHERE case_id = :c",
                      "DELETE FROM case_events WHERE case_id = :c"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with engine.begin() as conn:
                await conn.execute(text(statement), {"c": j.case_id})


@pytest.mark.parametrize("tamper, seq, reason", [
    ("UPDATE case_events SET data = jsonb_set(data, '{outcome}', '\"no_answer\"') "
     "WHERE case_id = :c AND seq = 3", 3, "content does not match"),
    ("DELETE FROM case_events WHERE case_id = :c AND seq = 2", 2, "missing"),
])
async def test_a_changed_or_deleted_row_breaks_the_chain_where_it_happened(engine, tamper, seq, reason):
    j = await Journal(Ledger(engine), ["cn"], "Asia/Shanghai").open()
    for h in range(4):
        await j.contact(T0 + timedelta(hours=h), "sms")
    async with engine.begin() as conn:  # someone with the power to drop the guard rail
        await conn.execute(text("ALTER TABLE case_events DISABLE TRIGGER case_events_append_only"))
        await conn.execute(text(tamper), {"c": j.case_id})
        await conn.execute(text("ALTER TABLE case_events ENABLE TRIGGER case_events_append_only"))
    report = await compliance_report(Ledger(engine), j.case_id)
    [broken] = report.broken
    assert (broken.seq, reason in broken.reason) == (seq, True)
    assert f"first broken link at entry {seq}" in report.text() and not report.clean


async def test_a_hand_off_during_a_hold_is_a_violation(engine):
    j = await Journal(Ledger(engine), ["cn"], "Asia/Shanghai").open()
    await j.add("hold_started", T0, kind="dispute", reason="not mine", until=None)
    await j.add("handed_off", T0 + timedelta(hours=1), kind="legal_recovery", reason="path exhausted")
    await j.add("handed_off", T0 + timedelta(hours=1), kind="supervisor", reason="an internal alert: fine")
    assert await rules_found(engine, j) == Counter({"hold.dispute": 1})


async def test_a_letter_of_the_schedule_is_judged_as_a_message_and_a_notice_goes_through_holds(engine):
    j = await Journal(Ledger(engine), ["cn"], "Asia/Shanghai").open()
    await j.add("hold_started", T0, kind="pause", reason="x", until=None)
    async def letter(at: datetime, step: int | None) -> None:
        await j.add("contact_attempt", at, channel="letter", person="borrower", phone_ref=None, outcome="sent",
                    with_opt_out=False, distress=False, robot=False, template="t", step=step)
    await letter(T0 + timedelta(hours=1), None)  # a notice the rules require: through the hold
    await letter(T0 + timedelta(hours=2), 3)     # the schedule's letter: held like any message
    await letter(T0 + timedelta(hours=13), 4)    # 23:00 in Shanghai as well: outside the window
    assert await rules_found(engine, j) == Counter({"hold.pause": 2, "window": 1})


HANDOFF = HandOffPolicy(credit_report_min_days_past_due=60, legal_min_days_past_due=90,
                        message_counts_as_reached_after_days=14).model_dump(mode="json")


async def test_a_hand_off_without_a_persons_approval_or_before_the_borrower_was_reached_is_a_violation(engine):
    j = await Journal(Ledger(engine), ["cn"], "Asia/Shanghai").open(days_past_due=80, handoff=HANDOFF)
    await j.contact(T0, "sms", outcome="delivered")
    await j.add("notice_sent", T0 + timedelta(days=4), kind="credit_report")  # told beforehand (征信业管理条例 Art. 15)
    await j.add("handed_off", T0 + timedelta(days=5), kind="credit_bureau", reason="reported")  # the message: 5 days
    await j.add("approval_decided", T0 + timedelta(days=20), approval_id="a", kind="handoff", verdict="approved",
                by="supervisor-1", note="")
    await j.add("handed_off", T0 + timedelta(days=20), kind="legal_recovery", reason="approved")  # fine: 100 days
    assert await rules_found(engine, j) == Counter({"handoff.approval": 1, "handoff.not_reached": 1})


async def test_a_hand_off_before_its_days_past_due_or_of_a_vulnerable_borrower_is_a_violation(engine):
    j = await Journal(Ledger(engine), ["cn"], "Asia/Shanghai").open(days_past_due=80, handoff=HANDOFF)
    await j.contact(T0, "agent_call", outcome="conversation")
    await j.add("vulnerability_recorded", T0 + timedelta(hours=1), driver=None, source="agent", lasting=True)
    await j.add("approval_decided", T0 + timedelta(days=1), approval_id="r", kind="vulnerability_review",
                verdict="approved", by="reviewer", note="")
    await j.add("approval_decided", T0 + timedelta(days=2), approval_id="a", kind="handoff", verdict="approved",
                by="supervisor-1", note="")
    await j.add("handed_off", T0 + timedelta(days=5), kind="legal_recovery", reason="approved")  # 85 days < 90
    assert await rules_found(engine, j) == Counter({"handoff.min_days_past_due": 1, "handoff.vulnerability": 1})


async def test_a_us_robot_call_without_recorded_consent_is_a_violation(engine):
    j = await Journal(Ledger(engine), ["us-regf"], "America/New_York").open()
    phones = [{"ref": ref, "owner": "borrower", "index": i, "valid": True, "line_type": "mobile",
               "robot_consent": ref == "n2"} for i, ref in enumerate(["n1", "n2"])]
    await j.add("contact_data_verified", T0, phones=phones, missing=[], address_complete=True)
    noon = T0 + timedelta(hours=15)  # 12:00 in New York
    await j.contact(noon, "robot_call", "answered", ref="n2")                      # consent on record: fine
    await j.contact(noon + timedelta(days=1), "robot_call", "answered", ref="n1")  # none
    await j.contact(noon + timedelta(days=2), "agent_call", "no_answer", ref="n1")  # a person dials: fine
    assert await rules_found(engine, j) == Counter({"robot.consent": 1})


async def test_a_us_third_party_asked_to_pass_on_a_message_is_a_violation(engine):
    j = await Journal(Ledger(engine), ["us-regf"], "America/New_York").open()
    phones = [{"ref": "n1", "owner": "borrower", "index": 0, "valid": False, "line_type": "unknown"}]
    await j.add("contact_data_verified", T0, phones=phones, missing=["a valid mobile number"], address_complete=True)
    noon = T0 + timedelta(hours=15)
    for ref, template in (("ec1", "location_inquiry"), ("ec2", "whereabouts_request")):
        await j.add("contact_attempt", noon, channel="sms", person="emergency_contact", phone_ref=ref,
                    outcome="delivered", with_opt_out=True, distress=False, robot=False, template=template)
    assert await rules_found(engine, j) == Counter({"third_party.location_only": 1})


async def test_a_debt_spoken_of_to_anyone_but_the_borrower_is_a_violation(engine):
    j = await Journal(Ledger(engine), ["cn"], "Asia/Shanghai").open()
    for n, (outcome, played) in enumerate([("answered", "message"), ("wrong_party", "identify"),
                                           ("third_party", "message"), ("voicemail", "voicemail")]):
        await j.add("contact_attempt", T0 + timedelta(hours=n), channel="robot_call", person="borrower",
                    phone_ref=f"n{n}", outcome=outcome, played=played, with_opt_out=True, distress=False,
                    robot=True, template="robot_reminder")
    # cn leaves no voicemail (its packs allow none); the relative heard the debt
    assert await rules_found(engine, j) == Counter({"right_party.disclosure": 1, "voicemail.not_allowed": 1})


async def test_contact_or_a_hand_off_past_a_hard_stop_is_a_violation(engine):
    j = await Journal(Ledger(engine), ["cn"], "Asia/Shanghai").open()
    await j.add("hard_stop_recorded", T0, kind="time_barred", evidence="limitation", by="rule packs")
    await j.contact(T0 + timedelta(hours=1), "sms")                       # fine: a time-barred debt may be asked for
    await j.add("handed_off", T0 + timedelta(hours=2), kind="legal_recovery", reason="path exhausted")
    await j.add("hard_stop_recorded", T0 + timedelta(hours=3), kind="attorney", evidence="letter", by="ops")
    await j.contact(T0 + timedelta(hours=4), "sms")                       # only the attorney now
    await j.add("hard_stop_recorded", T0 + timedelta(hours=5), kind="bankruptcy", evidence="petition", by="legal")
    await j.add("notice_sent", T0 + timedelta(hours=5), kind="credit_report")
    await j.add("handed_off", T0 + timedelta(hours=6), kind="credit_bureau", reason="reported")
    assert await rules_found(engine, j) == Counter({"hard_stop.time_barred": 1, "hard_stop.attorney": 1,
                                                    "hard_stop.bankruptcy": 1})


async def test_contact_outside_the_borrowers_own_hours_or_days_is_a_violation(engine):
    j = await Journal(Ledger(engine), ["cn"], "Asia/Shanghai").open()
    await j.add("contact_preferences", T0, window={"start": "09:00", "end": "12:00"}, quiet_weekdays=[2],
                locale=None, reason="works afternoons", by="agent-1")
    await j.contact(T0 + timedelta(minutes=30), "sms")               # Tuesday 10:30: fine
    await j.contact(T0 + timedelta(hours=4), "sms")                  # Tuesday 14:00: lawful, not theirs
    await j.contact(T0 + timedelta(days=1), "sms")                   # Wednesday 10:00: their day off
    assert await rules_found(engine, j) == Counter({"borrower.window": 1, "borrower.quiet_weekday": 1})


async def test_an_agents_dial_is_judged_when_it_happens(engine):
    j = await Journal(Ledger(engine), ["cn"], "Asia/Shanghai").open()
    await j.add("contact_attempt", T0, channel="agent_call", person="borrower", phone_ref="n1",
                outcome="task_created", with_opt_out=False, distress=False, robot=False, template="agent_reminder",
                dial_by=(T0 + timedelta(hours=12)).isoformat())                      # a task at 10:00: fine
    await j.add("agent_dial", T0 + timedelta(hours=13), attempt_key=j.case_id + ":contact_attempt:2",
                person="borrower", phone_ref="n1", agent="agent-7")                 # dialled at 23:00: outside
    assert await rules_found(engine, j) == Counter({"window": 1, "task.expired": 1})  # and after it lapsed


async def test_collecting_without_the_notices_the_packs_require_is_a_violation(engine):
    us = await Journal(Ledger(engine), ["us-regf"], "America/New_York").open()
    noon = T0 + timedelta(hours=15)  # 12:00 in New York
    await us.contact(noon, "sms", "delivered")                              # the first communication
    await us.contact(noon + timedelta(days=6), "sms", "delivered")          # 6 days on, no validation notice
    assert await rules_found(engine, us) == Counter({"notice.validation": 1})
    uk = await Journal(Ledger(engine), ["uk-conc"], "Europe/London").open()
    await uk.add("notice_sent", T0, kind="arrears")
    await uk.add("notice_sent", T0, kind="default", remedy_by="2026-12-15")
    await uk.add("handed_off", T0 + timedelta(days=10), kind="legal_recovery", reason="too soon")
    await uk.add("handed_off", T0 + timedelta(days=14), kind="legal_recovery", reason="after the remedy days")
    assert await rules_found(engine, uk) == Counter({"notice.default": 1})


async def test_contact_by_a_medium_or_at_a_place_the_borrower_refused_is_a_violation(engine):
    j = await Journal(Ledger(engine), ["cn"], "Asia/Shanghai").open()
    await j.add("contact_preferences", T0, window=None, quiet_weekdays=[], medium="sms", no_home_visits=True)
    await j.contact(T0 + timedelta(hours=1), "sms", "delivered")          # the way they asked for
    await j.contact(T0 + timedelta(hours=2), "robot_call", "answered")    # not
    await j.add("contact_preferences", T0 + timedelta(hours=3), window=None, quiet_weekdays=[], medium=None,
                no_home_visits=True)
    await j.contact(T0 + timedelta(hours=4), "robot_call", "answered")    # fine now
    await j.contact(T0 + timedelta(hours=5), "visit", "task_created")     # at home: refused
    assert await rules_found(engine, j) == Counter({"borrower.medium": 1, "borrower.place": 1})


async def test_a_credit_report_the_borrower_was_not_told_of_is_a_violation_in_china(engine):
    j = await Journal(Ledger(engine), ["cn"], "Asia/Shanghai").open()
    await j.add("handed_off", T0, kind="credit_bureau", reason="untold")
    await j.add("notice_sent", T0 + timedelta(days=1), kind="credit_report")
    await j.add("handed_off", T0 + timedelta(days=2), kind="credit_bureau", reason="told")
    assert await rules_found(engine, j) == Counter({"notice.credit_report": 1})


async def test_an_arrears_notice_and_a_visits_notice_where_the_pack_requires_them(engine):
    ten = T0 + timedelta(hours=8)  # 10:00 in London
    uk = await Journal(Ledger(engine), ["uk-conc"], "Europe/London").open()  # no schedule: taken to be in arrears
    await uk.add("contact_data_verified", T0, missing=[], address_complete=True, phones=[])  # somewhere to post it
    await uk.contact(ten, "sms", "delivered")                              # day 0: within the 14 days
    await uk.contact(ten + timedelta(days=15), "sms", "delivered")         # day 15: no arrears notice yet
    await uk.add("notice_sent", ten + timedelta(days=15), kind="arrears")
    await uk.contact(ten + timedelta(days=16), "visit", "task_created")    # a visit with no notice
    await uk.add("notice_sent", ten + timedelta(days=17), kind="visit", visit_from="2026-12-25")
    await uk.contact(ten + timedelta(days=20), "visit", "task_created")    # 3 days after it: too soon
    await uk.contact(ten + timedelta(days=24), "visit", "task_created")    # 7 days after it: fine
    assert await rules_found(engine, uk) == Counter({"notice.arrears": 1, "notice.visit": 2})

    schedule = {"amount": "100", "interval_days": 30}
    owed = await Journal(Ledger(engine), ["uk-conc"], "Europe/London").open(instalments=schedule | {"arrears": "250"})
    await owed.add("notice_sent", T0, kind="default", remedy_by="2026-12-15")
    await owed.add("handed_off", T0 + timedelta(days=14), kind="legal_recovery", reason="no arrears notice")
    assert await rules_found(engine, owed) == Counter({"notice.arrears": 1})
    short = await Journal(Ledger(engine), ["uk-conc"], "Europe/London").open(instalments=schedule | {"arrears": "150"})
    await short.contact(ten + timedelta(days=20), "sms", "delivered")     # under two instalments: none owed
    await short.add("notice_sent", T0, kind="default", remedy_by="2026-12-15")
    await short.add("handed_off", T0 + timedelta(days=14), kind="legal_recovery", reason="fine")
    assert await rules_found(engine, short) == Counter()

    address = {"missing": [], "address_complete": True, "phones": []}
    late = await Journal(Ledger(engine), ["uk-conc"], "Europe/London").open(
        instalments=schedule | {"arrears": "250"}, balance="1000")               # in arrears from the start
    await late.add("contact_data_verified", T0, **address)
    await late.add("payment_applied", T0 + timedelta(days=20), amount="100", balance_after="900")  # too late to count
    await late.contact(ten + timedelta(days=25), "sms", "delivered")
    assert await rules_found(engine, late) == Counter({"notice.arrears": 1})
    for waiver, found in ((None, {"notice.arrears": 1}), ("150", {})):
        grows = await Journal(Ledger(engine), ["uk-conc"], "Europe/London").open(
            instalments=schedule | {"arrears": "150"}, balance="300")             # two instalments due on day 30
        await grows.add("contact_data_verified", T0, **address)
        if waiver:  # what is left to pay (150) can never be two instalments in arrears
            await grows.add("penalty_waived", T0 + timedelta(days=1), plan_id="p", amount=waiver)
        await grows.contact(ten + timedelta(days=50), "sms", "delivered")
        assert await rules_found(engine, grows) == Counter(found)
    nowhere = await Journal(Ledger(engine), ["uk-conc"], "Europe/London").open()  # no address: nothing to judge late
    await nowhere.contact(ten + timedelta(days=30), "sms", "delivered")
    assert await rules_found(engine, nowhere) == Counter()


async def test_a_visit_outside_the_visit_window_or_without_its_times_is_a_violation(engine):
    j = await Journal(Ledger(engine), ["cn"], "Asia/Shanghai").open()  # visits 08:00-22:00 local in cn

    async def visit(start: str | None, end: str | None, collectors: int = 2) -> None:
        await j.add("visit_reported", T0, visit_id="v", result="not_home", collectors=collectors,
                    collector_ids=[f"c{n}" for n in range(collectors)], distress=False, started_at=start,
                    ended_at=end)

    await visit("2026-12-01T10:15:00+08:00", "2026-12-01T10:55:00+08:00")  # inside: clean
    await visit("2026-12-01T21:40:00+08:00", "2026-12-01T22:30:00+08:00")  # runs past the window
    await visit("2026-12-01T21:00:00+00:00", "2026-12-01T21:30:00+00:00")  # 05:00 next day in Shanghai
    await visit(None, None)  # no time: cannot be audited
    await visit("2026-12-01T11:00:00+08:00", "2026-12-01T11:30:00+08:00", collectors=1)
    assert await rules_found(engine, j) == Counter({"visit.window": 2, "visit.no_time": 1, "visit.collectors": 1})


async def test_a_stage_move_outside_the_lifecycle_is_a_violation(engine):
    j = await Journal(Ledger(engine), ["cn"], "Asia/Shanghai").open()
    await j.add("stage_changed", T0, **{"from": "verification", "to": "assessment", "why": "verified"})
    await j.add("stage_changed", T0 + timedelta(hours=1), **{"from": "assessment", "to": "escalated", "why": "?"})
    await j.add("stage_changed", T0 + timedelta(hours=2), **{"from": "escalated", "to": "settled", "why": "?"})
    assert await rules_found(engine, j) == Counter({"lifecycle.move": 2})


async def test_the_command_line_exits_non_zero_on_a_violation(engine, database_url):
    import os
    import subprocess
    import sys
    from pathlib import Path

    clean = await Journal(Ledger(engine), ["cn"], "Asia/Shanghai").open()
    await clean.contact(T0, "sms")
    dirty = await Journal(Ledger(engine), ["cn"], "Asia/Shanghai").open()
    await dirty.contact(T0 + timedelta(hours=14), "sms")  # 24:00 local
    root = Path(__file__).resolve().parent.parent
    env = os.environ | {"DATABASE_URL": database_url}
    ok = subprocess.run([sys.executable, "audit.py", "compliance-report", "--case", clean.case_id], cwd=root,
                        env=env, capture_output=True, text=True)
    bad = subprocess.run([sys.executable, "audit.py", "compliance-report", "--case", dirty.case_id, "--json"],
                         cwd=root, env=env, capture_output=True, text=True)
    assert ok.returncode == 0 and "Violations: none" in ok.stdout, ok.stderr
    assert bad.returncode == 1 and '"rule": "window"' in bad.stdout, bad.stderr


def test_every_rule_the_checker_can_report_is_named_in_the_report():
    import inspect
    import re

    from domain import compliance

    # every rule the checker reports: `("rule", …)`, `[("rule", …)]`, `Violation(case_id, "rule", …)`; a rule
    # family is named `hold.*`; an f-string's fixed part (`hold.`, `vulnerability.no_`) begins a named rule
    source = inspect.getsource(compliance)
    found = re.findall(r'(?:append\(\(|\[\(|Violation\([a-z_.]+,\s*)f?"([a-z0-9_.]+)(\{?)', source)
    names, prefixes = {n for n, brace in found if not brace}, {n for n, brace in found if brace}
    assert len(names) > 25 and len(prefixes) >= 3

    def named(rule: str) -> bool:
        return rule in compliance.RULES or f"{rule.split('.')[0]}.*" in compliance.RULES

    assert {n for n in names if not named(n)} == set()
    assert all(any(rule.startswith(p) for rule in compliance.RULES) for p in prefixes), prefixes
    from service.compliance import Report
    assert all(rule in Report().text() for rule in ("handoff.approval", "right_party.disclosure", "robot.consent",
                                                     "borrower.window", "hard_stop.*", "retention.overdue"))


async def test_money_the_journal_states_is_recomputed_and_every_difference_found(engine):
    """cn: interest 18% and penalty 0.05% a day on 1,000.00, within the 24% all-in cap."""
    j = await Journal(Ledger(engine), ["cn"], "Asia/Shanghai").open()
    day = T0.astimezone(ZoneInfo("Asia/Shanghai")).date()
    owed = {"principal": "1000.00", "interest": "0", "penalty": "0", "fees": "0", "balance": "1000.00"}
    terms = {"annual_interest_rate": "0.18", "daily_penalty_rate": "0.0005", "day_count": 365}
    await j.add("books_opened", T0, currency="CNY", on=day.isoformat(), terms=terms, order=list(ORDER),
                caps={"annual_cost_rate": "0.24", "penalty_allowed": True}, **owed)

    def period(start: int, end: int, days: int, interest: str, penalty: str) -> dict:
        return {"start": str(day + timedelta(days=start)), "end": str(day + timedelta(days=end)),
                "days_accrued": days, "principal": "1000.00", "interest": interest, "penalty": penalty,
                "capped": True}

    # ten days: 4.93 interest (1000 x 18% x 10/365) and 1.64 penalty (what 24% leaves): right
    after = {**owed, "interest": "4.93", "penalty": "1.64", "balance": "1006.57"}
    await j.add("accrued", T0 + timedelta(days=10), periods=[period(0, 10, 10, "4.93", "1.64")], frozen=[], **after)
    # a dispute from day 10: the next ten days accrue nothing, yet the journal accrued them
    await j.add("hold_started", T0 + timedelta(days=10), kind="dispute", reason="disputed", until=None, ref=None)
    wrong = {**after, "interest": "9.86", "penalty": "3.28", "balance": "1013.14"}
    await j.add("accrued", T0 + timedelta(days=20), periods=[period(10, 20, 10, "4.93", "1.64")], frozen=[], **wrong)
    await j.add("hold_ended", T0 + timedelta(days=20), kind="dispute", reason="verified")
    # a payment of 10.00 applied to the principal first, where the order puts penalty and interest first
    allocation = {"fees": "0", "penalty": "0", "interest": "0", "principal": "10.00", "overpaid": "0"}
    await j.add("payment_applied", T0 + timedelta(days=20), reference="P1", amount="10.00", allocation=allocation,
                **{**wrong, "principal": "990.00", "balance": "1003.14", "balance_after": "1003.14"})
    # ten more days at the penalty's full 0.05% a day: above the cap
    fine = {**wrong, "interest": "0", "penalty": "0", "principal": "1003.14", "balance": "1003.14"}
    await j.add("balance_corrected", T0 + timedelta(days=21), by="0", why="test", **fine)
    await j.add("accrued", T0 + timedelta(days=31), periods=[period(20, 30, 10, "4.94", "5.01")], frozen=[],
                **{**fine, "interest": "4.94", "penalty": "5.01", "balance": "1013.09"})
    # a stated balance that is simply wrong
    await j.add("written_off", T0 + timedelta(days=32), amount="1013.09", why="test",
                **{**fine, "principal": "1.00", "balance": "1.00"})
    assert await rules_found(engine, j) == Counter({"money.frozen": 1, "money.accrual": 2, "money.allocation": 1,
                                                    "money.cap": 1, "money.balance": 1})


async def test_books_opened_with_caps_looser_than_the_packs_is_a_violation(engine):
    j = await Journal(Ledger(engine), ["cn"], "Asia/Shanghai").open()
    owed = {"principal": "1000.00", "interest": "0", "penalty": "0", "fees": "0", "balance": "1000.00"}
    await j.add("books_opened", T0, currency="CNY", on="2026-12-01", order=list(ORDER),
                terms={"annual_interest_rate": "0.30", "daily_penalty_rate": "0", "day_count": 365},
                caps={"annual_cost_rate": None, "penalty_allowed": True}, **owed)
    assert await rules_found(engine, j) == Counter({"money.caps": 1})
