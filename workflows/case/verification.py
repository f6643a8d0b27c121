"""Opening, then 1. Verification: fix the case's policy and rule packs for its life and open it in the
ledger; then check the borrower's numbers and address before anyone is contacted.

Missing or invalid data is asked for once (an SMS to a number that works, or a task for the team
when none does); the case waits a while for an update, then goes on with what is usable.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

from workflows.case import contact, notices, tasks
from workflows.case.core import CaseRun

with workflow.unsafe.imports_passed_through():
    from activities.case_data import CaseDataActivities
    from activities.contracts import LoadConfigRequest, OpenCaseRequest, VerifyRequest
    from domain import clock
    from domain.enums import Channel, HardStop, Stage, TaskKind
    from domain.limitation import time_barred
    from domain.policy import shared


async def open_case(run: CaseRun) -> None:
    """Fix the policy and rule packs for the case's life (replays decide as the first run did)."""
    loan = run.case.loan
    async with run.lock:
        run.s.config = shared(await run.act(
            CaseDataActivities.load_case_config,
            LoadConfigRequest(policy=run.case.policy, country=run.case.borrower.country,
                              extra_packs=run.case.extra_rule_packs, case_id=run.case_id,
                              today=clock.local(run.now, run.case.borrower.timezone).date()),
            "Load policy and rule packs", timeout=timedelta(seconds=30),
        ))
    run.s.opened_at = run.now
    run.owe(OpenCaseRequest(
        case_id=run.case_id, workflow_id=workflow.info().workflow_id, policy=run.config.policy.name,
        rule_packs=run.config.rules.packs, country=run.case.borrower.country, currency=loan.currency,
        principal=loan.principal, balance=run.s.balance, stage=run.s.stage.value, opened_at=run.now,
        strategy_arm=run.config.arm))
    run.event("case_opened", {"policy": f"{run.config.policy.name}@{run.config.policy.version}",
                              **({"arm": run.config.arm} if run.config.arm else {}),
                              **({"model": run.config.model} if run.config.model else {}),
                              "rules": run.config.rules.model_dump(mode="json"),
                              "timezone": run.case.borrower.timezone, "days_past_due": loan.days_past_due,
                              "balance": str(run.s.balance),
                              "handoff": run.config.policy.handoff.model_dump(mode="json"),
                              "instalments": loan.instalments.model_dump(mode="json") if loan.instalments else None})
    today = clock.local(run.now, run.case.borrower.timezone).date()
    years = run.config.rules.limitation_years
    if time_barred(loan.due_date, today, years):  # as the packs count it, from the first missed due date
        run.s.flags.hard_stops.append(HardStop.TIME_BARRED)
        run.event("hard_stop_recorded", {"kind": HardStop.TIME_BARRED.value, "by": "rule packs",
                                         "evidence": f"due {loan.due_date}; limitation period {years} years"})


async def verify(run: CaseRun) -> None:
    """Verify the contact data as it is now (again after every update of it)."""
    async with run.lock:
        version = run.s.contact_info_version  # what is verified: data changed meanwhile is verified again
        report = await run.act(CaseDataActivities.verify_contact_data, VerifyRequest(
            case_id=run.case_id, borrower=run.case.borrower, emergency_contacts=run.case.emergency_contacts,
        ), "Verify phone numbers and address")
    run.s.verification, run.s.verified_version = report, version
    run.s.flags.robot_consent = [p.ref for p in report.phones if p.robot_consent]
    run.event("contact_data_verified", {
        "missing": report.missing, "address_complete": report.address_complete,
        "phones": [p.model_dump(mode="json") for p in report.phones]})


async def step(run: CaseRun) -> datetime | None:
    s = run.s
    if s.verification is None:
        await verify(run)
    assert s.verification is not None
    if s.verification.complete:
        return run.to_stage(Stage.ASSESSMENT, "contact data verified")
    if s.verification_deadline is not None and run.now >= s.verification_deadline:
        return run.to_stage(Stage.ASSESSMENT, "no update within the wait: proceed with what is usable")
    if not s.verification_asked:
        refs = s.verification.reachable_refs
        if refs:
            if notices.first_message_goes_with_validation(run):  # 1006.34: with the first communication
                wait = await notices.send(run, "validation")
                if wait is not None:
                    return wait
            result = await contact.contact(run, Channel.SMS, "verify_update", refs[0], step=None,
                                           unchanged=run.moment())
            deferral = contact.deferred(result)
            if deferral:
                return run.plan_next("Ask the borrower to update contact data", deferral.until)
        else:
            run.event("contact_data_task", {"missing": s.verification.missing,
                                            "task": "obtain contact data through lawful channels"})
            if s.desk is not None:  # a work item with an owner and a deadline, not only a journal line
                tasks.make(run, TaskKind.CONTACT_DATA, "collections",
                           run.now + run.config.policy.desk.contact_data_within,
                           "obtain contact data through lawful channels: " + ", ".join(s.verification.missing))
        s.verification_asked = True
        s.verification_deadline = run.now + run.config.policy.verification.update_wait
    return run.plan_next("Wait for updated contact data", s.verification_deadline)
