"""`Cases`: start a case, read it, send it what happened; every call typed against `OverdueCase`.

A case id maps to workflow id `case-<case_id>`, so a case starts at most once whoever starts it.
Updates and signals go by method reference (`OverdueCase.record_payment`), never by name, so a
renamed handler or a wrong payload type is a type error here, not a runtime surprise in a worker.
Temporal's errors come out as this module's exceptions, so entry points handle "no such case",
"the case refused it" and "Temporal is unavailable" without knowing Temporal's error types.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from adapters.db import make_engine
from adapters.ledger import Ledger
from domain import statement as statements
from domain.case_input import CaseInput, workflow_id_for
from domain.errors import explain
from domain.messages import (
    ApprovalDecision,
    BorrowerReply,
    CapacityHoldRequest,
    CeaseContact,
    ComplaintRequest,
    ContactInfoUpdate,
    ContactPreferences,
    CrisisTreatmentEnd,
    DeliveryReceipt,
    DialPermission,
    DialRequest,
    DisputeRequest,
    DisputeResolution,
    HardshipReport,
    HardStopReport,
    MoratoriumRequest,
    PauseRequest,
    Payment,
    PromiseRequest,
    ThirdPartyRefusal,
    UpdateResult,
    VisitOutcome,
    VulnerabilityReport,
)
from domain.money import strict_amounts
from domain.relief import ReliefAcceptance, ReliefRequest
from domain.self_service import SelfServiceRequest
from domain.statement import Statement
from domain.status import CaseOutcome, CaseStatus
from workflows.case import OverdueCase

T = TypeVar("T")
Handle = WorkflowHandle[OverdueCase, CaseOutcome]
StartStatus = Literal["started", "already_running", "already_closed", "rejected"]
STATE_IS_THE_WORKFLOWS = "state and early_warning are set by the workflows only"


# --- errors ------------------------------------------------------------------------------------


class CaseServiceError(Exception):
    """Anything the service could not do; the message says what, for a person."""


class CaseNotFound(CaseServiceError):
    def __init__(self, case_id: str):
        super().__init__(f"no case {case_id}")
        self.case_id = case_id


class CaseClosed(CaseServiceError):
    """The case has finished: it takes no more updates or signals (its status can still be read)."""

    def __init__(self, case_id: str, status: str):
        super().__init__(f"case {case_id} is closed ({status})")
        self.case_id, self.status = case_id, status


class UpdateRejected(CaseServiceError):
    """The case refused the update: its validator said no (nothing was recorded) or its handler failed it."""

    def __init__(self, reason: str, case_id: str | None = None):
        super().__init__(reason)
        self.reason, self.case_id = reason, case_id


class TemporalError(CaseServiceError):
    """Temporal could not be reached, did not answer in time, or refused the call for a reason of its
    own (`message` is Temporal's). Safe to retry: a start or a payment (by its reference) applies once."""

    def __init__(self, message: str):
        super().__init__(f"Temporal: {message}")
        self.message = message


class NoStatement(CaseServiceError):
    def __init__(self, case_id: str):
        super().__init__(f"case {case_id} was opened before the balance engine: it has no statement")
        self.case_id = case_id


def drawn_for_today(status: CaseStatus) -> CaseStatus:
    """A workflow's answer is as of its last activity (its clock moves only when it works): its statement is
    drawn again for the borrower's today."""
    if status.statement is not None:
        today = datetime.now(ZoneInfo(status.statement.timezone)).date()
        status.statement = statements.again(status.statement, today)
    return status


def ledger_at(url: str | None, pool_size: int = 5) -> Ledger | None:
    """The ledger `Cases.status` reads from, when one is configured (DATABASE_URL)."""
    # Reads have no retry behind them (activities do): a pooled connection is checked before use.
    return Ledger(make_engine(url, pool_size=pool_size, pre_ping=True)) if url else None


# --- starting ----------------------------------------------------------------------------------


@dataclass
class StartReport:
    case_id: str
    status: StartStatus
    detail: str = ""
    run_id: str | None = None


def validate(item: object, label: str = "case") -> CaseInput | StartReport:
    """`item` as a valid case, or the rejection that says why. `label` names an item without a case id.
    The one place that refuses a case carrying `state` or `early_warning`: only the workflows set them (on
    continue-as-new, and when an early warning hands its loan over)."""
    if isinstance(item, CaseInput):
        if item.state is not None or item.early_warning is not None:
            return StartReport(item.case_id, "rejected", STATE_IS_THE_WORKFLOWS)
        return item
    if isinstance(item, Mapping):
        label = str(item.get("case_id", label))
        if item.get("state") is not None or item.get("early_warning") is not None:
            return StartReport(label, "rejected", STATE_IS_THE_WORKFLOWS)
    try:
        with strict_amounts():  # input from outside: decimal strings in the currency's units only
            return CaseInput.model_validate(item)
    except ValidationError as e:
        return StartReport(label, "rejected", explain(e))


# --- the client --------------------------------------------------------------------------------


class Cases:
    """Start and drive cases on `task_queue` through `client` (which carries the project's converter)."""

    def __init__(self, client: Client, task_queue: str, ledger: Ledger | None = None):
        """With a `ledger`, `status` answers from the case row every ledger write keeps current, so a
        read never waits on a busy worker."""
        self.client, self.task_queue, self.ledger = client, task_queue, ledger

    async def start(self, case: CaseInput | Mapping[str, Any]) -> StartReport:
        """Start the case once. Invalid input is `rejected` with its reasons and starts nothing; an
        existing case is reported (`already_running`, or `already_closed` with how it closed), never
        started a second time."""
        checked = validate(case)
        if isinstance(checked, StartReport):
            return checked
        loan = checked.loan
        try:
            handle = await self.client.start_workflow(
                OverdueCase.run, checked, id=checked.workflow_id, task_queue=self.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                static_summary=f"Case {checked.case_id}: {loan.outstanding_balance} {loan.currency}, "
                               f"{loan.days_past_due} days past due",
                static_details=f"**Loan** {loan.loan_id} · principal {loan.principal} {loan.currency} · due "
                               f"{loan.due_date}\n\n**Policy** {checked.policy} · **Country** "
                               f"{checked.borrower.country} · **Timezone** {checked.borrower.timezone}",
            )
            return StartReport(checked.case_id, "started", run_id=handle.result_run_id)
        except WorkflowAlreadyStartedError:
            pass
        except RPCError as e:
            raise TemporalError(e.message) from e
        async with self._errors(checked.case_id):
            described = await self._handle(checked.case_id).describe()
        if described.status == WorkflowExecutionStatus.RUNNING:
            return StartReport(checked.case_id, "already_running", run_id=described.run_id)
        status = described.status.name.lower() if described.status else "closed"
        return StartReport(checked.case_id, "already_closed", status, described.run_id)

    async def start_all(self, data: object, admit: Callable[[], Awaitable[None]] | None = None) -> list[StartReport]:
        """One case or a list of them (a case file's JSON), each started or rejected, in order; `admit`
        (a `Backpressure.admit`) is awaited before each start."""
        items: Iterable[object] = data if isinstance(data, list) else [data]
        reports = []
        for n, item in enumerate(items, start=1):
            checked = validate(item, f"item {n}")
            if isinstance(checked, StartReport):
                reports.append(checked)
                continue
            if admit is not None:
                await admit()
            reports.append(await self.start(checked))
        return reports

    # --- reading -------------------------------------------------------------------------------

    async def status(self, case_id: str, fresh: bool = False) -> CaseStatus:
        """What an operator needs to see to act on the case (closed ones too): as the ledger last
        recorded it (milliseconds, whatever the workers' backlog), or with `fresh` (or no ledger, or no
        row yet) the workflow's `status` query, which waits for a worker to answer."""
        return drawn_for_today(await self._status(case_id, fresh))

    async def _status(self, case_id: str, fresh: bool) -> CaseStatus:
        if self.ledger is not None and not fresh:
            try:
                recorded = await self.ledger.case_status(case_id)
                if recorded is not None:
                    return CaseStatus.model_validate(recorded)
            except (SQLAlchemyError, OSError, ValidationError):  # ledger unreachable, or a row of an older shape
                pass
        async with self._errors(case_id):
            return await self._handle(case_id).query(OverdueCase.status)

    async def statement(self, case_id: str, fresh: bool = False) -> Statement:
        """The case's account today: owed by component, accrued this period, payments as applied, reliefs and
        freezes. Raises `NoStatement` for a case opened before the balance engine."""
        status = await self.status(case_id, fresh)
        if status.statement is None:
            raise NoStatement(case_id)
        return status.statement

    async def ping(self) -> None:
        """Raises `TemporalError` unless the Temporal server answers (for health checks)."""
        try:
            await self.client.workflow_service.get_system_info(GetSystemInfoRequest())
        except RPCError as e:
            raise TemporalError(e.message) from e

    # --- updates: each answers with an `UpdateResult`, or raises `UpdateRejected` ---------------

    async def pay(self, case_id: str, payment: Payment) -> UpdateResult:
        """A payment received; its reference makes it idempotent (the same reference applies once)."""
        return await self.send(case_id, lambda h: h.execute_update(OverdueCase.record_payment, payment))

    async def promise(self, case_id: str, request: PromiseRequest) -> UpdateResult:
        """A promise to pay that an agent took."""
        return await self.send(case_id, lambda h: h.execute_update(OverdueCase.promise_to_pay, request))

    async def hardship(self, case_id: str, report: HardshipReport) -> UpdateResult:
        """The borrower reports hardship: a plan is proposed for approval."""
        return await self.send(case_id, lambda h: h.execute_update(OverdueCase.report_hardship, report))

    async def approve(self, case_id: str, decision: ApprovalDecision) -> UpdateResult:
        """A person decides a pending approval (visit, hardship plan, wellbeing or vulnerability review)."""
        return await self.send(case_id, lambda h: h.execute_update(OverdueCase.approve, decision))

    async def offer_relief(self, case_id: str, request: ReliefRequest) -> UpdateResult:
        """Relief offered to the borrower: open at once within the offerer's role, else awaiting approval."""
        return await self.send(case_id, lambda h: h.execute_update(OverdueCase.offer_relief, request))

    async def accept_relief(self, case_id: str, acceptance: ReliefAcceptance) -> UpdateResult:
        """The borrower accepts an offer before it expires."""
        return await self.send(case_id, lambda h: h.execute_update(OverdueCase.accept_relief, acceptance))

    async def visit_outcome(self, case_id: str, outcome: VisitOutcome) -> UpdateResult:
        """The collectors report how a field visit went."""
        return await self.send(case_id, lambda h: h.execute_update(OverdueCase.record_visit_outcome, outcome))

    async def update_contact(self, case_id: str, update: ContactInfoUpdate) -> UpdateResult:
        """New contact data: verification runs again."""
        return await self.send(case_id, lambda h: h.execute_update(OverdueCase.update_contact_info, update))

    async def open_dispute(self, case_id: str, dispute: DisputeRequest) -> UpdateResult:
        """The borrower disputes the debt: collection pauses until it is verified."""
        return await self.send(case_id, lambda h: h.execute_update(OverdueCase.open_dispute, dispute))

    async def resolve_dispute(self, case_id: str, resolution: DisputeResolution) -> UpdateResult:
        """The dispute's outcome: upheld withdraws the case, verified resumes collection."""
        return await self.send(case_id, lambda h: h.execute_update(OverdueCase.resolve_dispute, resolution))

    async def capacity_hold(self, case_id: str, request: CapacityHoldRequest) -> UpdateResult:
        """Hold (or release) collection while the borrower's mental capacity is in question."""
        return await self.send(case_id, lambda h: h.execute_update(OverdueCase.set_capacity_hold, request))

    async def moratorium(self, case_id: str, request: MoratoriumRequest) -> UpdateResult:
        """A debt-respite moratorium starts: no contact, interest and fees frozen."""
        return await self.send(case_id, lambda h: h.execute_update(OverdueCase.start_moratorium, request))

    async def end_crisis_treatment(self, case_id: str, end: CrisisTreatmentEnd) -> UpdateResult:
        """Mental health crisis treatment ended: the open-ended moratorium gets its end date."""
        return await self.send(case_id, lambda h: h.execute_update(OverdueCase.end_crisis_treatment, end))

    async def may_dial(self, case_id: str, request: DialRequest) -> DialPermission:
        """An agent dials a call task: the guard's word at that moment (the dial, if allowed, is the call)."""
        return await self.send(case_id, lambda h: h.execute_update(OverdueCase.may_dial, request))

    async def set_contact_preferences(self, case_id: str, prefs: ContactPreferences) -> UpdateResult:
        """The borrower's own hours, days off and language."""
        return await self.send(case_id, lambda h: h.execute_update(OverdueCase.set_contact_preferences, prefs))

    async def record_hard_stop(self, case_id: str, report: HardStopReport) -> UpdateResult:
        """Bankruptcy, death, an attorney, a time-barred debt: sticky, with its evidence."""
        return await self.send(case_id, lambda h: h.execute_update(OverdueCase.record_hard_stop, report))

    async def record_vulnerability(self, case_id: str, report: VulnerabilityReport) -> UpdateResult:
        """A vulnerability is known: contact stops until a trained person reviews the case."""
        return await self.send(case_id, lambda h: h.execute_update(OverdueCase.record_vulnerability, report))

    async def open_complaint(self, case_id: str, request: ComplaintRequest) -> UpdateResult:
        """A complaint about the case: it runs as its own workflow; `ref` is its id."""
        return await self.send(case_id, lambda h: h.execute_update(OverdueCase.open_complaint, request))

    async def self_service(self, case_id: str, request: SelfServiceRequest) -> UpdateResult:
        """What the borrower did on their own page (journaled with the channel `self_service`)."""
        return await self.send(case_id, lambda h: h.execute_update(OverdueCase.self_service, request))

    async def borrower_reply(self, case_id: str, reply: BorrowerReply) -> UpdateResult:
        """A reply by SMS or e-mail that is not a stop: a task for the team."""
        return await self.send(case_id, lambda h: h.execute_update(OverdueCase.receive_reply, reply))

    # --- signals: delivered to a running case, answered by nothing -------------------------------

    async def receipt(self, case_id: str, receipt: DeliveryReceipt) -> None:
        """A provider's delivery receipt for a contact attempt."""
        await self.send(case_id, lambda h: h.signal(OverdueCase.delivery_receipt, receipt))

    async def cease(self, case_id: str, request: CeaseContact) -> None:
        """Stop contact: entirely, on one channel, or to one number."""
        await self.send(case_id, lambda h: h.signal(OverdueCase.cease_contact, request))

    async def pause(self, case_id: str, request: PauseRequest) -> None:
        """Pause all contact until `resume`."""
        await self.send(case_id, lambda h: h.signal(OverdueCase.pause, request))

    async def resume(self, case_id: str, request: PauseRequest) -> None:
        """End a pause."""
        await self.send(case_id, lambda h: h.signal(OverdueCase.resume, request))

    async def third_party_refused(self, case_id: str, refusal: ThirdPartyRefusal) -> None:
        """An emergency contact asked never to be contacted again."""
        await self.send(case_id, lambda h: h.signal(OverdueCase.third_party_refused, refusal))

    # --- plumbing ------------------------------------------------------------------------------

    def _handle(self, case_id: str) -> Handle:
        return self.client.get_workflow_handle_for(OverdueCase.run, workflow_id_for(case_id))

    async def send(self, case_id: str, call: Callable[[Handle], Awaitable[T]]) -> T:
        """Any typed call on the case's handle, its Temporal errors as this module's (`service.desk` uses it)."""
        async with self._errors(case_id):
            return await call(self._handle(case_id))

    @asynccontextmanager
    async def _errors(self, case_id: str) -> AsyncIterator[None]:
        """Temporal's errors as the service's own."""
        try:
            yield
        except WorkflowUpdateFailedError as e:
            raise UpdateRejected(getattr(e.cause, "message", None) or str(e.cause), case_id) from e
        except WorkflowUpdateRPCTimeoutOrCancelledError as e:
            raise TemporalError(f"case {case_id} did not answer in time; it may still apply the update") from e
        except (WorkflowQueryFailedError, WorkflowQueryRejectedError) as e:
            raise TemporalError(f"case {case_id} could not answer: {e}") from e
        except RPCError as e:
            if e.status is RPCStatusCode.NOT_FOUND:
                raise await self._missing(case_id, e) from e
            raise TemporalError(e.message) from e

    async def _missing(self, case_id: str, error: RPCError) -> CaseServiceError:
        """Temporal says NOT_FOUND both for a case that never existed and for one that has closed."""
        try:
            described = await self._handle(case_id).describe()
        except RPCError as e:
            return CaseNotFound(case_id) if e.status is RPCStatusCode.NOT_FOUND else TemporalError(e.message)
        if described.status is not None and described.status != WorkflowExecutionStatus.RUNNING:
            return CaseClosed(case_id, described.status.name.lower())
        return TemporalError(error.message)
