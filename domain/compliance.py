"""The auditor's check: replay a case's journal and list every contact that broke a rule.

Written apart from the guard on purpose: the guard decides before an action, this judges the record
after it, from the journal alone (the rules the case was opened with, its timezone, its flags as
they were set, every attempt and receipt). If the two ever disagree, the record shows it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from domain import books_audit, lifecycle
from domain.case_input import Instalments
from domain.enums import Stage
from domain.journal import Entry
from domain.notices import first_arrears
from domain.policy import EffectiveRules, HandOffPolicy, Window

VOICE = {"robot_call", "agent_call"}
INTERACTIONS = {"answered", "conversation"}
FAILURES = {"failed", "no_answer", "wrong_party", "third_party", "voicemail"}
NOT_CONFIRMED = {"wrong_party", "third_party", "voicemail"}  # whoever answered was not the borrower
CEASE_MEDIUM = {"sms": "sms", "robot_call": "voice", "agent_call": "voice", "visit": "visit", "email": "email",
                "letter": "letter"}


# Every rule this check judges (`hold.*`, `cease.*`, `hard_stop.*` stand for their kinds), as the report names them.
RULES = (
    "window", "quiet_day", "sms.opt_out", "voice.interactions_per_day", "voice.unanswered_per_number_per_day",
    "voice.attempts_per_7_days", "voice.after_conversation", "cease.*", "hold.*", "wellbeing.distress",
    "vulnerability.review", "vulnerability.no_robot", "vulnerability.no_visit", "third_party.borrower_reachable",
    "third_party.refused", "third_party.max_each", "third_party.location_only", "robot.consent",
    "right_party.disclosure", "voicemail.not_allowed", "wrong_number", "borrower.window", "borrower.quiet_weekday",
    "borrower.medium", "borrower.place",
    "hard_stop.*", "notice.validation", "notice.default", "notice.arrears", "notice.visit",
    "notice.credit_report", "task.expired",
    "handoff.approval", "handoff.min_days_past_due", "handoff.not_reached",
    "handoff.vulnerability", "visit.window", "visit.collectors", "visit.no_time", "lifecycle.move",
    "journal.no_rules", *books_audit.RULES,
)


@dataclass(frozen=True)
class Violation:
    case_id: str
    rule: str
    at: datetime
    entry: int
    detail: str


@dataclass
class _Attempt:
    key: str
    channel: str
    person: str
    phone_ref: str | None
    at: datetime
    outcome: str
    awaits_dial: bool = False  # an agent's task not yet dialled: not a call, counted toward no cap
    dial_by: datetime | None = None


@dataclass
class _Case:
    case_id: str
    rules: EffectiveRules
    tz: ZoneInfo
    attempts: list[_Attempt] = field(default_factory=list)
    cease_all: bool = False
    cease_media: set[str] = field(default_factory=set)
    cease_numbers: set[str] = field(default_factory=set)
    holds: dict[str, datetime | None] = field(default_factory=dict)  # kind -> until (None: until lifted)
    distress: bool = False
    vulnerable: bool = False
    refused_third_parties: set[str] = field(default_factory=set)
    borrower_refs: set[str] | None = None  # the borrower's valid numbers, once verified
    borrower_failures: int = 0
    opened_at: datetime | None = None
    days_past_due_at_open: int = 0
    handoff_policy: HandOffPolicy | None = None  # None: opened before a person approved every hand-off
    handoff_approved: bool = False
    vulnerability_on_record: bool = False
    robot_consent: set[str] = field(default_factory=set)
    hard_stops: set[str] = field(default_factory=set)
    wrong_numbers: set[str] = field(default_factory=set)
    notices: dict[str, datetime] = field(default_factory=dict)
    first_contact_at: datetime | None = None
    borrower_window: Window | None = None
    quiet_weekdays: set[int] = field(default_factory=set)
    borrower_medium: str | None = None
    no_home_visits: bool = False
    instalments: Instalments | None = None  # the loan's schedule and shortfall, when the loan system sent it
    record: list[tuple[datetime, Decimal, Decimal]] = field(default_factory=list)  # (when, paid so far, balance)
    address_known_at: datetime | None = None  # when the contact data first showed a complete address
    arrears_judged: bool = False  # a missing arrears notice is reported once


def find_violations(entries: list[Entry]) -> list[Violation]:
    """Every rule broken in one case's journal (entries in chain order)."""
    if not entries:
        return []
    opened = entries[0]  # the case's opening, or its early warning's (a loan not yet overdue), with its rules
    if opened.kind not in ("case_opened", "early_warning_started") or "rules" not in opened.data:
        return [Violation(opened.case_id, "journal.no_rules", opened.at, opened.seq,
                          "the journal does not start with the rules the case was opened under")]
    case = _Case(opened.case_id, EffectiveRules.model_validate(opened.data["rules"]), ZoneInfo(opened.data["timezone"]),
                 opened_at=opened.at, days_past_due_at_open=int(opened.data.get("days_past_due", 0)),
                 handoff_policy=HandOffPolicy.model_validate(opened.data["handoff"]) if "handoff" in opened.data
                 else None,
                 instalments=Instalments.model_validate(opened.data["instalments"]) if opened.data.get("instalments")
                 else None,
                 record=[(opened.at, Decimal(0), Decimal(opened.data.get("balance", "Infinity")))])
    found: list[Violation] = []
    for entry in entries[1:]:
        data = entry.data
        match entry.kind:
            case "case_opened":  # an early warning's loan, overdue: the case counts its days from here
                case.opened_at, case.days_past_due_at_open = entry.at, int(data.get("days_past_due", 0))
                if "rules" in data:
                    case.rules = EffectiveRules.model_validate(data["rules"])
                case.first_contact_at = None  # collection's first communication is the case's, not the reminder
                if "handoff" in data:
                    case.handoff_policy = HandOffPolicy.model_validate(data["handoff"])
                if data.get("instalments"):
                    case.instalments = Instalments.model_validate(data["instalments"])
            case "cease_contact":
                if data["scope"] == "all":
                    case.cease_all = True
                elif data["scope"] == "channel":
                    case.cease_media.add(data["channel"])
                elif data.get("number_ref"):
                    case.cease_numbers.add(data["number_ref"])
            case "hold_started":
                case.holds[data["kind"]] = datetime.fromisoformat(data["until"]) if data.get("until") else None
            case "hold_ended":
                case.holds.pop(data["kind"], None)
            case "moratorium_ends":
                case.holds["moratorium"] = datetime.fromisoformat(data["until"])
            case "wellbeing_referral":
                case.distress = True
            case "vulnerability_recorded":
                case.vulnerable = True
                case.vulnerability_on_record = case.vulnerability_on_record or bool(data.get("lasting"))
            case "approval_withdrawn" if data.get("kind") == "handoff":
                case.handoff_approved = False
            case "agent_dial":  # the call itself, judged when the agent dialled
                dialled = {"channel": "agent_call", "person": data["person"], "phone_ref": data.get("phone_ref"),
                           "outcome": "sent"}
                found += [Violation(case.case_id, rule, entry.at, entry.seq, detail)
                          for rule, detail in _judge(case, replace(entry, data=dialled))]
                for attempt in case.attempts:
                    if attempt.key == data["attempt_key"]:
                        if attempt.dial_by is not None and entry.at >= attempt.dial_by:
                            found.append(Violation(case.case_id, "task.expired", entry.at, entry.seq,
                                                   "a dial after the task lapsed"))
                        attempt.at, attempt.awaits_dial = entry.at, False
            case "notice_sent" if data["kind"] == "arrears" and "arrears" not in case.notices:
                found += [Violation(case.case_id, rule, entry.at, entry.seq, detail)
                          for rule, detail in _arrears_once(case, entry.at)]
                case.notices["arrears"] = entry.at
            case "notice_sent":
                case.notices[data["kind"]] = entry.at
            case "payment_applied":
                _, paid, _ = case.record[-1]
                case.record.append((entry.at, paid + Decimal(data["amount"]), Decimal(data["balance_after"])))
            case "penalty_waived":
                _, paid, balance = case.record[-1]
                case.record.append((entry.at, paid, balance - Decimal(data["amount"])))
            case "dispute_resolved" if data.get("corrected_balance"):
                _, paid, _ = case.record[-1]
                case.record.append((entry.at, paid, Decimal(data["corrected_balance"])))
            case "contact_attempt" if data["channel"] == "letter" and data.get("step") is None:  # a notice by
                # post: no window or cap (a letter of the schedule has its step, and is judged as any message)
                found += [Violation(case.case_id, rule, entry.at, entry.seq, detail)
                          for rule, detail in _stopped(case, "contact") if rule != "hard_stop.attorney"]
            case "wrong_number":
                case.wrong_numbers.add(data["phone_ref"])
            case "approval_decided" if data.get("kind") == "handoff":
                case.handoff_approved = data["verdict"] == "approved"
            case "approval_decided" if data.get("kind") in ("wellbeing_review", "vulnerability_review"):
                case.distress = case.vulnerable = False
            case "contact_preferences":
                case.borrower_window = Window.model_validate(data["window"]) if data.get("window") else None
                case.quiet_weekdays = set(data.get("quiet_weekdays") or [])
                case.borrower_medium, case.no_home_visits = data.get("medium"), bool(data.get("no_home_visits"))
            case "hard_stop_recorded":
                case.hard_stops.add(data["kind"])
            case "third_party_refused":
                case.refused_third_parties.add(data["phone_ref"])
            case "contact_data_verified":
                if data.get("address_complete") and case.address_known_at is None:
                    case.address_known_at = entry.at
                case.borrower_refs = {p["ref"] for p in data["phones"] if p["owner"] == "borrower" and p["valid"]}
                case.robot_consent = {p["ref"] for p in data["phones"] if p.get("robot_consent")}
            case "receipt":
                for attempt in case.attempts:
                    if attempt.key == data["attempt_key"]:
                        attempt.outcome = data["outcome"]
                        attempt.awaits_dial = attempt.awaits_dial and data["outcome"] == "task_created"
                        if attempt.person == "borrower":
                            _count_failures(case, data["outcome"])
            case "visit_reported":
                found += [Violation(case.case_id, rule, entry.at, entry.seq, detail)
                          for rule, detail in _visit(case, data)]
            case "handed_off" if data["kind"] in ("legal_recovery", "credit_bureau"):
                found += [Violation(case.case_id, rule, entry.at, entry.seq, f"{data['kind']}: {detail}")
                          for rule, detail in _blocked(case, entry.at) + _stopped(case, data["kind"])
                          + _default_notice(case, data["kind"], entry.at)
                          + (_arrears_once(case, entry.at, before_legal=True) if data["kind"] == "legal_recovery"
                             else [])
                          + ([("notice.credit_report", "a credit-bureau report the borrower was not told of")]
                             if data["kind"] == "credit_bureau" and case.rules.credit_report_notice
                             and "credit_report" not in case.notices else [])
                          + _handoff(case, data["kind"], entry.at)]
            case "stage_changed" if not lifecycle.allowed(Stage(data["from"]), Stage(data["to"])):
                found.append(Violation(case.case_id, "lifecycle.move", entry.at, entry.seq,
                                       f"{data['from']} → {data['to']} is not an allowed stage move"))
            case "contact_attempt":
                found += [Violation(case.case_id, rule, entry.at, entry.seq, detail)
                          for rule, detail in _judge(case, entry)]
                waits = bool(data.get("dial_by")) and data["outcome"] == "task_created"
                case.attempts.append(_Attempt(entry.key, data["channel"], data["person"], data.get("phone_ref"),
                                              entry.at, data["outcome"], awaits_dial=waits,
                                              dial_by=datetime.fromisoformat(data["dial_by"]) if waits else None))
                if data.get("distress"):
                    case.distress = True
                if data["person"] == "borrower":
                    _count_failures(case, data["outcome"])
                    case.first_contact_at = case.first_contact_at or entry.at
    last = entries[-1]  # a notice still missing when the record ends
    found += [Violation(case.case_id, rule, last.at, last.seq, detail) for rule, detail in _arrears_once(case, last.at)]
    found += [Violation(case.case_id, *finding) for finding in books_audit.check(entries, case.rules.charges, case.tz)]
    return found


