"""4. Field visit: when remote contact has failed, a supervisor-approved visit by at least the rule
packs' number of collectors, after a notice period, with an outcome reported by a deadline (a missed
deadline goes to the supervisor). Whether a visit is possible at all is `domain.visits`."""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

from workflows.case import contact, escalation, money, notices, tasks
from workflows.case.core import CaseRun

with workflow.unsafe.imports_passed_through():
    from activities.contracts import VisitRecord
    from domain.enums import ApprovalKind, Channel, DelinquencyReason, HandOff, Stage, TaskKind, VisitStatus
    from domain.guard import PlannedAction
    from domain.state import Visit
    from domain.visits import visit_possible


async def enter(run: CaseRun) -> datetime | None:
    """The treatment's remote path is done and nothing resolved it: visit, hand-off or referral."""
    s, policy = run.s, run.config.policy
    possible = visit_possible(
        treatment_allows=run.treatment.field_visit, already_visited=s.visit is not None,
        balance=money.balance_today(run),
        min_balance=policy.visit.min_balance,
        address_complete=s.verification is not None and s.verification.address_complete,
        cease_all=s.flags.cease_all, ceased_channels=s.flags.cease_channels,
        vulnerability_on_record=s.flags.vulnerability_on_record,
        borrower_declines=s.flags.borrower_no_home_visits or s.flags.borrower_medium is not None)
    if not possible:
        return await escalation.end_of_path(run, "remote contact path exhausted")
    visit_id = run.key("visit")
    s.visit = Visit(visit_id=visit_id, status=VisitStatus.AWAITING_APPROVAL)
    run.ask_approval(ApprovalKind.VISIT, visit_id,
                           f"Field visit: {money.balance_today(run)} {run.case.loan.currency} unpaid after "
                           "remote contact")
    run.owe(VisitRecord(case_id=run.case_id, visit_id=visit_id, status=VisitStatus.AWAITING_APPROVAL))
    return run.to_stage(Stage.FIELD_VISIT, "remote contact failed")


async def step(run: CaseRun) -> datetime | None:
    s, visit = run.s, run.s.visit
    assert visit is not None
    match visit.status:
        case VisitStatus.AWAITING_APPROVAL:
            return run.plan_next("Wait for visit approval", None)
        case VisitStatus.REJECTED:
            return await escalation.end_of_path(run, "field visit not approved")
        case VisitStatus.UNSTAFFED:
            return await escalation.end_of_path(run, "no trained collectors of the borrower's region")
        case VisitStatus.APPROVED:
            if notices.due(run, "visit"):  # in writing, its purpose and date, before an initial visit
                refused = contact.guard(run, PlannedAction(channel=Channel.VISIT))
                if refused.verdict == "deny":  # no notice of a visit that will never be made
                    if run.first_refusal("visit", refused.rule):
                        contact.record_guard(run, refused, Channel.VISIT)
                    return await escalation.end_of_path(run, f"field visit denied: {refused.reason}")
                wait = await notices.send(run, "visit")
                if wait is not None:
                    return wait
                s.next_step_at = notices.visit_from(run)  # not before the date the notice gives
            if s.next_step_at and run.now < s.next_step_at:
                return run.plan_next("Field visit (notice period)", s.next_step_at)
            if s.desk is not None and not visit.collectors:  # only collectors of the region, trained, named
                found = await tasks.collectors_for_visit(run)
                if found is None:
                    visit.unstaffed_since = visit.unstaffed_since or run.now
                    if run.now - visit.unstaffed_since < run.config.policy.desk.collectors_wait_max:
                        return run.plan_next("Field visit: waiting for trained collectors of the region",
                                             run.now + run.config.policy.desk.collectors_retry)
                    visit.status = VisitStatus.UNSTAFFED  # given up for good: a person decides what follows
                    tasks.close(run, TaskKind.COLLECTORS, "the visit is given up")
                    run.owe(VisitRecord(case_id=run.case_id, visit_id=visit.visit_id, status=visit.status))
                    return await escalation.end_of_path(run, "no trained collectors of the borrower's region")
                visit.collectors = found
                run.event("collectors_chosen", {"visit_id": visit.visit_id, "collectors": found,
                                                "training": run.config.policy.desk.collector_training})
            async with run.lock:  # the guard's word and the dispatch, with nothing in between
                decision = contact.guard(run, PlannedAction(channel=Channel.VISIT))
                if decision.allowed:
                    named = f": {', '.join(visit.collectors)}" if visit.collectors else ""
                    await contact.send(run, Channel.VISIT, "visit_brief", None, contact.address_text(run), None,
                                       decision, f"Dispatch {run.config.rules.min_visit_collectors} collectors{named}",
                                       extra=brief(run))
            if not decision.allowed:
                contact.record_guard(run, decision, Channel.VISIT)
                if decision.verdict == "deny":
                    return await escalation.end_of_path(run, f"field visit denied: {decision.reason}")
                return run.plan_next(f"Field visit ({decision.reason})", decision.until)
            visit.status = VisitStatus.DISPATCHED
            visit.outcome_deadline = run.now + run.config.policy.visit.outcome_deadline
            run.owe(VisitRecord(case_id=run.case_id, visit_id=visit.visit_id, status=VisitStatus.DISPATCHED,
                                collectors=visit.collectors or None))
            return run.plan_next("Wait for the visit outcome", visit.outcome_deadline)
        case VisitStatus.DISPATCHED:
            if visit.outcome_deadline and run.now >= visit.outcome_deadline:
                visit.status = VisitStatus.OVERDUE
                run.hand_off(HandOff.SUPERVISOR, "visit outcome not reported by its deadline")
            return run.plan_next("Wait for the visit outcome",
                                 visit.outcome_deadline if visit.status is VisitStatus.DISPATCHED else None)
        case VisitStatus.OVERDUE:
            return run.plan_next("Visit outcome overdue: supervisor alerted", None)
        case VisitStatus.REPORTED:
            result = visit.result.value if visit.result else "no result"
            return await escalation.end_of_path(run, f"field visit: {result}")
    return None


def brief(run: CaseRun) -> dict[str, str]:
    """What the collectors are told of the borrower beyond the address: the profile, no more personal
    data than a visit needs (codes and counts; never the notes of earlier calls)."""
    s = run.s
    profile = s.desk.profile if s.desk is not None else None
    parts = [f"segment {s.assessment.segment.value.replace('_', ' ')}" if s.assessment else "not assessed",
             f"language {s.locale or run.case.borrower.locale}"]
    if profile is not None and profile.reason is DelinquencyReason.ILLNESS:  # health: special-category data
        parts.append("a sensitive reason was given: do not ask about it")
    elif profile is not None and profile.reason is not None:
        parts.append(f"said to be late because of {profile.reason.value.replace('_', ' ')}")
    if profile is not None:
        parts.append(f"{profile.right_party_contacts} conversations, {profile.refusals} refusals")
    if s.promises_broken:
        parts.append(f"{s.promises_broken} promises broken")
    if s.flags.vulnerability_on_record or s.flags.hardship:
        parts.append("take particular care: hardship or a vulnerability is on record")
    return {"collectors": ", ".join(s.visit.collectors) if s.visit else "", "profile": "; ".join(parts)}
