"""What protects the borrower: disputes, capacity holds, moratoria (breathing space), recorded
vulnerability, complaints, requests to stop contact, refusals by third parties, and the providers'
delivery receipts. Holds stop all contact until lifted; the guard reads them before every action.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.workflow import ParentClosePolicy

from workflows.case import bookkeeping, contact, money, tasks
from workflows.case.core import COMPLAINT_AFTER_CASE_FACTS, VULNERABILITY_LASTS, CaseRun
from workflows.complaint import Complaint

with workflow.unsafe.imports_passed_through():
    from activities.contracts import ReceiptRecord
    from domain import contacts
    from domain.enums import CeaseScope, HandOff, HardStop, HoldKind, Stage
    from domain.messages import (
        CapacityHoldRequest,
        CeaseContact,
        ComplaintClosed,
        ComplaintInput,
        ComplaintRequest,
        ContactPreferences,
        CrisisTreatmentEnd,
        DeliveryReceipt,
        DisputeRequest,
        DisputeResolution,
        HardStopReport,
        MoratoriumRequest,
        PauseRequest,
        ThirdPartyRefusal,
        UpdateResult,
        VulnerabilityReport,
    )
    from domain.moratorium import after_crisis_treatment, moratorium_until
    from domain.state import Vulnerability


# --- disputes --------------------------------------------------------------------------------

def check_dispute(run: CaseRun, dispute: DisputeRequest) -> None:
    run.reject_if_closed()
    if run.s.flags.hold(HoldKind.DISPUTE):
        raise ValueError("a dispute is already open")


async def open_dispute(run: CaseRun, dispute: DisputeRequest) -> UpdateResult:
    run.recheck(lambda d: check_dispute(run, d), dispute)
    run.start_hold(HoldKind.DISPUTE, dispute.reason)
    run.event("dispute_opened", dispute.model_dump())
    return run.result("dispute opened: collection paused until it is verified")


def check_resolution(run: CaseRun, resolution: DisputeResolution, validating: bool = True) -> None:
    run.reject_if_closed()
    if not run.s.flags.hold(HoldKind.DISPUTE):
        raise ValueError("no dispute is open")
    if resolution.corrected_balance is not None and validating:
        run.exact(resolution.corrected_balance, "corrected_balance")


async def resolve_dispute(run: CaseRun, resolution: DisputeResolution) -> UpdateResult:
    run.recheck(lambda r: check_resolution(run, r, validating=False), resolution)
    run.event("dispute_resolved", resolution.model_dump(mode="json"))
    if resolution.upheld:
        run.finish(Stage.WITHDRAWN, None, f"dispute upheld: {resolution.note}")
        return run.result("dispute upheld: the case is withdrawn")
    if resolution.corrected_balance is not None and run.s.books is not None:
        money.correct(run, run.exact(resolution.corrected_balance, "corrected_balance", refuse=False),
                      "dispute resolved")
    elif resolution.corrected_balance is not None:
        run.s.balance = run.exact(resolution.corrected_balance, "corrected_balance", refuse=False)
    run.end_hold(HoldKind.DISPUTE, "debt verified")
    return run.result(f"debt verified; balance {run.s.balance}: collection resumes")


# --- holds -----------------------------------------------------------------------------------

async def set_capacity_hold(run: CaseRun, request: CapacityHoldRequest) -> UpdateResult:
    if request.on:
        run.start_hold(HoldKind.CAPACITY, request.reason)
    else:
        run.end_hold(HoldKind.CAPACITY, request.reason)
    return run.result(f"capacity hold {'on' if request.on else 'off'}")


def check_moratorium(run: CaseRun, request: MoratoriumRequest) -> None:
    run.reject_if_closed()
    if run.s.config is None or run.config.rules.moratorium is None:
        raise ValueError("no moratorium scheme applies under this case's rule packs")


async def start_moratorium(run: CaseRun, request: MoratoriumRequest) -> UpdateResult:
    run.recheck(lambda r: check_moratorium(run, r), request)
    scheme = run.config.rules.moratorium
    assert scheme is not None
    until = moratorium_until(request.kind, run.now, scheme)
    run.start_hold(HoldKind.MORATORIUM, f"{request.kind} moratorium {request.reference}", until,
                         request.reference)
    run.event("moratorium_started", {"kind": request.kind, "reference": request.reference,
                                           "interest_and_fees": "frozen"})
    return run.result(f"moratorium {request.reference}: no contact, interest and fees frozen")


def check_crisis_end(run: CaseRun, end: CrisisTreatmentEnd) -> None:
    run.reject_if_closed()
    hold = run.s.flags.hold(HoldKind.MORATORIUM)
    if hold is None or hold.until is not None:
        raise ValueError("no open-ended (mental health crisis) moratorium on this case")


async def end_crisis_treatment(run: CaseRun, end: CrisisTreatmentEnd) -> UpdateResult:
    run.recheck(lambda e: check_crisis_end(run, e), end)
    hold, scheme = run.s.flags.hold(HoldKind.MORATORIUM), run.config.rules.moratorium
    assert hold is not None and scheme is not None
    hold.until = after_crisis_treatment(end.ended_on, run.case.borrower.timezone, scheme)
    run.wake = True
    run.event("moratorium_ends", {"until": hold.until.isoformat(), "reference": hold.ref})
    return run.result(f"moratorium ends {hold.until:%Y-%m-%d}")


async def pause(run: CaseRun, request: PauseRequest) -> None:
    run.start_hold(HoldKind.PAUSE, f"{request.reason} ({request.by})")


async def resume(run: CaseRun, request: PauseRequest) -> None:
    run.end_hold(HoldKind.PAUSE, f"{request.reason} ({request.by})")


# --- vulnerability and complaints ------------------------------------------------------------

async def record_vulnerability(run: CaseRun, report: VulnerabilityReport) -> UpdateResult:
    run.s.vulnerability = Vulnerability(
        driver=report.driver if report.consent_to_record else None, source=report.source,
        recorded_at=run.now, review_due=run.now + run.config.policy.wellbeing.review_within)
    run.s.flags.vulnerable = True
    lasting = workflow.patched(VULNERABILITY_LASTS)  # lasting, whatever a review decides
    run.s.flags.vulnerability_on_record = run.s.flags.vulnerability_on_record or lasting
    run.wake = True
    run.event("vulnerability_recorded", {
        "driver": report.driver.value if report.consent_to_record else "withheld (no consent)",
        "source": report.source, "lasting": lasting})
    return run.result("vulnerability recorded: contact stops until a trained person reviews")


async def open_complaint(run: CaseRun, request: ComplaintRequest) -> UpdateResult:
    """A complaint runs as its own child workflow (SLA timers); contact is held while it is open."""
    s, policy = run.s, run.config.policy.complaints
    s.complaints_opened += 1
    complaint_id = f"complaint-{run.case_id}-{s.complaints_opened}"
    hold_first = workflow.patched(COMPLAINT_AFTER_CASE_FACTS)
    if hold_first and policy.pause_contact:  # before anything is awaited: no contact from here on
        run.start_hold(HoldKind.COMPLAINT, f"complaint {complaint_id} under review", ref=complaint_id)
    if hold_first:
        await bookkeeping.write(run)  # the case's journal has what came before the complaint's first entry
    await workflow.start_child_workflow(
        Complaint.run, ComplaintInput(
            case_id=run.case_id, complaint_id=complaint_id, request=request,
            acknowledge_within=policy.acknowledge_within, resolve_within=policy.resolve_within,
            currency=run.case.loan.currency),
        id=complaint_id, parent_close_policy=ParentClosePolicy.ABANDON,
        static_summary=f"Complaint ({request.category}) on case {run.case_id}")
    if not hold_first and policy.pause_contact:
        run.start_hold(HoldKind.COMPLAINT, f"complaint {complaint_id} under review", ref=complaint_id)
    if s.desk is not None and request.category == "conduct" and request.staff_id:
        await tasks.investigate(run, complaint_id, request.staff_id)
    return run.result(f"complaint {complaint_id} opened", complaint_id)


async def complaint_closed(run: CaseRun, closed: ComplaintClosed) -> None:
    hold = run.s.flags.hold(HoldKind.COMPLAINT)
    if hold is not None and hold.ref == closed.complaint_id:
        run.end_hold(HoldKind.COMPLAINT, "complaint resolved")
    run.event("complaint_closed", closed.model_dump(mode="json"))


# --- who may be contacted --------------------------------------------------------------------

async def cease_contact(run: CaseRun, request: CeaseContact) -> None:
    flags = run.s.flags
    if request.scope is CeaseScope.ALL:
        flags.cease_all = True
    elif request.scope is CeaseScope.CHANNEL and request.channel not in flags.cease_channels:
        assert request.channel is not None
        flags.cease_channels.append(request.channel)
    elif request.scope is CeaseScope.NUMBER:
        assert request.number is not None
        flags.cease_numbers.append(contacts.phone_ref(run.case_id, request.number, run.case.borrower.country))
    if run.s.stage is Stage.RELATIONSHIP:
        flags.relationship_opt_out = True
    run.wake = True
    run.event("cease_contact", {"scope": request.scope.value, "channel": request.channel,
                                      "number_ref": flags.cease_numbers[-1] if request.number else None,
                                      "reason": request.reason})


async def third_party_refused(run: CaseRun, request: ThirdPartyRefusal) -> None:
    """An emergency contact asked not to be contacted again: never again, on any channel."""
    ref = contacts.phone_ref(run.case_id, request.number, run.case.borrower.country)
    if ref not in run.s.flags.third_parties_refused:
        run.s.flags.third_parties_refused.append(ref)
    run.event("third_party_refused", {"phone_ref": ref})


async def delivery_receipt(run: CaseRun, receipt: DeliveryReceipt) -> None:
    """A provider's later word on an attempt (delivered, answered, distress heard on the call)."""
    attempt = next((a for a in run.s.attempts if a.key == receipt.attempt_key), None)
    if attempt is None:
        workflow.logger.warning("receipt for an unknown attempt", extra={"attempt_key": receipt.attempt_key})
        return
    contact.apply_outcome(run, attempt, receipt.outcome, receipt.distress)
    run.owe(ReceiptRecord(case_id=run.case_id, key=receipt.attempt_key, outcome=receipt.outcome,
                          distress=receipt.distress, at=run.now))


