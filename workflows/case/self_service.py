"""The borrower's own channel: what they do on their self-service page, and their replies to our messages.

A page action is one of the case's own messages, checked by that message's own validator and applied by its
own handler; the case then journals it with the channel `self_service`, so an auditor sees who acted. A
reply that is not a stop (stops are the `cease_contact` signal) becomes a task for a person, its text sealed
in the journal.
"""

from __future__ import annotations

from temporalio import workflow

from workflows.case import messages, protections, relief, tasks
from workflows.case.core import CaseRun

with workflow.unsafe.imports_passed_through():
    from domain.enums import TaskKind
    from domain.messages import (
        BorrowerReply,
        CeaseContact,
        ComplaintRequest,
        ContactInfoUpdate,
        ContactPreferences,
        DisputeRequest,
        HardshipReport,
        PromiseRequest,
        UpdateResult,
    )
    from domain.relief import ReliefAcceptance
    from domain.self_service import SELF_SERVICE, SelfServiceRequest, numbers_with


def check(run: CaseRun, request: SelfServiceRequest) -> None:
    """The action's own validator, and what the page may not do that an operator may."""
    run.reject_if_closed()
    message = request.message
    match request.kind:
        case "promise":
            assert isinstance(message, PromiseRequest)
            messages.check_promise(run, message)
        case "plan" | "hardship":
            assert isinstance(message, HardshipReport)
            offered = run.config.policy.self_service.plan_instalments
            if request.kind == "plan" and message.requested_instalments not in offered:
                raise ValueError(f"the plans on offer have {', '.join(map(str, offered))} instalments")
            messages.check_hardship(run, message)
        case "accept_offer":
            assert isinstance(message, ReliefAcceptance)
            relief.check_acceptance(run, message)
        case "dispute":
            assert isinstance(message, DisputeRequest)
            protections.check_dispute(run, message)
        case "preferences":
            assert isinstance(message, ContactPreferences)
            protections.check_preferences(run, message)
        case "contact_data":
            assert isinstance(message, ContactInfoUpdate)
            if message.mobile_numbers is not None:
                numbers_with(run.case.borrower.mobile_numbers, message.mobile_numbers, run.case.borrower.country)
        case "talk_to_person":
            if run.s.desk is not None and run.s.desk.open_tasks(TaskKind.TALK_TO_PERSON):
                raise ValueError("a person will contact you already: your request is with the care team")


async def act(run: CaseRun, request: SelfServiceRequest) -> UpdateResult:
    run.recheck(lambda r: check(run, r), request)
    message = request.message
    if isinstance(message, PromiseRequest):
        result = await messages.promise_to_pay(run, message)
    elif isinstance(message, HardshipReport):
        result = await messages.report_hardship(run, message)
    elif isinstance(message, ReliefAcceptance):
        result = run.result(*relief.accept(run, message))
    elif isinstance(message, DisputeRequest):
        result = await protections.open_dispute(run, message)
    elif isinstance(message, ComplaintRequest):
        result = await protections.open_complaint(run, message)
    elif isinstance(message, ContactPreferences):
        result = await protections.set_contact_preferences(run, message)
    elif isinstance(message, ContactInfoUpdate):
        if message.mobile_numbers is not None:  # a number added on the page: those on file stay, with their consent
            borrower = run.case.borrower
            message = message.model_copy(update={"mobile_numbers": numbers_with(
                borrower.mobile_numbers, message.mobile_numbers, borrower.country)})
        result = await messages.update_contact_info(run, message)
    elif isinstance(message, CeaseContact):
        await protections.cease_contact(run, message)
        result = run.result(f"contact stopped: {message.channel or message.scope.value}")
    else:  # talk to a person
        desk = run.config.policy.desk
        task = tasks.make(run, TaskKind.TALK_TO_PERSON, desk.care_team, run.now + desk.answer_within,
                          "the borrower asked on their page to talk to a person")
        result = run.result(f"the {desk.care_team} team will contact you", task.task_id)
    run.event("self_service", {"channel": SELF_SERVICE, "action": request.kind, "session": request.session,
                               "ref": result.ref, "outcome": result.message})
    return result


def check_reply(run: CaseRun, reply: BorrowerReply) -> None:
    run.reject_if_closed()


async def receive_reply(run: CaseRun, reply: BorrowerReply) -> UpdateResult:
    """A person reads it and answers: a task, once per reply (a provider may deliver it twice)."""
    known = run.s.desk is not None and any(t.ref == reply.message_id for t in run.s.desk.tasks
                                           if t.kind is TaskKind.BORROWER_MESSAGE)
    if known:
        return run.result("reply already received", reply.message_id)
    desk = run.config.policy.desk
    task = tasks.make(run, TaskKind.BORROWER_MESSAGE, desk.replies_team, run.now + desk.answer_within,
                      f"the borrower replied by {reply.channel}: read it in the case's journal", ref=reply.message_id)
    run.event("borrower_replied", {"channel": reply.channel, "message_id": reply.message_id,
                                   "received_at": reply.received_at.isoformat(), "task_id": task.task_id,
                                   "text": reply.text})
    return run.result(f"reply received: task {task.task_id} for {desk.replies_team}", task.task_id)
