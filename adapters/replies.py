"""Where an inbound reply belongs, and each reply once: the `reply_routes` and `inbound_messages` tables.

A route is written after each SMS or e-mail a case sends, keyed by a keyed digest (HMAC-SHA256 under a
server secret) of the normalised address, so a reply finds its case without the ledger holding the
address: a stolen table cannot be reversed by hashing every number. An inbound reply is claimed by its
provider's message id before anything acts on it, so a webhook delivered twice acts once.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from sqlalchemy import Result, Select, and_, case, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from adapters.config_files import CONFIG_DIR, ConfigError
from adapters.db import inbound_messages, reply_routes
from domain.enums import Person
from domain.errors import explain
from domain.replies import ReplyChannel, ReplyKeywords, normalise_address

PENDING = "pending"  # claimed, not yet acted on (or the acting failed and was not released)


def load_keywords(base: Path = CONFIG_DIR) -> ReplyKeywords:
    """config/replies.yaml, checked; a `ConfigError` naming the field when it is wrong."""
    path = base / "replies.yaml"
    try:
        return ReplyKeywords.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise ConfigError("no replies.yaml in the configuration folder") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"replies.yaml is not valid YAML: {e}") from e
    except ValidationError as e:
        raise ConfigError(f"replies.yaml is invalid: {explain(e)}") from e


def address_digest(secret: bytes, channel: ReplyChannel, address: str, country: str | None = None) -> str:
    """The route key of a number (E.164; `country` reads a national number) or an e-mail address (lower
    case): hex HMAC-SHA256 under `secret`. Raises `domain.replies.AddressError` (no address in it)."""
    if not secret:
        raise ValueError("the reply-route secret is empty")
    canonical = normalise_address(channel, address, country)
    return hmac.new(secret, canonical.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Route:
    """A case that messaged an address on a channel: the borrower, or an emergency contact (`contact_ref`
    is the case's phone ref for the number)."""

    case_id: str
    channel: ReplyChannel
    person: Person
    contact_ref: str | None
    last_sent_at: datetime


@dataclass(frozen=True)
class Inbound:
    """What an inbound reply came to (`action` is `PENDING` until it is settled)."""

    action: str
    case_id: str | None
    channel: str


async def record_route(db: AsyncEngine | AsyncConnection, secret: bytes, case_id: str, channel: ReplyChannel,
                       person: Person, contact_ref: str | None, address: str, country: str | None,
                       at: datetime) -> str:
    """After a message is sent: this case messaged this address at `at`. Upserted, `last_sent_at` the
    later of the two (a retried activity never moves it back); person and ref as of the later send.
    Inside the caller's transaction when given a connection. Returns the digest."""
    if at.tzinfo is None:
        raise ValueError("`at` must carry a timezone")
    if person is Person.EMERGENCY_CONTACT and channel != "sms":
        raise ValueError("an emergency contact is reached by number only: its refusal names the number")
    digest = address_digest(secret, channel, address, country)
    stmt = insert(reply_routes).values(address_digest=digest, case_id=case_id, channel=channel,
                                       person=person.value, contact_ref=contact_ref, last_sent_at=at)
    later = stmt.excluded.last_sent_at >= reply_routes.c.last_sent_at
    stmt = stmt.on_conflict_do_update(
        index_elements=[reply_routes.c.address_digest, reply_routes.c.case_id, reply_routes.c.channel],
        set_={"last_sent_at": func.greatest(reply_routes.c.last_sent_at, stmt.excluded.last_sent_at),
              "person": case((later, stmt.excluded.person), else_=reply_routes.c.person),
              "contact_ref": case((later, stmt.excluded.contact_ref), else_=reply_routes.c.contact_ref)})
    if isinstance(db, AsyncEngine):
        async with db.begin() as conn:
            await conn.execute(stmt)
    else:
        await db.execute(stmt)
    return digest


async def find_routes(engine: AsyncEngine, digest: str, channel: ReplyChannel, limit: int = 20) -> list[Route]:
    """Every case that messaged the address on the channel, the most recently messaged first."""
    rows = (await _read(engine, select(reply_routes).where(
        reply_routes.c.address_digest == digest, reply_routes.c.channel == channel,
    ).order_by(reply_routes.c.last_sent_at.desc(), reply_routes.c.case_id).limit(limit))).all()
    return [Route(case_id=r.case_id, channel=r.channel, person=Person(r.person), contact_ref=r.contact_ref,
                  last_sent_at=r.last_sent_at) for r in rows]


async def find_route(engine: AsyncEngine, digest: str, channel: ReplyChannel) -> Route | None:
    """The case that messaged the address on the channel most recently, if any did."""
    routes = await find_routes(engine, digest, channel, limit=1)
    return routes[0] if routes else None


async def claim_inbound(engine: AsyncEngine, provider: str, message_id: str, channel: ReplyChannel,
                        received_at: datetime, stale_after: timedelta = timedelta(minutes=2)) -> bool:
    """True when this call may act on the reply: it is new, or an earlier claim was never settled and is
    older than `stale_after` (its process died between claiming and settling; it is taken over). False for
    a reply seen before: settled, or being acted on now."""
    async with engine.begin() as conn:
        inserted = await conn.execute(insert(inbound_messages).values(
            provider=provider, message_id=message_id, channel=channel, received_at=received_at, action=PENDING,
        ).on_conflict_do_nothing(index_elements=["provider", "message_id"]))
        if inserted.rowcount == 1:
            return True
        taken = await conn.execute(update(inbound_messages).where(
            _key(provider, message_id), inbound_messages.c.action == PENDING,
            inbound_messages.c.created_at < func.now() - stale_after,
        ).values(created_at=func.now()))
        return bool(taken.rowcount == 1)


async def inbound(engine: AsyncEngine, provider: str, message_id: str) -> Inbound | None:
    """What a reply came to, if it was claimed."""
    row = (await _read(engine, select(inbound_messages.c.action, inbound_messages.c.case_id,
                                      inbound_messages.c.channel).where(_key(provider, message_id)))).first()
    return Inbound(action=row.action, case_id=row.case_id, channel=row.channel) if row else None


async def settle_inbound(engine: AsyncEngine, provider: str, message_id: str, case_id: str | None,
                         action: str) -> None:
    """What the claimed reply came to: a later delivery of it answers this without acting."""
    if action == PENDING:
        raise ValueError("settle with what the reply came to, not 'pending'")
    async with engine.begin() as conn:
        await conn.execute(update(inbound_messages).where(_key(provider, message_id))
                           .values(case_id=case_id, action=action))


async def release_inbound(engine: AsyncEngine, provider: str, message_id: str) -> None:
    """Give back an unsettled claim (acting failed): the provider's retry acts afresh."""
    async with engine.begin() as conn:
        await conn.execute(delete(inbound_messages).where(_key(provider, message_id),
                                                          inbound_messages.c.action == PENDING))


def _key(provider: str, message_id: str) -> ColumnElement[bool]:
    return and_(inbound_messages.c.provider == provider, inbound_messages.c.message_id == message_id)


async def _read(engine: AsyncEngine, stmt: Select[Any]) -> Result[Any]:
    """A read on a connection of its own (the rows are buffered before it is returned to the pool)."""
    async with engine.connect() as conn:
        return (await conn.execute(stmt)).freeze()()
