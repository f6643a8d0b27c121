"""Reaching people: ask the guard, then send through the channel's activity, and learn from the outcome.

Every outbound action of every stage passes here, so none can skip the guard: a deferral or denial is
journalled and returned to the stage instead of a result.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError

from workflows.case import bookkeeping, money, scoring
from workflows.case.core import DIAL_TIME_PERMISSION, REACH_AND_LAPSE, CaseRun

with workflow.unsafe.imports_passed_through():
    from activities.contact import ContactActivities
    from activities.contracts import ContactRequest, ContactResult
    from domain import clock, contacts, reachability
    from domain.enums import Channel, Outcome, Person, ScoreTrigger, Stage
    from domain.guard import GuardDecision, HandOffFacts, PlannedAction, evaluate
    from domain.messages import DialPermission, DialRequest
    from domain.state import ContactAttempt

CONTACT_ACTIVITY: dict[Channel, Callable[[Any, ContactRequest], Awaitable[ContactResult]]] = {
    Channel.SMS: ContactActivities.send_sms,
    Channel.ROBOT_CALL: ContactActivities.place_robot_call,
    Channel.AGENT_CALL: ContactActivities.create_agent_call_task,
    Channel.VISIT: ContactActivities.dispatch_visit,
    Channel.LETTER: ContactActivities.post_letter,
    Channel.EMAIL: ContactActivities.send_email,
}
LABEL = {Channel.SMS: "SMS reminder", Channel.ROBOT_CALL: "Robot call", Channel.AGENT_CALL: "Agent call task",
         Channel.VISIT: "Field visit", Channel.LETTER: "Notice by post", Channel.EMAIL: "E-mail"}


def deferred(result: ContactResult | GuardDecision) -> GuardDecision | None:
    """The guard's deferral, when it said "not now" (the stage plans to try again at `until`)."""
    return result if isinstance(result, GuardDecision) and result.verdict == "defer" else None


def guard(run: CaseRun, action: PlannedAction, handoff: HandOffFacts | None = None) -> GuardDecision:
    return evaluate(action, now=run.now, timezone=run.case.borrower.timezone, flags=run.s.flags,
                    attempts=run.s.attempts, rules=run.config.rules,
                    borrower_unreachable=borrower_unreachable(run),
                    third_party_cap=run.config.policy.third_party.max_messages_each, handoff=handoff,
                    visit_notice_at=run.s.notices.get("visit"),
                    message_caps={str(k): n for k, n in run.config.policy.contact.max_messages_per_7_days.items()})


def record_guard(run: CaseRun, decision: GuardDecision, channel: Channel) -> None:
    run.event("guard_decision", {"channel": channel.value, **decision.model_dump(mode="json")})


def stale(run: CaseRun) -> GuardDecision:
    """Not now: the case changed (a payment, a promise, new contact data) while the step waited its turn;
    the loop looks again at once."""
    return GuardDecision(verdict="defer", rule="case.changed", reason="the case changed while the step waited",
                         until=run.now, packs=run.config.rules.packs)


async def contact(run: CaseRun, channel: Channel, template: str, ref: str | None, step: int | None,
                  summary: str | None = None, person: Person = Person.BORROWER,
                  unchanged: tuple[object, ...] | None = None,
                  extra: dict[str, str] | None = None, link: bool = False) -> ContactResult | GuardDecision:
    """Ask the guard, then act, with nothing in between (the lock); a deferral or denial is recorded and
    returned instead. `unchanged` is `run.moment()` when the step decided on this contact: if the case
    has changed since, or its contact data has not been verified since it changed, nothing is sent."""
    async with run.lock:
        if (unchanged is not None and run.moment() != unchanged) or (
                run.s.verified_version != run.s.contact_info_version):
            return stale(run)
        decision = guard(run, PlannedAction(channel=channel, phone_ref=ref, person=person))
        if decision.allowed:
            if channel is Channel.LETTER:
                to: str | None = address_text(run)
            else:
                to = run.case.borrower.email if channel is Channel.EMAIL else number_for(run, ref or "")
            assert to is not None, "an e-mail step is planned only with an address"
            return await send(run, channel, template, ref, to, step, decision,
                              summary or LABEL[channel], person, extra, link)
    record_guard(run, decision, channel)
    return decision


