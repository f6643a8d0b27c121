"""The case's borrower-protection messages: disputes, holds, moratoria, vulnerability, complaints,
hard stops, the borrower's own restrictions, agents' dials, and the providers' signals. Each takes
the case's turn and hands over to `protections.py` (or `messages.py`); `OverdueCase` inherits them."""

from __future__ import annotations

from temporalio import workflow

from workflows.case import contact, protections, self_service
from workflows.case.core import CaseRun

with workflow.unsafe.imports_passed_through():
    from domain.messages import (
        BorrowerReply,
        CapacityHoldRequest,
        CeaseContact,
        ComplaintClosed,
        ComplaintRequest,
        ContactPreferences,
        CrisisTreatmentEnd,
        DeliveryReceipt,
        DialPermission,
        DialRequest,
        DisputeRequest,
        DisputeResolution,
        HardStopReport,
        MoratoriumRequest,
        PauseRequest,
        ThirdPartyRefusal,
        UpdateResult,
        VulnerabilityReport,
    )
    from domain.self_service import SelfServiceRequest


class ProtectionHandlers:
    c: CaseRun

    @workflow.update
    async def open_dispute(self, dispute: DisputeRequest) -> UpdateResult:
        async with self.c.turn():
            return await protections.open_dispute(self.c, dispute)

    @open_dispute.validator
    def _check_dispute(self, dispute: DisputeRequest) -> None:
        protections.check_dispute(self.c, dispute)

    @workflow.update
    async def resolve_dispute(self, resolution: DisputeResolution) -> UpdateResult:
        async with self.c.turn():
            return await protections.resolve_dispute(self.c, resolution)

    @resolve_dispute.validator
    def _check_resolution(self, resolution: DisputeResolution) -> None:
        protections.check_resolution(self.c, resolution)

    @workflow.update
    async def set_capacity_hold(self, request: CapacityHoldRequest) -> UpdateResult:
        async with self.c.turn():
            return await protections.set_capacity_hold(self.c, request)

    @set_capacity_hold.validator
    def _check_capacity(self, request: CapacityHoldRequest) -> None:
        self.c.reject_if_closed()

    @workflow.update
    async def start_moratorium(self, request: MoratoriumRequest) -> UpdateResult:
        async with self.c.turn():
            return await protections.start_moratorium(self.c, request)

    @start_moratorium.validator
    def _check_moratorium(self, request: MoratoriumRequest) -> None:
        protections.check_moratorium(self.c, request)

    @workflow.update
    async def end_crisis_treatment(self, end: CrisisTreatmentEnd) -> UpdateResult:
        async with self.c.turn():
            return await protections.end_crisis_treatment(self.c, end)

    @end_crisis_treatment.validator
    def _check_crisis_end(self, end: CrisisTreatmentEnd) -> None:
        protections.check_crisis_end(self.c, end)

    @workflow.update
    async def may_dial(self, request: DialRequest) -> DialPermission:
        async with self.c.turn():
            return await contact.may_dial(self.c, request)

    @may_dial.validator
    def _check_dial(self, request: DialRequest) -> None:
        contact.check_dial(self.c, request)

    @workflow.update
    async def set_contact_preferences(self, prefs: ContactPreferences) -> UpdateResult:
        async with self.c.turn():
            return await protections.set_contact_preferences(self.c, prefs)

    @set_contact_preferences.validator
    def _check_preferences(self, prefs: ContactPreferences) -> None:
        protections.check_preferences(self.c, prefs)

    @workflow.update
    async def record_hard_stop(self, report: HardStopReport) -> UpdateResult:
        async with self.c.turn():
            return await protections.record_hard_stop(self.c, report)

    @record_hard_stop.validator
    def _check_hard_stop(self, report: HardStopReport) -> None:
        protections.check_hard_stop(self.c, report)

    @workflow.update
    async def record_vulnerability(self, report: VulnerabilityReport) -> UpdateResult:
        async with self.c.turn():
            return await protections.record_vulnerability(self.c, report)

    @record_vulnerability.validator
    def _check_vulnerability(self, report: VulnerabilityReport) -> None:
        self.c.reject_if_closed()

    @workflow.update
    async def open_complaint(self, request: ComplaintRequest) -> UpdateResult:
        async with self.c.turn():
            return await protections.open_complaint(self.c, request)

    @open_complaint.validator
    def _check_complaint(self, request: ComplaintRequest) -> None:
        self.c.reject_if_closed()

    # --- the borrower's own channel: their page and their replies (self_service.py) -------------

    @workflow.update
    async def self_service(self, request: SelfServiceRequest) -> UpdateResult:
        """What the borrower did on their page: the action's own message, journaled as `self_service`."""
        async with self.c.turn():
            return await self_service.act(self.c, request)

    @self_service.validator
    def _check_self_service(self, request: SelfServiceRequest) -> None:
        self_service.check(self.c, request)

    @workflow.update
    async def receive_reply(self, reply: BorrowerReply) -> UpdateResult:
        """A reply by SMS or e-mail that is not a stop: a task for a person (the text sealed in the journal)."""
        async with self.c.turn():
            return await self_service.receive_reply(self.c, reply)

    @receive_reply.validator
    def _check_reply(self, reply: BorrowerReply) -> None:
        self_service.check_reply(self.c, reply)

    # --- providers and operators: signals ----------------------------------------------------

    @workflow.signal
    async def delivery_receipt(self, receipt: DeliveryReceipt) -> None:
        async with self.c.turn():
            await protections.delivery_receipt(self.c, receipt)

    @workflow.signal
    async def cease_contact(self, request: CeaseContact) -> None:
        async with self.c.turn():
            await protections.cease_contact(self.c, request)

    @workflow.signal
    async def pause(self, request: PauseRequest) -> None:
        async with self.c.turn():
            await protections.pause(self.c, request)

    @workflow.signal
    async def resume(self, request: PauseRequest) -> None:
        async with self.c.turn():
            await protections.resume(self.c, request)

    @workflow.signal
    async def third_party_refused(self, request: ThirdPartyRefusal) -> None:
        async with self.c.turn():
            await protections.third_party_refused(self.c, request)

    @workflow.signal
    async def complaint_closed(self, closed: ComplaintClosed) -> None:
        """From the complaint's own workflow, when it is resolved."""
        async with self.c.turn():
            await protections.complaint_closed(self.c, closed)