def check_hard_stop(run: CaseRun, report: HardStopReport) -> None:
    run.reject_if_closed()
    if report.kind in run.s.flags.hard_stops:
        raise ValueError(f"hard stop {report.kind.value} is already on record")


async def record_hard_stop(run: CaseRun, report: HardStopReport) -> UpdateResult:
    """Sticky, with its evidence. Bankruptcy and death end the case with a specialist team (the loop
    does it at once); a represented borrower is dealt with by a person, through the attorney."""
    run.recheck(lambda r: check_hard_stop(run, r), report)
    run.s.flags.hard_stops.append(report.kind)
    run.wake = True
    run.event("hard_stop_recorded", {"kind": report.kind.value, "evidence": report.evidence,
                                     "by": report.recorded_by})
    if report.kind is HardStop.ATTORNEY:
        run.hand_off(HandOff.SUPERVISOR, "the borrower is represented: deal only with the attorney")
    return run.result(f"hard stop recorded: {report.kind.value}")


def end_for_hard_stop(run: CaseRun) -> bool:
    """Bankruptcy or death: collection ends; a specialist team takes the case (a proof of claim, the estate)."""
    for stop in (HardStop.DECEASED, HardStop.BANKRUPTCY):
        if stop in run.s.flags.hard_stops:
            run.finish(Stage.REFERRED, HandOff.INSOLVENCY_AND_ESTATES, f"hard stop: {stop.value}")
            return True
    return False