def _count_failures(case: _Case, outcome: str) -> None:
    """Consecutive failures to reach the borrower, as attempts and receipts report them."""
    if outcome in FAILURES:
        case.borrower_failures += 1
    elif outcome in INTERACTIONS | {"delivered"}:
        case.borrower_failures = 0


def _blocked(case: _Case, at: datetime) -> list[tuple[str, str]]:
    """What stops every outbound action: a review pending, a hold in force."""
    out = []
    if case.distress:
        out.append(("wellbeing.distress", "while distress awaited a person's review"))
    if case.vulnerable:
        out.append(("vulnerability.review", "while a vulnerability awaited a person's review"))
    for kind, until in case.holds.items():
        if until is None or at < until:
            out.append((f"hold.{kind}", f"during a {kind} hold"))
    return out


def _notices(case: _Case, data: dict[str, Any], at: datetime) -> list[tuple[str, str]]:
    """The validation notice within its days of the first communication with the borrower."""
    notice = case.rules.validation_notice
    if notice is None or data["person"] != "borrower":
        return []
    first = case.first_contact_at or at
    if "validation" not in case.notices and at > first + timedelta(days=notice.within_days):
        return [("notice.validation", f"no validation notice {notice.within_days} days after the first communication")]
    return []


def _stopped(case: _Case, action: str) -> list[tuple[str, str]]:
    """Hard stops on record: bankruptcy and death stop everything; a represented borrower gets no
    automated contact; a time-barred debt no legal hand-off."""
    out = [(f"hard_stop.{s}", f"{action} after a {s.replace('_', ' ')} hard stop") for s in sorted(case.hard_stops)
           if s in ("bankruptcy", "deceased") or (s == "attorney" and action == "contact")]
    if "time_barred" in case.hard_stops and action == "legal_recovery":
        out.append(("hard_stop.time_barred", "a legal hand-off of a time-barred debt"))
    return out


