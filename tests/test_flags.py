"""Sticky flags and their flows through the real workflow: dispute, capacity, moratorium,
vulnerability, complaints (a child workflow with SLA timers), third-party refusal."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from adapters.ledger import Ledger
from domain.enums import Stage
from domain.messages import (
    CapacityHoldRequest,
    CeaseContact,
    ComplaintAcknowledgement,
    ComplaintRequest,
    ComplaintResolution,
    CrisisTreatmentEnd,
    DisputeRequest,
    DisputeResolution,
    HardStopReport,
    MoratoriumRequest,
    ThirdPartyRefusal,
    VulnerabilityReport,
)
from tests import factories
from tests.test_lifecycle import decide
from workflows.case import OverdueCase
from workflows.complaint import Complaint


def sent(status) -> int:
    return sum(status.contact_counts.get(c, 0) for c in ("sms", "robot_call", "agent_call", "visit"))


async def first_contact(cases, **kw):
    handle = await cases.start(**kw)
    status = await cases.until(handle, lambda s: sent(s) >= 1, what="first contact")
    return handle, status


async def test_a_dispute_holds_collection_until_verified_then_resumes(cases):
    handle, before = await first_contact(cases)
    await handle.execute_update(OverdueCase.open_dispute, DisputeRequest(reason="I never took this loan"))
    await cases.env.sleep(timedelta(days=30))
    held = await cases.status(handle)
    assert sent(held) == sent(before) and "dispute" in held.flags and held.stage is Stage.REMOTE_CONTACT
    await handle.execute_update(OverdueCase.resolve_dispute, DisputeResolution(
        upheld=False, corrected_balance=Decimal("2500.00"), note="contract and transfer verified",
        decided_by="legal-1"))
    resumed = await cases.until(handle, lambda s: sent(s) > sent(before), what="contact after verification")
    assert resumed.balance == Decimal("2500.00") and "dispute" not in resumed.flags


async def test_an_upheld_dispute_withdraws_the_case(cases):
    handle, _ = await first_contact(cases)
    await handle.execute_update(OverdueCase.open_dispute, DisputeRequest(reason="paid in 2025"))
    await handle.execute_update(OverdueCase.resolve_dispute, DisputeResolution(
        upheld=True, note="payment found in the old system", decided_by="legal-1"))
    outcome = await handle.result()
    assert outcome.stage is Stage.WITHDRAWN and "dispute upheld" in outcome.reason


async def test_a_capacity_hold_suspends_recovery_until_lifted(cases):
    handle, before = await first_contact(cases)
    await handle.execute_update(OverdueCase.set_capacity_hold, CapacityHoldRequest(
        on=True, reason="family reports dementia diagnosis", by="agent-3"))
    await cases.env.sleep(timedelta(days=20))
    assert sent(await cases.status(handle)) == sent(before)
    await handle.execute_update(OverdueCase.set_capacity_hold, CapacityHoldRequest(
        on=False, reason="capacity assessed", by="specialist-1"))
    await cases.until(handle, lambda s: sent(s) > sent(before), what="contact after the hold")


async def test_breathing_space_stops_contact_for_sixty_days_under_uk_rules(cases):
    handle, before = await first_contact(cases, country="GB", timezone="Europe/London",
                                         mobile="+447400123450")
    await handle.execute_update(OverdueCase.start_moratorium, MoratoriumRequest(kind="standard", reference="BS-1"))
    held = await cases.status(handle)
    assert "moratorium" in held.flags
    await cases.env.sleep(timedelta(days=59))
    assert sent(await cases.status(handle)) == sent(before)
    after = await cases.until(handle, lambda s: sent(s) > sent(before), what="contact after 60 days")
    assert "moratorium" not in after.flags


async def test_a_crisis_moratorium_ends_thirty_days_after_treatment(cases):
    handle, before = await first_contact(cases, country="GB", timezone="Europe/London", mobile="+447400123450")
    await handle.execute_update(OverdueCase.start_moratorium, MoratoriumRequest(
        kind="mental_health_crisis", reference="MHC-7"))
    await cases.env.sleep(timedelta(days=120))
    assert sent(await cases.status(handle)) == sent(before)
    now = await cases.env.get_current_time()
    result = await handle.execute_update(OverdueCase.end_crisis_treatment, CrisisTreatmentEnd(ended_on=now.date()))
    assert "moratorium ends" in result.message
    await cases.env.sleep(timedelta(days=29))
    assert sent(await cases.status(handle)) == sent(before)
    await cases.until(handle, lambda s: sent(s) > sent(before), what="contact after treatment + 30 days")


async def test_no_moratorium_where_the_rule_packs_have_no_scheme(cases):
    handle, _ = await first_contact(cases)
    await factories.rejected(handle.execute_update(OverdueCase.start_moratorium, MoratoriumRequest(
        kind="standard", reference="X")), "no moratorium scheme")


async def test_vulnerability_stops_contact_until_a_person_reviews_and_keeps_no_driver_without_consent(cases):
    handle, before = await first_contact(cases)
    await handle.execute_update(OverdueCase.record_vulnerability, VulnerabilityReport(
        driver="health", source="agent", consent_to_record=False))
    held = await cases.stage(handle, Stage.WELLBEING_HOLD)
    assert held.vulnerability.driver is None and held.pending_approvals[0].kind.value == "vulnerability_review"
    await cases.env.sleep(timedelta(days=10))
    assert sent(await cases.status(handle)) == sent(before)
    await decide(handle, approve=True)
    resumed = await cases.until(handle, lambda s: sent(s) > sent(before), what="contact after review")
    assert resumed.segment.value == "hardship"
    journal = (await Ledger(cases.engine).open_journal(held.case_id))[held.case_id]  # sealed: opened with its key
    [recorded] = [e for e in journal if e.kind == "vulnerability_recorded"]
    assert recorded.data["driver"] == "withheld (no consent)"
    raw = await cases.rows("SELECT data FROM case_events WHERE case_id = :c AND kind = 'vulnerability_recorded'",
                           c=held.case_id)
    assert "$sealed" in raw[0]["data"]["driver"]  # in the table, only its ciphertext
    # The vulnerability lasts after the review: the soft path's end brings no visit, and no robot calls
    outcome = await handle.result()
    assert outcome.stage is Stage.REFERRED and "hardship team" in outcome.reason
    after = await cases.rows("SELECT channel FROM contact_attempts WHERE case_id = :c AND planned_at > :t",
                             c=held.case_id, t=recorded.at)
    assert after and not {r["channel"] for r in after} & {"visit", "robot_call"}, after


async def test_a_complaint_holds_contact_escalates_missed_slas_and_records_its_resolution(cases):
    handle, before = await first_contact(cases)
    result = await handle.execute_update(OverdueCase.open_complaint, ComplaintRequest(
        category="contact", details="called me at work"))
    complaint = cases.client.get_workflow_handle_for(Complaint.run, result.ref)
    assert "complaint" in (await cases.status(handle)).flags
    await cases.env.sleep(timedelta(days=3))  # acknowledgement SLA (2 days) missed
    await complaint.execute_update(Complaint.acknowledge, ComplaintAcknowledgement(by="care-1"))
    await cases.env.sleep(timedelta(days=13))  # resolution SLA (15 days) missed
    assert sent(await cases.status(handle)) == sent(before)
    await complaint.execute_update(Complaint.resolve, ComplaintResolution(
        upheld=True, explanation="agent called a workplace number; coaching given", compensation=Decimal("50.00"),
        by="care-lead"))
    closed = await complaint.result()
    assert closed.acknowledged_late and closed.resolved_late and closed.compensation == Decimal("50.00")
    await cases.until(handle, lambda s: "complaint" not in s.flags and sent(s) > sent(before), what="resumed")
    kinds = [r["kind"] for r in await cases.rows(
        "SELECT kind FROM case_events WHERE case_id = :c AND kind LIKE 'complaint%' ORDER BY seq", c=before.case_id)]
    assert kinds == ["complaint_opened", "complaint_acknowledged", "complaint_resolved", "complaint_closed"]
    escalations = await cases.rows("SELECT reason FROM escalations WHERE case_id = :c ORDER BY id", c=before.case_id)
    assert [e["reason"].split(": ")[1] for e in escalations] == ["acknowledge SLA missed", "resolve SLA missed"]


async def test_an_emergency_contact_who_refuses_is_never_contacted_again(cases):
    handle = await cases.start(profile="high_risk", mobile=factories.UNREACHABLE,
                               emergency_contacts=[{"name": "A", "relation": "friend", "phone": factories.EMERGENCY},
                                                   {"name": "B", "relation": "sibling", "phone": "+8613900139051"}])
    await handle.signal(OverdueCase.third_party_refused, ThirdPartyRefusal(number="+8613900139051"))
    status = await cases.stage(handle, Stage.FIELD_VISIT)
    rows = await cases.rows("SELECT phone_ref FROM contact_attempts WHERE case_id = :c AND person = "
                            "'emergency_contact'", c=status.case_id)
    assert len(rows) == 1
    denied = await cases.rows("SELECT data FROM case_events WHERE case_id = :c AND kind = 'guard_decision' "
                              "AND data->>'rule' = 'third_party.refused'", c=status.case_id)
    assert len(denied) == 1


async def test_a_borrower_who_refuses_their_number_is_not_unreachable_so_no_third_party_is_asked(cases):
    """Found by the random timelines: ceasing the only number must not open the way to emergency contacts."""
    handle, status = await first_contact(cases, profile="high_risk")
    await handle.signal(OverdueCase.cease_contact, CeaseContact(scope="number", number=factories.ANSWERS))
    await cases.until(handle, lambda s: s.stage is not Stage.REMOTE_CONTACT, what="path end")
    rows = await cases.rows("SELECT count(*) AS n FROM contact_attempts WHERE case_id = :c AND "
                            "person = 'emergency_contact'", c=status.case_id)
    assert rows[0]["n"] == 0


@pytest.mark.parametrize("kind", ["bankruptcy", "deceased"])
async def test_bankruptcy_or_death_ends_collection_with_the_specialist_team(cases, kind):
    handle, before = await first_contact(cases)
    await handle.execute_update(OverdueCase.record_hard_stop, HardStopReport(
        kind=kind, evidence="filing 26-10432", recorded_by="legal-1"))
    outcome = await handle.result()
    assert outcome.stage is Stage.REFERRED and kind in outcome.reason
    rows = await cases.rows("SELECT kind FROM escalations WHERE case_id = :c", c=outcome.case_id)
    assert [r["kind"] for r in rows] == ["insolvency_and_estates"]
    assert len(await cases.rows("SELECT 1 FROM contact_attempts WHERE case_id = :c", c=outcome.case_id)) == sent(before)


async def test_a_represented_borrower_gets_no_automated_contact_and_a_supervisor_is_told(cases):
    handle, before = await first_contact(cases, mobile=factories.TALKS)
    await handle.execute_update(OverdueCase.record_hard_stop, HardStopReport(
        kind="attorney", evidence="letter of representation, 2026-11-28", recorded_by="ops-1"))
    await factories.rejected(handle.execute_update(OverdueCase.record_hard_stop, HardStopReport(
        kind="attorney", evidence="again", recorded_by="ops-1")), "already on record")
    await cases.env.sleep(timedelta(days=30))
    status = await cases.status(handle)
    assert sent(status) == sent(before) and "hard_stop" in status.flags  # which one: not in a search attribute
    rows = await cases.rows("SELECT kind FROM escalations WHERE case_id = :c", c=status.case_id)
    assert [r["kind"] for r in rows] == ["supervisor"]


async def test_a_time_barred_debt_is_never_handed_to_legal(cases):
    handle = await cases.start(mobile=factories.TALKS, days_past_due=3 * 365 + 30)  # cn: barred after 3 years
    outcome = await handle.result()  # reached, past every floor, but a suit is out of the question
    assert outcome.stage is Stage.REFERRED and "time-barred" in outcome.reason
    rows = await cases.rows("SELECT kind FROM escalations WHERE case_id = :c", c=outcome.case_id)
    assert [r["kind"] for r in rows] == ["supervisor"]
    barred = await cases.rows("SELECT data FROM case_events WHERE case_id = :c AND kind = 'hard_stop_recorded'",
                              c=outcome.case_id)
    assert [b["data"]["kind"] for b in barred] == ["time_barred"]