async def send(run: CaseRun, channel: Channel, template: str, ref: str | None, to: str, step: int | None,
               decision: GuardDecision, summary: str, person: Person = Person.BORROWER,
               extra: dict[str, str] | None = None, link: bool = False) -> ContactResult:
    """Send through the channel's activity (the guard has allowed it, under the lock) and record the
    attempt; the case's facts owed so far ride with it."""
    sender, loan = run.config.policy.sender, run.case.loan
    key = run.key(channel.value)
    if person == Person.BORROWER:
        variables = {"sender_name": sender.name, "sender_number": sender.contact_number,
                     "amount": str(money.balance_today(run)), "currency": loan.currency,
                     "due_date": loan.due_date.isoformat(), "neutral_sender": sender.neutral_name,
                     "first_name": (run.case.borrower.name.split() or [""])[0], **(extra or {})}
    else:  # a third party learns nothing of the debt, not even the lender's name
        variables = {"neutral_sender": sender.neutral_name, "sender_number": sender.contact_number,
                     "contact_person": (run.case.borrower.name.split() or [""])[0]}
    dial_by = task_expiry(run) if channel is Channel.AGENT_CALL and workflow.patched(DIAL_TIME_PERMISSION) else None
    request = ContactRequest(
        case_id=run.case_id, key=key, channel=channel, person=person, phone_ref=ref, to=to, dial_by=dial_by,
        template=template, variables=variables,
        locale=(run.s.locale if person == Person.BORROWER else None) or run.case.borrower.locale,
        with_opt_out=run.config.rules.sms_requires_opt_out and channel is Channel.SMS,
        step=step, robot=channel is Channel.ROBOT_CALL, guard=decision, planned_at=run.now,
        voicemail=run.config.rules.voicemail == "limited_content", owed=bookkeeping.take(run),
        link_valid=run.config.policy.self_service.link_valid if link else None, country=run.case.borrower.country,
        link_code_to=number_for(run, code_to) if link and channel is Channel.LETTER and (
            code_to := borrower_number(run)) else None,
        sender=sender if channel in (Channel.EMAIL, Channel.LETTER) else None,
    )
    try:
        result = await run.act(CONTACT_ACTIVITY[channel], request, summary)
    except ActivityError as e:  # refused for good (bad number, bad template): a failed attempt
        workflow.logger.warning("contact refused", extra={"key": key, "reason": str(e.cause)})
        run.owed[:0] = request.owed  # perhaps never written: owed again (every write is idempotent)
        result = ContactResult(key=key, outcome=Outcome.FAILED, distress=False, provider="", message_id="")
    attempt = ContactAttempt(key=key, channel=channel, person=person, phone_ref=ref, template=template, at=run.now,
                             outcome=Outcome.SENT, robot=channel is Channel.ROBOT_CALL, step=step, dial_by=dial_by)
    run.s.attempts.append(attempt)
    run.s.counts[channel.value] = run.s.counts.get(channel.value, 0) + 1
    apply_outcome(run, attempt, result.outcome, result.distress)
    return result


def apply_outcome(run: CaseRun, attempt: ContactAttempt, outcome: Outcome, distress: bool) -> None:
    """An attempt's outcome, as sent or from a later receipt: reachability, conversations, distress."""
    s = run.s
    attempt.outcome = outcome
    s.consecutive_failures = reachability.failures_after(s.consecutive_failures, attempt.person, outcome)
    if outcome is Outcome.CONVERSATION:
        s.counts["conversations"] = s.counts.get("conversations", 0) + 1
    if attempt.person == Person.BORROWER:  # communicated: what a hand-off needs first
        if outcome is Outcome.CONVERSATION:
            scoring.want(run, ScoreTrigger.RIGHT_PARTY_CONTACT)
        if outcome is Outcome.CONVERSATION and s.reached_at is None:
            s.reached_at = attempt.at
        if outcome is Outcome.DELIVERED and s.messaged_at is None:
            s.messaged_at = attempt.at
        elif outcome.is_failure and s.messaged_at == attempt.at:  # undeliverable after all (a bounce)
            s.messaged_at = first_delivered(run) if workflow.patched(REACH_AND_LAPSE) else None
    if outcome is Outcome.WRONG_PARTY and attempt.phone_ref:
        wrong_party(run, attempt)
    if distress:
        attempt.distress = True
        s.flags.distress = True
        run.wake = True


def task_expiry(run: CaseRun) -> datetime:
    """An agent's call task lasts until the contact window closes that day, in the borrower's time."""
    tz = run.case.borrower.timezone
    return clock.at_local(clock.local(run.now, tz).date(), run.config.rules.contact_window.end, tz)


def dial(run: CaseRun, attempt: ContactAttempt, agent: str) -> GuardDecision:
    """The guard's word at the moment an agent dials a task: a dial allowed is the call, recorded and
    counted from now; refused, it is journalled and the agent is told why."""
    report, packs = run.s.verification, run.config.rules.packs
    if attempt.dial_by is not None and run.now >= attempt.dial_by:
        decision = GuardDecision(verdict="deny", rule="task.expired", reason="the task lapsed when the contact "
                                 "window closed", packs=packs)
    elif run.s.stage in (Stage.RELATIONSHIP, Stage.WELLBEING_HOLD) or (
            attempt.person == Person.BORROWER and (report is None or attempt.phone_ref not in report.reachable_refs
                                                   or run.s.verified_version != run.s.contact_info_version)):
        decision = GuardDecision(verdict="deny", rule="case.changed", reason="the case changed since the task was "
                                 "made (paid, under review, or new contact data): a new task follows", packs=packs)
    else:
        decision = guard(run, PlannedAction(channel=Channel.AGENT_CALL, phone_ref=attempt.phone_ref,
                                            person=attempt.person))
    if not decision.allowed:
        run.event("guard_decision", {"channel": Channel.AGENT_CALL.value, "attempt_key": attempt.key, "agent": agent,
                                     **decision.model_dump(mode="json")})
        return decision
    attempt.at, attempt.dialled = run.now, True
    run.event("agent_dial", {"attempt_key": attempt.key, "person": attempt.person.value, "phone_ref": attempt.phone_ref,
                             "agent": agent, "guard_rule": decision.rule, "packs": decision.packs})
    return decision