def _default_notice(case: _Case, kind: str, at: datetime) -> list[tuple[str, str]]:
    days, served = case.rules.default_notice_days, case.notices.get("default")
    if kind == "legal_recovery" and days is not None and (served is None or served + timedelta(days=days) > at):
        return [("notice.default", f"a legal hand-off without a default notice {days} days before")]
    return []


def _arrears_notice(case: _Case, at: datetime, before_legal: bool = False) -> list[tuple[str, str]]:
    """The first arrears notice within its days of the arrears arising (`domain.notices`, from the journal's
    schedule, payments and balance), and before any legal hand-off; a missing one is reported once. (Its
    repeats are the workflow's to keep.)"""
    rule = case.rules.arrears_notice
    if rule is None or case.opened_at is None or "arrears" in case.notices or case.arrears_judged:
        return []
    arose = first_arrears(rule, case.instalments, case.opened_at, case.record, at)
    if arose is None:
        return []
    if before_legal:
        return [("notice.arrears", "a legal hand-off without an arrears notice")]
    if case.address_known_at is None:
        return []  # nowhere to post it: the legal hand-off waits for it instead
    if at > max(arose, case.address_known_at) + timedelta(days=rule.within_days):
        return [("notice.arrears", f"no arrears notice {rule.within_days} days after the arrears arose")]
    return []


