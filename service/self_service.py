"""`Portal`: the borrower's self-service page as a service. Opens a link, proves who the borrower is with a
one-time code, and then reads and drives only that link's case, through the case's own updates.

Security choices (the lender's; sources in docs/research/self-service.md §4): a link's token is 256 bits and
stored only as a digest; a code has 6 digits, lives 10 minutes and is used once (NIST SP 800-63B out-of-band
codes); 5 wrong codes void it, 3 codes per session; 10 failed proofs lock the link for a day and ask the
care team to call (OWASP ASVS 2.2.1 allows at most 100 an hour: this is far stricter); a session ends after
15 idle minutes and at most an hour; a verified session gets a new id. What fails never says why in a way
that helps a guesser: a bad, expired, revoked or locked link all read "this link does not work".
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from adapters.db import CODE_MESSAGE_PREFIX
from adapters.providers import ChannelProvider, OutboundRequest, ProviderError
from adapters.self_service import Link, SelfServiceStore, Session
from adapters.templates import TemplateLibrary
from domain.enums import Channel
from domain.messages import UpdateResult
from domain.policy import Sender
from domain.self_service import SelfServiceRequest
from domain.status import CaseStatus
from service.cases import Cases, CaseServiceError


@dataclass(frozen=True)
class PortalSecurity:
    code_digits: int = 6
    code_life: timedelta = timedelta(minutes=10)
    wrong_codes: int = 5  # a code is void after this many wrong tries
    codes_per_session: int = 3
    codes_per_link_per_day: int = 5  # whatever the sessions: a link cannot be used to flood the borrower
    lock_after: int = 10  # failed proofs on one link, then it is locked
    lock_for: timedelta = timedelta(hours=24)
    idle: timedelta = timedelta(minutes=15)
    session_life: timedelta = timedelta(hours=1)


class PortalRefused(Exception):
    """The page cannot do that; `reason` is a key the page words in the borrower's language."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(reason)
        self.reason, self.detail = reason, detail


@dataclass(frozen=True)
class Verified:
    cookie: str
    case_id: str


def mask(destination: str) -> str:
    """Enough for the borrower to recognise where the code went, no more."""
    if "@" in destination:
        name, domain = destination.split("@", 1)
        return f"{name[:1]}***@{domain}"
    digits = "".join(c for c in destination if c.isdigit())
    return f"*** {digits[-4:]}" if len(digits) >= 4 else "***"