def check_dial(run: CaseRun, request: DialRequest) -> None:
    run.reject_if_closed()
    attempt = next((a for a in run.s.attempts if a.key == request.attempt_key), None)
    if attempt is None or attempt.dial_by is None:
        raise ValueError(f"no agent call task {request.attempt_key!r} on this case")
    if attempt.dialled:
        raise ValueError("this task was dialled already: its outcome comes by delivery_receipt")
    if attempt.outcome is not Outcome.TASK_CREATED:
        raise ValueError(f"this task has its outcome already ({attempt.outcome.value})")


async def may_dial(run: CaseRun, request: DialRequest) -> DialPermission:
    """Asked by the dialer as the agent dials: the guard answers now, not when the task was made."""
    run.recheck(lambda r: check_dial(run, r), request)
    attempt = next(a for a in run.s.attempts if a.key == request.attempt_key)
    decision = dial(run, attempt, request.agent)
    return DialPermission(allowed=decision.allowed, rule=decision.rule, reason=decision.reason,
                          until=decision.until, expires_at=attempt.dial_by)

def wrong_party(run: CaseRun, attempt: ContactAttempt) -> None:
    """A stranger answered: that number is not the borrower's and is never used again."""
    ref, flags = attempt.phone_ref, run.s.flags
    assert ref is not None
    if not workflow.patched(REACH_AND_LAPSE):  # histories recorded before: ceased like a refusal
        if ref not in flags.cease_numbers:
            flags.cease_numbers.append(ref)
            run.event("cease_contact", {"scope": "number", "number_ref": ref, "channel": None,
                                        "reason": "wrong party: the number is not the borrower's"})
    elif attempt.person == Person.BORROWER and ref not in flags.wrong_numbers:
        flags.wrong_numbers.append(ref)
        run.event("wrong_number", {"phone_ref": ref})


def first_delivered(run: CaseRun) -> datetime | None:
    """The earliest message delivered to the borrower among the attempts the case still holds."""
    return min((a.at for a in run.s.attempts if a.person == Person.BORROWER and a.outcome is Outcome.DELIVERED),
               default=None)


def own_numbers(run: CaseRun) -> list[str]:
    """The borrower's verified numbers, less those a stranger answered."""
    report = run.s.verification
    return [r for r in report.reachable_refs if r not in run.s.flags.wrong_numbers] if report else []


def borrower_unreachable(run: CaseRun) -> bool:
    report = run.s.verification
    return reachability.unreachable(verified_without_number=report is not None and not own_numbers(run),
                                    failures=run.s.consecutive_failures,
                                    limit=run.config.rules.unreachable_after_failures)


async def ask_third_parties(run: CaseRun, unchanged: tuple[object, ...]) -> None:
    """Ask each emergency contact, once, to pass on a message, or only for the borrower's whereabouts
    where a pack allows nothing more: never the debt."""
    report = run.s.verification
    location_only = run.config.rules.third_parties_location_only
    template, ask = ("location_inquiry", "for location information") if location_only else (
        "whereabouts_request", "to pass on a message")
    for phone in [p for p in report.phones if p.owner == Person.EMERGENCY_CONTACT and p.valid] if report else []:
        if phone.ref in run.s.third_parties_asked:
            continue
        result = await contact(run, Channel.SMS, template, phone.ref, step=None,
                               person=Person.EMERGENCY_CONTACT, unchanged=unchanged,
                               summary=f"Ask emergency contact {phone.index + 1} {ask}")
        if not deferred(result):
            run.s.third_parties_asked.append(phone.ref)  # sent, or refused by the guard: done


def borrower_number(run: CaseRun) -> str | None:
    """The first verified borrower number that the borrower has not refused and no stranger answered."""
    return next((r for r in own_numbers(run) if r not in run.s.flags.cease_numbers), None)


def number_for(run: CaseRun, ref: str) -> str:
    """The real number behind a ref: only here, on its way to the provider's activity (encrypted)."""
    assert run.s.verification is not None
    check = next(p for p in run.s.verification.phones if p.ref == ref)
    numbers = run.case.borrower.mobile_numbers if check.owner == Person.BORROWER else [
        c.phone for c in run.case.emergency_contacts]
    return numbers[check.index]


def borrower_email(run: CaseRun) -> str | None:
    """The borrower's e-mail address's ref, unless they refused it."""
    address = run.case.borrower.email
    ref = contacts.email_ref(run.case_id, address) if address else None
    return ref if ref is not None and ref not in run.s.flags.cease_numbers else None


def address_text(run: CaseRun) -> str:
    """The borrower's name and address, one line: a letter is addressed to them (CONC 7.9), a visit names them."""
    a = run.case.borrower.address
    return ", ".join(part for part in (run.case.borrower.name, a.line1, a.line2, a.city, a.region, a.postal_code)
                     if part)