def check_preferences(run: CaseRun, prefs: ContactPreferences) -> None:
    run.reject_if_closed()
    lawful = run.config.rules.contact_window
    if prefs.window and (prefs.window.end <= lawful.start or prefs.window.start >= lawful.end):
        raise ValueError(f"{prefs.window.start:%H:%M}-{prefs.window.end:%H:%M} is outside the lawful "
                         f"{lawful.start:%H:%M}-{lawful.end:%H:%M}: ask for hours within it")


async def set_contact_preferences(run: CaseRun, prefs: ContactPreferences) -> UpdateResult:
    """The borrower's own times, days, places, medium and language replace any given before; the packs'
    rules still hold."""
    run.recheck(lambda p: check_preferences(run, p), prefs)
    flags = run.s.flags
    flags.borrower_window, flags.borrower_quiet_weekdays = prefs.window, prefs.quiet_weekdays
    flags.borrower_medium, flags.borrower_no_home_visits = prefs.medium, prefs.no_home_visits
    run.s.locale = prefs.locale
    run.wake = True
    run.event("contact_preferences", {"window": prefs.window.model_dump(mode="json") if prefs.window else None,
                                      "quiet_weekdays": prefs.quiet_weekdays, "locale": prefs.locale,
                                      "medium": prefs.medium, "no_home_visits": prefs.no_home_visits,
                                      "reason": prefs.reason, "by": prefs.recorded_by})
    return run.result("contact preferences recorded")
