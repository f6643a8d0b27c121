"""Contact activities: SMS, e-mail, robot calls, agent call tasks, visit dispatch and letters, sent at most
once.

Each claims its idempotency key in the ledger before it calls the provider, and passes the same key
to the provider: a retry after a crash finds the claim and the provider's memory of the key, so
nothing is sent twice and the answer is the first one. A message that carries the borrower's
self-service link issues it first (the same link on a retry); a message sent records where a reply from
that number or address comes from (`reply_routes`).
"""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.contracts import ContactRequest, ContactResult
from activities.ledger import write_facts
from adapters.email import EmailTemplateError, EmailTemplates
from adapters.ledger import Ledger
from adapters.letters import LetterError
from adapters.providers import CallScript, ChannelProvider, OutboundRequest, ProviderError
from adapters.replies import record_route
from adapters.self_service import SelfServiceStore
from adapters.templates import TemplateError, TemplateLibrary
from domain.enums import Channel, Outcome, Person


class ContactActivities:
    def __init__(self, providers: dict[Channel, ChannelProvider], ledger: Ledger, templates: TemplateLibrary,
                 email: EmailTemplates | None = None, links: SelfServiceStore | None = None,
                 link_base: str = "", route_secret: bytes | None = None):
        """`links` and `link_base` (the page's links' address, ending before the token) issue self-service
        links; with `route_secret`, where replies come from is recorded; `email` renders e-mails."""
        self.providers, self.ledger, self.templates = providers, ledger, templates
        self.email, self.links, self.link_base = email, links, link_base.rstrip("/")
        self.route_secret = route_secret

    async def _contact(self, request: ContactRequest) -> ContactResult:
        provider = self.providers[request.channel]
        async with self.ledger.transaction() as tx:  # the case's facts before this contact, and its claim
            await write_facts(tx, request.case_id, request.owed)
            claimed = await tx.begin_attempt(
                case_id=request.case_id, idempotency_key=request.key, channel=request.channel.value,
                person=request.person.value, phone_ref=request.phone_ref, template=request.template,
                step=request.step, robot=request.robot, guard_rule=request.guard.rule,
                guard_packs=request.guard.packs, planned_at=request.planned_at,
            )
        if claimed is not None and claimed["outcome"] != "pending":  # an earlier try settled it
            result = ContactResult(key=request.key, outcome=Outcome(claimed["outcome"]), distress=claimed["distress"],
                                   provider=claimed["provider"] or provider.name,
                                   message_id=claimed["provider_message_id"] or "", played=claimed["played"] or "none")
        else:
            try:  # a message that cannot be made (its template, a variable it names, a letter's layout) or
                # that the provider refuses fails for good: a failed attempt, not a retry
                try:
                    outbound = await self._outbound(request)
                except KeyError as e:
                    raise TemplateError(f"template {request.template!r} names {e} and it was not given") from e
                response = await provider.deliver(outbound)
            except (ProviderError, TemplateError, EmailTemplateError, LetterError) as e:
                await self._finish(request, ContactResult(key=request.key, outcome=Outcome.FAILED, distress=False,
                                                          provider=provider.name, message_id=""))
                raise ApplicationError(str(e), type=type(e).__name__, non_retryable=True) from e
            result = ContactResult(key=request.key, outcome=response.outcome, distress=response.distress,
                                   provider=response.provider, message_id=response.message_id, played=response.played)
        if not result.outcome.is_failure:
            await self._reply_route(request)  # in case the first try stopped before it
        await self._finish(request, result)  # in case the first try stopped before its journal entry
        return result

    async def _reply_route(self, request: ContactRequest) -> None:
        """Where a reply to this message comes from (a keyed digest of the address), so it finds the case."""
        if self.route_secret is not None and (request.channel is Channel.SMS or (
                request.channel is Channel.EMAIL and request.person is Person.BORROWER)):
            await record_route(self.ledger.engine, self.route_secret, request.case_id,
                               "sms" if request.channel is Channel.SMS else "email", request.person,
                               request.phone_ref, request.to, request.country, request.planned_at)

    async def _outbound(self, request: ContactRequest) -> OutboundRequest:
        """What the provider gets: the rendered message (an e-mail: subject, text and HTML), with its link."""
        variables = dict(request.variables)
        if request.link_valid is not None:
            if self.links is None:
                raise TemplateError("this worker has no self-service links configured (SELF_SERVICE_SECRET)")
            by_sms = request.link_code_to is not None  # a letter's link: its code goes by SMS, not by post
            token = await self.links.issue(case_id=request.case_id, attempt_key=request.key,
                                           channel=Channel.SMS.value if by_sms else request.channel.value,
                                           destination=request.link_code_to or request.to,
                                           locale=request.locale, expires_at=request.planned_at + request.link_valid)
            variables["link"] = f"{self.link_base}/{token}"
        outbound = OutboundRequest(idempotency_key=request.key, channel=request.channel, to=request.to, body="",
                                   locale=request.locale, template=request.template, sender=request.sender)
        if request.channel is Channel.EMAIL:
            if self.email is None:
                raise TemplateError("this worker has no e-mail templates configured")
            mail = self.email.render(request.template, request.locale, variables)
            return outbound.model_copy(update={"body": mail.text, "subject": mail.subject, "html": mail.html})
        body = self.templates.render(request.template, request.locale, variables, request.with_opt_out)
        return outbound.model_copy(update={"body": body, "script": self._script(request, body)})

    def _script(self, request: ContactRequest, message: str) -> CallScript | None:
        """A robot call, right party first: who answers is asked to confirm before the message plays."""
        if request.channel is not Channel.ROBOT_CALL:
            return None
        def render(template: str) -> str:
            return self.templates.render(template, request.locale, request.variables, False)

        return CallScript(identify=render("robot_identify"), message=message,
                          voicemail=render("robot_voicemail") if request.voicemail else None)

    async def _finish(self, request: ContactRequest, result: ContactResult) -> None:
        """The attempt's outcome on its row and, as the auditor sees it, in the journal: what, to whom (by
        ref), when, why allowed, and how it went. One transaction."""
        async with self.ledger.transaction() as tx:
            await tx.finish_attempt(request.key, outcome=result.outcome.value, provider=result.provider,
                                    provider_message_id=result.message_id, distress=result.distress,
                                    played=result.played)
            await tx.append_events(request.case_id, [(request.key, "contact_attempt", request.planned_at, {
                "channel": request.channel.value, "person": request.person.value, "phone_ref": request.phone_ref,
                "template": request.template, "with_opt_out": request.with_opt_out, "step": request.step,
                "robot": request.robot, "outcome": result.outcome.value, "distress": result.distress,
                "played": result.played, "dial_by": request.dial_by.isoformat() if request.dial_by else None,
                "guard_rule": request.guard.rule, "packs": request.guard.packs,
            })])

    @activity.defn
    async def send_sms(self, request: ContactRequest) -> ContactResult:
        return await self._contact(request)

    @activity.defn
    async def place_robot_call(self, request: ContactRequest) -> ContactResult:
        return await self._contact(request)

    @activity.defn
    async def create_agent_call_task(self, request: ContactRequest) -> ContactResult:
        return await self._contact(request)

    @activity.defn
    async def dispatch_visit(self, request: ContactRequest) -> ContactResult:
        return await self._contact(request)

    @activity.defn
    async def post_letter(self, request: ContactRequest) -> ContactResult:
        return await self._contact(request)

    @activity.defn
    async def send_email(self, request: ContactRequest) -> ContactResult:
        return await self._contact(request)

    def all(self) -> list:
        return [self.send_sms, self.place_robot_call, self.create_agent_call_task, self.dispatch_visit,
                self.post_letter, self.send_email]
