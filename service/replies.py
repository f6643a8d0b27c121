"""Inbound replies by SMS or e-mail: a stop ceases that channel at once, anything else goes to a person.

`Replies.receive` takes one reply as a provider delivers it and:

- claims it by the provider's message id (a webhook delivered twice acts once, and answers the same);
- finds the cases that messaged the address on that channel (`reply_routes`, by a keyed digest);
- a stop (`domain.replies.classify`) binds the address whoever it reached, so it goes to *every* running
  case that messaged it there: the borrower's case ceases the channel (`cease`, scope channel), an
  emergency contact's case records the refusal (`third_party_refused` with the number), never contacted
  again;
- any other text from the borrower becomes a task for the team on the most recently messaged running
  case (`borrower_reply`, its text sealed in the journal under the case's key);
- other text from an emergency contact changes nothing on the case and is recorded as
  `third_party_message`: the borrower's task and journal are not the place for a third party's words, and
  the case has no third-party message yet (see the report to the lead);
- an address no case messaged is `unmatched`; a case that has closed is `case_closed`. Neither is an error.

Temporal unavailable: the claim is given back and `TemporalError` raised, so the webhook answers 503 and
the provider's retry acts afresh (the case's signals are idempotent). The text and the address are never
logged nor put in an exception.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol, cast

from pydantic import ConfigDict, Field, field_validator, model_validator
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters import replies as store
from adapters.replies import Route
from domain.enums import CeaseScope, Person
from domain.messages import BorrowerReply, CeaseContact, ThirdPartyRefusal, UpdateResult
from domain.replies import AddressError, ReplyChannel, ReplyKeywords, e164, matched, reply_body
from domain.values import AwareDatetime, CountryCode, Model
from service.cases import CaseClosed, CaseNotFound, UpdateRejected

log = logging.getLogger(__name__)

Action = Literal["stop", "task", "third_party_refused", "third_party_message", "unmatched", "case_closed",
                 "rejected"]
TASK_TEXT_LIMIT = 2000  # BorrowerReply.text's limit
CUT = " […]"
EARLIEST, LATEST = datetime(2000, 1, 1, tzinfo=UTC), datetime(3000, 1, 1, tzinfo=UTC)


class InboundReply(Model):
    """A reply as a provider (or the glue in front of it) posts it to /webhooks/replies."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    provider: str = Field(min_length=1, max_length=32, pattern=r"^[a-z0-9][a-z0-9_.-]*$",
                          description="who delivered it, e.g. twilio, sandbox")
    message_id: str = Field(min_length=1, max_length=160, pattern=r"^[^\x00-\x1f\x7f]+$",
                            description="the provider's id for the reply")
    channel: ReplyChannel
    from_: str = Field(alias="from", min_length=3, max_length=320,
                       description="the number (E.164, or national with `country`) or e-mail address it came from")
    text: str = Field(default="", max_length=20000)
    subject: str | None = Field(default=None, max_length=998, description="an e-mail's subject: a List-Unsubscribe "
                                "mail is a subject of `stop` and no body")
    received_at: AwareDatetime
    country: CountryCode | None = Field(default=None, description="the region a national number is read in")

    @field_validator("received_at")
    @classmethod
    def _plausible(cls, at: datetime) -> datetime:
        if not EARLIEST <= at < LATEST:
            raise ValueError("must be a time in this millennium")
        return at

    @model_validator(mode="after")
    def _not_blank(self) -> InboundReply:
        if not self.text.strip() and not (self.subject or "").strip():
            raise ValueError("the reply has no text" + (" and no subject" if self.channel == "email" else ""))
        return self


class ReplyOutcome(Model):
    action: Action
    case_found: bool
    case_id: str | None = None
    duplicate: bool = False  # delivered before: answered as then, nothing done again


class ReplyInProgress(Exception):
    """The same reply is being acted on by another delivery right now: retry shortly."""


class CaseReplies(Protocol):
    """The three `service.cases.Cases` calls a reply may make."""

    async def cease(self, case_id: str, request: CeaseContact) -> None: ...

    async def third_party_refused(self, case_id: str, refusal: ThirdPartyRefusal) -> None: ...

    async def borrower_reply(self, case_id: str, reply: BorrowerReply) -> UpdateResult: ...


