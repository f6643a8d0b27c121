"""The self-service page's records: links (opaque tokens, stored only as digests), sessions (a cookie's
digest) and one-time codes (digests), in the ledger's database.

A link's token is derived from the message that carries it (HMAC of its idempotency key under the server's
secret), so a retried send issues the same link and nothing is stored that opens the page. Where a code goes
(the number or address the link was sent to) is sealed under the case's key, like the journal's personal
fields: erasing the case erases it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters import db
from adapters.ledger import LedgerTx, open_sealed, seal_value


def digest(secret_value: str) -> str:
    return hashlib.sha256(secret_value.encode()).hexdigest()


@dataclass(frozen=True)
class Link:
    token_digest: str
    case_id: str
    channel: str
    locale: str
    expires_at: datetime
    revoked_at: datetime | None
    failures: int
    locked_until: datetime | None

    def usable(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at and (self.locked_until is None
                                                                       or now >= self.locked_until)


@dataclass(frozen=True)
class Session:
    session_digest: str
    token_digest: str
    case_id: str
    verified_at: datetime | None
    code_digest: str | None
    code_expires_at: datetime | None
    code_attempts: int
    codes_sent: int
    last_seen_at: datetime
    expires_at: datetime
    ended_at: datetime | None

    @property
    def ref(self) -> str:
        """A short reference for the journal and logs: never enough to open the session."""
        return self.session_digest[:12]


class SelfServiceStore:
    def __init__(self, engine: AsyncEngine, secret: bytes):
        self.engine, self.secret = engine, secret

    # --- links -----------------------------------------------------------------------------------

    def token_for(self, attempt_key: str) -> str:
        """The link's token for the message `attempt_key`: 256 bits, the same on every retry of that message."""
        mac = hmac.new(self.secret, f"self-service-link:{attempt_key}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    async def issue(self, *, case_id: str, attempt_key: str, channel: str, destination: str, locale: str,
                    expires_at: datetime) -> str:
        """The link's token, recorded once (a retry finds the first record)."""
        token = self.token_for(attempt_key)
        token_digest = digest(token)
        async with self.engine.begin() as conn:
            key = await LedgerTx(conn).case_key(case_id)
            sealed = seal_value(key, case_id, token_digest, "destination", destination)
            await conn.execute(insert(db.self_service_links).values(
                token_digest=token_digest, case_id=case_id, attempt_key=attempt_key, channel=channel,
                destination=sealed, locale=locale, expires_at=expires_at,
            ).on_conflict_do_nothing(index_elements=["token_digest"]))
        return token

    async def link(self, token: str) -> Link | None:
        return await self.link_by_digest(digest(token))

    async def link_by_digest(self, token_digest: str) -> Link | None:
        t = db.self_service_links
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(t).where(t.c.token_digest == token_digest))).mappings().first()
        return _link(row) if row is not None else None

    async def destination(self, link: Link) -> str | None:
        """Where the link was sent: where its one-time code goes (None once the case is erased)."""
        t = db.self_service_links
        async with self.engine.connect() as conn:
            sealed = await conn.scalar(select(t.c.destination).where(t.c.token_digest == link.token_digest))
            key = await conn.scalar(select(db.case_keys.c.key).where(db.case_keys.c.case_id == link.case_id))
        value = open_sealed(key, link.case_id, link.token_digest, "destination", sealed)
        return value if isinstance(value, str) else None

    async def fail(self, link: Link, now: datetime, lock_after: int, lock_for: timedelta) -> bool:
        """One more failed proof on this link; True when it is now locked."""
        t = db.self_service_links
        async with self.engine.begin() as conn:
            failures = await conn.scalar(update(t).where(t.c.token_digest == link.token_digest)
                                         .values(failures=t.c.failures + 1).returning(t.c.failures))
            if failures is not None and failures >= lock_after:
                await conn.execute(update(t).where(t.c.token_digest == link.token_digest)
                                   .values(locked_until=now + lock_for, failures=0))
                return True
        return False

    async def stranger_answered(self, link: Link) -> bool:
        """A stranger answered the number the link was sent to (the case's journal says `wrong_number`)."""
        async with self.engine.connect() as conn:
            return (await conn.execute(text(
                "SELECT 1 FROM self_service_links l JOIN contact_attempts a ON a.idempotency_key = l.attempt_key "
                "JOIN case_events e ON e.case_id = l.case_id AND e.kind = 'wrong_number' "
                "AND e.data ->> 'phone_ref' = a.phone_ref WHERE l.token_digest = :d LIMIT 1"),
                {"d": link.token_digest})).first() is not None

    async def revoke(self, link: Link, now: datetime) -> None:
        t = db.self_service_links
        async with self.engine.begin() as conn:
            await conn.execute(update(t).where(t.c.token_digest == link.token_digest, t.c.revoked_at.is_(None))
                               .values(revoked_at=now))

    async def revoke_case(self, case_id: str, now: datetime) -> None:
        """Every link of a case stops opening (the case closed, or the borrower signed out everywhere)."""
        t = db.self_service_links
        async with self.engine.begin() as conn:
            await conn.execute(update(t).where(t.c.case_id == case_id, t.c.revoked_at.is_(None)).values(revoked_at=now))

    # --- sessions --------------------------------------------------------------------------------

    async def open_session(self, link: Link, now: datetime, life: timedelta) -> str:
        """A new, unverified session for `link`: the cookie's value (only its digest is kept)."""
        cookie = secrets.token_urlsafe(32)
        async with self.engine.begin() as conn:
            await conn.execute(insert(db.self_service_sessions).values(
                session_digest=digest(cookie), token_digest=link.token_digest, case_id=link.case_id,
                last_seen_at=now, expires_at=now + life))
        return cookie

    async def session(self, cookie: str) -> Session | None:
        t = db.self_service_sessions
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(t).where(t.c.session_digest == digest(cookie)))).mappings().first()
        return _session(row) if row is not None else None

    async def codes_sent(self, token_digest: str, since: datetime) -> int:
        """Codes sent for a link by every session opened since `since`."""
        t = db.self_service_sessions
        async with self.engine.connect() as conn:
            return int((await conn.execute(select(func.coalesce(func.sum(t.c.codes_sent), 0)).where(
                t.c.token_digest == token_digest, t.c.created_at >= since))).scalar_one())

    async def touch(self, session: Session, now: datetime) -> None:
        await self._set(session, last_seen_at=now)

    async def end(self, session: Session, now: datetime) -> None:
        await self._set(session, ended_at=now)

    async def new_code(self, session: Session, now: datetime, life: timedelta, digits: int) -> str:
        """A fresh one-time code for the session (the last one is void); only its digest is kept."""
        code = "".join(str(secrets.randbelow(10)) for _ in range(digits))
        await self._set(session, code_digest=digest(f"{session.session_digest}:{code}"), code_expires_at=now + life,
                        code_attempts=0, codes_sent=session.codes_sent + 1)
        return code

    async def check_code(self, session: Session, code: str, now: datetime) -> bool:
        """Whether `code` is the session's live code; a wrong one counts against it, a right one is used up."""
        live = session.code_digest is not None and session.code_expires_at is not None \
            and now < session.code_expires_at
        right = live and hmac.compare_digest(digest(f"{session.session_digest}:{code}"), session.code_digest or "")
        if right:
            await self._set(session, code_digest=None, code_expires_at=None)
        else:
            await self._set(session, code_attempts=session.code_attempts + 1)
        return right

    async def void_code(self, session: Session) -> None:
        await self._set(session, code_digest=None, code_expires_at=None)

    async def verify(self, session: Session, now: datetime, life: timedelta) -> str:
        """The code was right: a new session id (the old one ends), verified, with its own life."""
        cookie = secrets.token_urlsafe(32)
        async with self.engine.begin() as conn:
            t = db.self_service_sessions
            await conn.execute(update(t).where(t.c.session_digest == session.session_digest).values(ended_at=now))
            await conn.execute(insert(t).values(
                session_digest=digest(cookie), token_digest=session.token_digest, case_id=session.case_id,
                verified_at=now, last_seen_at=now, expires_at=now + life))  # its codes stay counted on the old one
        return cookie

    async def _set(self, session: Session, **values: Any) -> None:
        t = db.self_service_sessions
        async with self.engine.begin() as conn:
            await conn.execute(update(t).where(t.c.session_digest == session.session_digest).values(**values))


def _link(row: Any) -> Link:
    return Link(token_digest=row["token_digest"], case_id=row["case_id"], channel=row["channel"],
                locale=row["locale"], expires_at=row["expires_at"], revoked_at=row["revoked_at"],
                failures=row["failures"], locked_until=row["locked_until"])


def _session(row: Any) -> Session:
    return Session(**{f: row[f] for f in Session.__dataclass_fields__})
