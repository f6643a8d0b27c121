"""What a case owes its ledger, and how it pays: facts gathered while a step runs (`CaseRun.owe`) ride
with the step's own work (a contact or a payment writes them in its transaction); what is left is
written once at the end of the step (`flush`). The case row goes with every write, carrying the
`status` as it stands, so a read never has to wait on the worker."""

from __future__ import annotations

from temporalio import workflow

from workflows.case import money, presentation
from workflows.case.core import CaseRun

with workflow.unsafe.imports_passed_through():
    from activities.contracts import CaseUpdate, EventRecord, LedgerFact, StepRecord
    from activities.ledger import LedgerActivities
    from domain import statement as statements


def case_row(run: CaseRun) -> CaseUpdate:
    s, closed = run.s, run.s.stage.terminal
    return CaseUpdate(
        case_id=run.case_id, stage=s.stage.value, balance=money.balance_today(run),
        segment=s.assessment.segment.value if s.assessment else None,
        closed_at=run.now if closed else None, outcome_reason=s.outcome_reason if closed else None,
        next_action_at=s.next_action.at if s.next_action and not closed else None,
        # the statement's repeats of its books are drawn again when read (`domain.statement.again`)
        status=presentation.status(run, with_script=False).model_dump(  # a script is drawn when read, not written
            mode="json", exclude={"statement": statements.SNAPSHOT_LEAVES_OUT}))


def take(run: CaseRun) -> list[LedgerFact]:
    """Everything owed so far and the case row as it stands; the caller writes them (under the lock)."""
    facts: list[LedgerFact] = [*run.owed, case_row(run)]
    run.owed = []
    return facts


async def flush(run: CaseRun) -> None:
    """The step's facts that no contact or payment carried: one ledger write, if anything is owed."""
    async with run.lock:
        run.stepping = False  # from here, what a handler owes wakes the loop for another write
        await write(run)


async def settle(run: CaseRun) -> None:
    """Before the run ends (closed, or continued as new): every handler done and every fact written,
    with nothing awaited between the last check and the end, so no message is lost."""
    while True:
        await flush(run)
        await workflow.wait_condition(workflow.all_handlers_finished)
        if not run.owed:
            return


async def write(run: CaseRun) -> None:
    """Write what is owed now, if anything (the caller holds the case lock)."""
    if run.owed:
        facts = take(run)
        await run.act(LedgerActivities.record_step, StepRecord(case_id=run.case_id, facts=facts), describe(facts))


LABELS = {"case_opened": "case opened", "contact_data_verified": "contact data verified", "assessed": "assessed",
          "guard_decision": "guard said not now", "approval_requested": "approval asked",
          "approval_decided": "approval decided", "hold_started": "hold", "hold_ended": "hold lifted",
          "handed_off": "handed off", "paid_in_full": "paid in full", "step_skipped": "step skipped",
          "hardship_reported": "hardship reported", "wellbeing_referral": "crisis-line referral"}


def describe(facts: list[LedgerFact]) -> str:
    """The step as the Web UI's timeline shows it: what happened to the borrower's case."""
    parts: list[str] = []
    for fact in facts:
        if not isinstance(fact, EventRecord):
            continue
        if fact.kind == "stage_changed":
            label = f"stage → {str(fact.data['to']).replace('_', ' ')}"
        elif fact.kind == "hold_started":
            label = f"hold ({fact.data['kind']})"
        elif fact.kind == "handed_off":
            label = f"handed off to {str(fact.data['kind']).replace('_', ' ')}"
        else:
            label = LABELS.get(fact.kind, fact.kind.replace("_", " "))
        if label not in parts:
            parts.append(label)
    text = " · ".join(parts) or "case record"
    return ("Case: " + text)[:200]