def _arrears_once(case: _Case, at: datetime, before_legal: bool = False) -> list[tuple[str, str]]:
    """A missing arrears notice, reported the first time it is found."""
    found = _arrears_notice(case, at, before_legal)
    case.arrears_judged = case.arrears_judged or bool(found)
    return found


def _handoff(case: _Case, kind: str, at: datetime) -> list[tuple[str, str]]:
    """A credit report or legal hand-off: a person approved it, the days past due had come, the borrower
    had been communicated with, and no vulnerability was on record."""
    policy, rules = case.handoff_policy, case.rules.handoff
    if policy is None or case.opened_at is None:
        return []
    out = []
    if not case.handoff_approved:
        out.append(("handoff.approval", "no person approved it"))
    if kind == "credit_bureau":
        floor = max(rules.credit_report_min_days_past_due or 0, policy.credit_report_min_days_past_due)
    else:
        floor = max(rules.legal_min_days_past_due or 0, policy.legal_min_days_past_due)
    days = case.days_past_due_at_open + (at - case.opened_at).days
    if days < floor:
        out.append(("handoff.min_days_past_due", f"at {days} days past due; not before {floor}"))
    wait = timedelta(days=max(rules.message_counts_as_reached_after_days or 0,
                              policy.message_counts_as_reached_after_days))
    borrower = [a for a in case.attempts if a.person == "borrower"]
    if not any(a.outcome == "conversation" for a in borrower) and not any(
            a.outcome == "delivered" and a.at + wait <= at for a in borrower):
        out.append(("handoff.not_reached", "the borrower had not been communicated with"))
    if case.vulnerability_on_record:
        out.append(("handoff.vulnerability", "a vulnerability was on record"))
    return out