class Replies:
    """Replies for the cases of `cases`, routed by `engine`'s `reply_routes` under `secret` (the same secret
    the contact activity digests addresses with)."""

    def __init__(self, cases: CaseReplies, engine: AsyncEngine, secret: bytes, keywords: ReplyKeywords | None = None,
                 country: str | None = None, stale_after: timedelta = timedelta(minutes=2)):
        """`keywords`: config/replies.yaml's unless given. `country`: the region a national number is read in
        when the reply names none."""
        if not secret:
            raise ValueError("the reply-route secret is empty")
        self.cases, self.engine, self.secret = cases, engine, secret
        self.keywords = keywords if keywords is not None else store.load_keywords()
        self.country, self.stale_after = country, stale_after

    async def receive(self, reply: InboundReply) -> ReplyOutcome:
        """Act on the reply once; a later delivery of it answers what the first came to."""
        if not await store.claim_inbound(self.engine, reply.provider, reply.message_id, reply.channel,
                                         reply.received_at, self.stale_after):
            return await self._as_before(reply)
        try:
            outcome = await self._act(reply)
        except BaseException:
            try:
                await store.release_inbound(self.engine, reply.provider, reply.message_id)
            except Exception:  # the ledger is down too: the claim goes stale and a retry takes it over
                log.warning("could not release an inbound claim", extra={"provider": reply.provider,
                                                                         "message_id": reply.message_id})
            raise
        await store.settle_inbound(self.engine, reply.provider, reply.message_id, outcome.case_id, outcome.action)
        log.info("inbound reply", extra={"provider": reply.provider, "message_id": reply.message_id,
                                         "channel": reply.channel, "case_id": outcome.case_id,
                                         "action": outcome.action})
        return outcome

    async def _as_before(self, reply: InboundReply) -> ReplyOutcome:
        seen = await store.inbound(self.engine, reply.provider, reply.message_id)
        if seen is None:  # released between the claim and this read: the provider's retry will claim it
            raise ReplyInProgress("the reply is being received by another delivery: retry")
        if seen.action == store.PENDING:
            raise ReplyInProgress("the reply is being acted on by another delivery: retry")
        return ReplyOutcome(action=cast(Action, seen.action), case_found=seen.case_id is not None,
                            case_id=seen.case_id, duplicate=True)

    async def _act(self, reply: InboundReply) -> ReplyOutcome:
        country = reply.country or self.country
        try:
            digest = store.address_digest(self.secret, reply.channel, reply.from_, country)
        except AddressError:  # a short code, an alphanumeric sender, a national number with no country
            return ReplyOutcome(action="unmatched", case_found=False)
        routes = await store.find_routes(self.engine, digest, reply.channel)
        if not routes:
            return ReplyOutcome(action="unmatched", case_found=False)
        body = reply_body(reply.text) if reply.channel == "email" else reply.text
        keyword = matched(body, self.keywords) if body.strip() else None
        if keyword is None and reply.subject:  # the List-Unsubscribe mail: "stop" in the subject, nothing else
            keyword = matched(reply.subject, self.keywords)
        if not body.strip():
            body = (reply.subject or "").strip()
        if keyword is not None:
            return await self._stop(reply, routes, keyword, country)
        if routes[0].person is Person.EMERGENCY_CONTACT:
            return ReplyOutcome(action="third_party_message", case_found=True, case_id=routes[0].case_id)
        return await self._task(reply, [r for r in routes if r.person is Person.BORROWER], body)

    async def _stop(self, reply: InboundReply, routes: list[Route], keyword: str, country: str | None,
                    ) -> ReplyOutcome:
        """Every running case that messaged the address: the channel ceased, or the third party's refusal."""
        first: ReplyOutcome | None = None
        for route in routes:
            call: Callable[[], Awaitable[object]]
            if route.person is Person.BORROWER:
                action: Action = "stop"
                request = CeaseContact(scope=CeaseScope.CHANNEL, channel=reply.channel, reason=f"replied {keyword}")
                call = functools.partial(self.cases.cease, route.case_id, request)
            elif reply.channel == "sms":
                action = "third_party_refused"
                refusal = ThirdPartyRefusal(number=e164(reply.from_, country))
                call = functools.partial(self.cases.third_party_refused, route.case_id, refusal)
            else:  # not written by `record_route`: a refusal names a number
                action = "third_party_message"
                call = _nothing
            done = await self._on_running_case(route.case_id, call, action)
            if first is None or (first.action == "case_closed" and done.action != "case_closed"):
                first = done
        assert first is not None
        return first

    async def _task(self, reply: InboundReply, routes: list[Route], body: str) -> ReplyOutcome:
        """A task on the most recently messaged borrower's case that is still running."""
        text = body if len(body) <= TASK_TEXT_LIMIT else body[:TASK_TEXT_LIMIT - len(CUT)] + CUT
        message = BorrowerReply(channel=reply.channel, text=text, received_at=reply.received_at,
                                message_id=reply.message_id)
        outcome = ReplyOutcome(action="case_closed", case_found=True, case_id=routes[0].case_id if routes else None)
        for route in routes:
            outcome = await self._on_running_case(
                route.case_id, functools.partial(self.cases.borrower_reply, route.case_id, message), "task")
            if outcome.action != "case_closed":
                return outcome
        return outcome

    async def _on_running_case(self, case_id: str, call: Callable[[], Awaitable[object]], action: Action,
                               ) -> ReplyOutcome:
        """`call`'s outcome; a closed (or vanished) case or a refusal is recorded, not raised. `TemporalError`
        propagates: the webhook answers 503 and the provider retries."""
        try:
            await call()
        except (CaseClosed, CaseNotFound):
            return ReplyOutcome(action="case_closed", case_found=True, case_id=case_id)
        except UpdateRejected:
            log.warning("a case refused an inbound reply", extra={"case_id": case_id})
            return ReplyOutcome(action="rejected", case_found=True, case_id=case_id)
        return ReplyOutcome(action=action, case_found=True, case_id=case_id)


async def _nothing() -> None:
    return None
