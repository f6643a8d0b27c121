"""3. Remote contact: the segment's schedule of messages (SMS, e-mail, letters) and calls (robot and agent), one step at
a time, each when it falls due (`domain.schedule`) and only when the guard allows it. When the
borrower cannot be reached, their emergency contacts are asked, once each, to pass on a message.
When the schedule is done and nothing resolved the case, it goes to the field-visit decision. A
call-back the borrower asked for comes first: the schedule waits for its time.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

from workflows.case import contact, field_visit, notices
from workflows.case.core import CaseRun

with workflow.unsafe.imports_passed_through():
    from domain import schedule
    from domain.enums import Channel, Stage, TaskKind
    from domain.policy import ContactStep


async def step(run: CaseRun) -> datetime | None:
    s, steps, decided = run.s, run.treatment.schedule, run.moment()
    if notices.due(run, "validation"):  # in writing, at the start of collection
        wait = await notices.send(run, "validation")
        if wait is not None:
            return wait
    call_back = next(iter(s.desk.open_tasks(TaskKind.CALL_BACK)), None) if s.desk is not None else None
    if call_back is not None and run.now < call_back.due_at:  # the borrower asked for a time: nothing before it
        return run.plan_next(f"Call the borrower back as asked ({call_back.owner or call_back.team})",
                             call_back.due_at)
    if s.step_index >= len(steps):
        return await field_visit.enter(run)
    planned = steps[s.step_index]
    label = f"{contact.LABEL[planned.channel]} {s.step_index + 1} of {len(steps)}"
    if not schedule.step_due(s.next_step_at, run.now):
        return run.plan_next(label, s.next_step_at)
    if contact.borrower_unreachable(run):
        await contact.ask_third_parties(run, decided)
    ref, missing = where_to(run, planned)
    if missing is not None:
        run.event("step_skipped", {"step": s.step_index, "reason": missing})
    else:
        result = await contact.contact(run, planned.channel, planned.template, ref, step=s.step_index, summary=label,
                                       unchanged=decided, link=planned.link)
        deferral = contact.deferred(result)
        if deferral:
            s.next_step_at = deferral.until
            return run.plan_next(f"{label} ({deferral.reason})", deferral.until)
    s.step_index += 1
    following = schedule.next_step_at(steps, s.step_index, run.now)
    if s.stage is Stage.REMOTE_CONTACT and following is not None:
        s.next_step_at = following
    return run.now


def where_to(run: CaseRun, step: ContactStep) -> tuple[str | None, str | None]:
    """The step's ref (a number's; an e-mail's; none for a letter), or why it cannot go."""
    match step.channel:
        case Channel.EMAIL:
            ref = contact.borrower_email(run)
            return ref, None if ref is not None else "no usable e-mail address"
        case Channel.LETTER:  # to the verified address; a link's code goes to a number
            if not notices.address_known(run):
                return None, "no complete address"
            if step.link and contact.borrower_number(run) is None:
                return None, "no usable borrower number for the link's code"
            return None, None
    ref = contact.borrower_number(run)
    return ref, None if ref is not None else "no usable borrower number"


def resume(run: CaseRun, why: str) -> datetime | None:
    """Back to the schedule at the step where it stopped (after a promise, a plan or a review)."""
    following = schedule.next_step_at(run.treatment.schedule, run.s.step_index, run.now)
    if following is not None:
        run.s.next_step_at = following
    return run.to_stage(Stage.REMOTE_CONTACT, why)