class Portal:
    def __init__(self, cases: Cases, store: SelfServiceStore, providers: Mapping[Channel, ChannelProvider],
                 templates: TemplateLibrary, sender: Sender, security: PortalSecurity | None = None,
                 now: Callable[[], datetime] | None = None, senders: Callable[[str], Sender] | None = None):
        """`providers` send the one-time codes (SMS, e-mail); they are from the case's policy's sender
        (`senders`: a policy's name to its sender), or `sender` where that cannot be read."""
        self.cases, self.store, self.providers, self.templates = cases, store, providers, templates
        self.sender, self.senders = sender, senders
        self.security = security or PortalSecurity()
        self.now = now or (lambda: datetime.now(UTC))

    # --- getting in ------------------------------------------------------------------------------

    async def open(self, token: str) -> tuple[str, Link]:
        """A link followed: an unverified session's cookie. Refused alike for any link that does not work."""
        link = await self.store.link(token) if 20 <= len(token) <= 64 else None
        if link is None or not link.usable(self.now()) or await self._closed(link.case_id) or \
                await self._strangers(link):
            raise PortalRefused("link")
        return await self.store.open_session(link, self.now(), self.security.idle), link

    async def session(self, cookie: str | None, verified: bool = True) -> Session:
        """The cookie's live session (touched), or `PortalRefused("session")`."""
        s = await self.store.session(cookie) if cookie else None
        now = self.now()
        if s is None or s.ended_at is not None or now >= s.expires_at or now - s.last_seen_at > self.security.idle:
            raise PortalRefused("session")
        if verified and s.verified_at is None:
            raise PortalRefused("session")
        link = await self._link_of(s)
        if link is None or not link.usable(now) or await self._strangers(link):  # a stranger signed in: out
            raise PortalRefused("session")
        await self.store.touch(s, now)
        return s

    async def send_code(self, session: Session, locale: str) -> str:
        """A code to where the link was sent (SMS or e-mail); answers where, masked."""
        if session.codes_sent >= self.security.codes_per_session:
            raise PortalRefused("too_many_codes")
        since = self.now() - timedelta(days=1)
        if await self.store.codes_sent(session.token_digest, since) >= self.security.codes_per_link_per_day:
            raise PortalRefused("too_many_codes")
        link = await self._link_of(session)
        if link is None:
            raise PortalRefused("session")
        destination = await self.store.destination(link)
        channel = Channel(link.channel)
        if destination is None or channel not in (Channel.SMS, Channel.EMAIL) or channel not in self.providers:
            raise PortalRefused("no_destination")
        sender = await self._sender(session)
        code = await self.store.new_code(session, self.now(), self.security.code_life, self.security.code_digits)
        minutes = str(int(self.security.code_life.total_seconds() // 60))
        body = self.templates.render("self_service_code", locale, {
            "code": code, "minutes": minutes, "sender_name": sender.name,
            "sender_number": sender.contact_number}, with_opt_out=False)
        try:
            await self.providers[channel].deliver(OutboundRequest(
                idempotency_key=f"{CODE_MESSAGE_PREFIX}{session.ref}:{session.codes_sent + 1}", channel=channel,
                to=destination, body=body, locale=locale, template="self_service_code",
                subject=f"{sender.name}: {code}" if channel is Channel.EMAIL else None,
                sender=sender if channel is Channel.EMAIL else None))
        except ProviderError as e:
            raise PortalRefused("no_destination") from e
        return mask(destination)

    async def verify(self, session: Session, code: str) -> Verified:
        link = await self._link_of(session)
        if link is None:
            raise PortalRefused("session")
        if session.code_attempts >= self.security.wrong_codes:
            raise PortalRefused("code_void")
        if await self.store.check_code(session, code.strip(), self.now()):
            return Verified(await self.store.verify(session, self.now(), self.security.session_life), session.case_id)
        if await self.store.fail(link, self.now(), self.security.lock_after, self.security.lock_for):
            await self.store.end(session, self.now())
            await self._ask_a_person(session)
            raise PortalRefused("locked")
        if session.code_attempts + 1 >= self.security.wrong_codes:
            await self.store.void_code(session)
            raise PortalRefused("code_void")
        raise PortalRefused("wrong_code", str(self.security.wrong_codes - session.code_attempts - 1))

    async def sign_out(self, session: Session) -> None:
        await self.store.end(session, self.now())

    # --- the case --------------------------------------------------------------------------------

    async def view(self, session: Session) -> CaseStatus:
        """The case as it is now (the workflow's own answer, not the ledger's last copy)."""
        return await self.cases.status(session.case_id, fresh=True)

    async def rule_packs(self, session: Session) -> list[str]:
        """The case's rule packs (its crisis line, on every page, even before the code): nothing personal."""
        try:
            return (await self.cases.status(session.case_id)).rule_packs
        except CaseServiceError:
            return []

    async def act(self, session: Session, request: SelfServiceRequest) -> UpdateResult:
        """Through the case's `self_service` update: its validators decide (raises `UpdateRejected`)."""
        return await self.cases.self_service(session.case_id, request.model_copy(update={"session": session.ref}))

    async def _sender(self, session: Session) -> Sender:
        """Who the case's messages are from: its policy's sender."""
        if self.senders is None:
            return self.sender
        try:
            return self.senders((await self.cases.status(session.case_id)).policy.split("@")[0])
        except CaseServiceError:
            return self.sender

    async def _strangers(self, link: Link) -> bool:
        """The number the link went to answered as a stranger's: what it opens is not theirs (revoked)."""
        if await self.store.stranger_answered(link):
            await self.store.revoke(link, self.now())
            return True
        return False

    async def _closed(self, case_id: str) -> bool:
        """A closed case's links open nothing (it has nothing more to offer), and are revoked."""
        with contextlib.suppress(CaseServiceError):
            if (await self.cases.status(case_id)).stage.terminal:
                await self.store.revoke_case(case_id, self.now())
                return True
        return False

    async def _link_of(self, session: Session) -> Link | None:
        return await self.store.link_by_digest(session.token_digest)

    async def _ask_a_person(self, session: Session) -> None:
        """A link locked after repeated failures: the care team calls the borrower (who may be locked out)."""
        with contextlib.suppress(CaseServiceError):  # a person asked already, or the case closed: the lock stands
            await self.cases.self_service(session.case_id, SelfServiceRequest(kind="talk_to_person",
                                                                               session=session.ref))