def _judge(case: _Case, entry: Entry) -> list[tuple[str, str]]:
    data, at, rules = entry.data, entry.at, case.rules
    channel, local = data["channel"], entry.at.astimezone(case.tz)
    out: list[tuple[str, str]] = []
    out += _blocked(case, at) + _stopped(case, "contact") + _notices(case, data, at)
    if data["person"] == "borrower":
        out += _arrears_once(case, at)
    if channel == "visit" and rules.visit_notice_days is not None:
        served = case.notices.get("visit")
        if served is None or at < served + timedelta(days=rules.visit_notice_days):
            out.append(("notice.visit", f"a visit without a written notice {rules.visit_notice_days} days before"))
    if data["person"] == "emergency_contact":
        out += _third_party(case, data)
    if case.cease_all:
        out.append(("cease.all", "contact after the borrower asked to stop all contact"))
    elif CEASE_MEDIUM[channel] in case.cease_media:
        out.append((f"cease.{CEASE_MEDIUM[channel]}", f"{channel} after the borrower refused it"))
    elif data.get("phone_ref") in case.cease_numbers:
        out.append(("cease.number", "contact on a number the borrower refused"))
    if data.get("phone_ref") in case.wrong_numbers:
        out.append(("wrong_number", "contact on a number a stranger answered"))
    if data.get("outcome") in NOT_CONFIRMED and data.get("played") == "message":
        out.append(("right_party.disclosure", f"the message played to a {data['outcome'].replace('_', ' ')}"))
    if data.get("played") == "voicemail" and rules.voicemail != "limited_content":
        out.append(("voicemail.not_allowed", "a voicemail left where the packs allow none"))
    if case.vulnerability_on_record and channel in ("robot_call", "visit"):
        out.append((f"vulnerability.no_{'visit' if channel == 'visit' else 'robot'}",
                    f"a {channel} after a vulnerability was recorded"))
    if channel == "robot_call" and rules.robot_calls_need_consent and data.get("phone_ref") not in case.robot_consent:
        out.append(("robot.consent", "a robot call to a number without recorded consent"))
    if local.date() in rules.quiet_days:
        out.append(("quiet_day", f"{channel} on {local.date()}, a public holiday for the borrower"))
    window = rules.visit_window if channel == "visit" else rules.contact_window
    if not window.start <= local.time() < window.end:
        out.append(("window", f"{channel} at {local:%H:%M} local, outside {window.start:%H:%M}-{window.end:%H:%M}"))
    if data["person"] == "borrower":
        if case.borrower_medium is not None and CEASE_MEDIUM[channel] != case.borrower_medium:
            out.append(("borrower.medium", f"{channel} to a borrower who asked for {case.borrower_medium} only"))
        if channel == "visit" and case.no_home_visits:
            out.append(("borrower.place", "a visit at the home of a borrower who asked not to be visited there"))
        if local.weekday() in case.quiet_weekdays:
            out.append(("borrower.quiet_weekday", f"{channel} on a {local:%A}, a day the borrower asked to be left"))
        own = case.borrower_window
        if own is not None and not own.start <= local.time() < own.end:
            out.append(("borrower.window", f"{channel} at {local:%H:%M} local, outside the borrower's "
                                           f"{own.start:%H:%M}-{own.end:%H:%M}"))
    if channel == "sms" and rules.sms_requires_opt_out and not data.get("with_opt_out"):
        out.append(("sms.opt_out", "an SMS without the opt-out the rules require"))
    if channel in VOICE:
        out += _voice(case, data, at, local)
    return out


def _visit(case: _Case, data: dict[str, Any]) -> list[tuple[str, str]]:
    """A reported visit: enough collectors, there within the visit window, on a day that is not quiet."""
    out: list[tuple[str, str]] = []
    rules = case.rules
    if data["collectors"] < rules.min_visit_collectors:
        needed = rules.min_visit_collectors
        out.append(("visit.collectors", f"{data['collectors']} collector(s); the rules need {needed}"))
    if not data.get("started_at") or not data.get("ended_at"):
        return [*out, ("visit.no_time", "a visit reported without when it took place")]
    start, end = (datetime.fromisoformat(data[k]).astimezone(case.tz) for k in ("started_at", "ended_at"))
    window = rules.visit_window
    if start.date() != end.date() or not (window.start <= start.time() and end.time() <= window.end):
        out.append(("visit.window", f"visit {start:%Y-%m-%d %H:%M}-{end:%H:%M} local, outside "
                                    f"{window.start:%H:%M}-{window.end:%H:%M}"))
    if start.date() in rules.quiet_days:
        out.append(("quiet_day", f"visit on {start.date()}, a public holiday for the borrower"))
    return out


LOCATION_TEMPLATES = {"location_inquiry"}  # the templates of the `location` section (adapters/templates.py)


def _third_party(case: _Case, data: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    own = None if case.borrower_refs is None else case.borrower_refs - case.wrong_numbers
    unreachable = own == set() or case.borrower_failures >= case.rules.unreachable_after_failures
    if not unreachable:
        out.append(("third_party.borrower_reachable", "an emergency contact messaged while the borrower was reachable"))
    if data.get("phone_ref") in case.refused_third_parties:
        out.append(("third_party.refused", "an emergency contact messaged after refusing"))
    cap = case.rules.third_party_max_each
    sent = sum(a.person == "emergency_contact" and a.phone_ref == data.get("phone_ref") for a in case.attempts)
    if cap is not None and sent >= cap:
        out.append(("third_party.max_each", f"message {sent + 1} to one third party (cap {cap})"))
    if case.rules.third_parties_location_only and data.get("template") not in LOCATION_TEMPLATES:
        out.append(("third_party.location_only", f"template {data.get('template')!r} asks more than location"))
    return out


def _voice(case: _Case, data: dict[str, Any], at: datetime, local: datetime) -> list[tuple[str, str]]:
    caps, out = case.rules.voice, []
    before = [a for a in case.attempts
              if a.channel in VOICE and a.person == data["person"] and a.at <= at and not a.awaits_dial]

    def day(a: _Attempt) -> date:
        return a.at.astimezone(case.tz).date()

    today = [a for a in before if day(a) == local.date()]
    if caps.max_interactions_per_day is not None:
        answered = sum(a.outcome in INTERACTIONS for a in today)
        if answered >= caps.max_interactions_per_day:
            out.append(("voice.interactions_per_day", f"call after {answered} answered interactions that day"))
    if caps.max_unanswered_per_number_per_day is not None and data.get("phone_ref"):
        unanswered = sum(a.outcome in FAILURES and a.phone_ref == data["phone_ref"] for a in today)
        if unanswered >= caps.max_unanswered_per_number_per_day:
            out.append(("voice.unanswered_per_number_per_day", f"dial after {unanswered} unanswered that day"))
    if caps.max_attempts_per_7_days is not None:
        week = [a for a in before if local.date() - timedelta(days=6) <= day(a) <= local.date()]
        if len(week) >= caps.max_attempts_per_7_days:
            out.append(("voice.attempts_per_7_days", f"the {len(week) + 1}th call in 7 days"))
    if caps.quiet_days_after_conversation is not None:
        talks = [day(a) for a in before if a.outcome == "conversation"]
        if talks and local.date() < max(talks) + timedelta(days=caps.quiet_days_after_conversation):
            out.append(("voice.after_conversation", f"a call within {caps.quiet_days_after_conversation} days "
                                                    f"of the conversation on {max(talks)}"))
    return out
