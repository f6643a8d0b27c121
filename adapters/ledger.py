"""The Postgres ledger: every action of every case, written once per idempotency key.

Writes go through a `LedgerTx` (one transaction), so what one step of a case owes the ledger (its
journal entries, the case row, a visit or plan row, a hand-off) lands whole or not at all, in one
round of statements instead of one transaction per fact. `Ledger`'s own methods are the same writes,
each in a transaction of its own, and the reads (the journal for the auditor, a case's row).
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import (
    Table,
    bindparam,
    delete,
    func,
    null,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters import db
from domain import retention as rt
from domain.journal import GENESIS, Entry, entry_hash

Event = tuple[str, str, datetime, dict[str, Any]]  # idempotency key, kind, at, data

def _now() -> datetime:
    return datetime.now().astimezone()


class LedgerTx:
    """The ledger's writes inside one transaction."""

    def __init__(self, conn: AsyncConnection):
        self.conn = conn

    async def _insert_once(self, table: Table, key_columns: list[str], **values: Any) -> bool:
        """Insert unless a row with the same key exists; True when this call wrote it."""
        stmt = insert(table).values(**values).on_conflict_do_nothing(index_elements=key_columns)
        return (await self.conn.execute(stmt)).rowcount == 1

    async def _upsert(self, table: Table, key: str, values: dict[str, Any], update_cols: list[str]) -> None:
        stmt = insert(table).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[key], set_={c: stmt.excluded[c] for c in update_cols} | {"updated_at": _now()})
        await self.conn.execute(stmt)

    async def open_case(self, **values: Any) -> None:
        await self._insert_once(db.cases, ["case_id"], **values)

    async def update_case(self, case_id: str, **values: Any) -> None:
        await self.conn.execute(update(db.cases).where(db.cases.c.case_id == case_id)
                                .values(**values, updated_at=_now()))

    async def append_events(self, case_id: str, events: list[Event]) -> int:
        """Append to the case's journal, chained to its last entry, each once per key; how many were new.
        Writers of one case queue on a transaction-scoped advisory lock, so the chain has no forks."""
        if not events:
            return 0
        table = db.case_events
        await self.conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:c, 0))"), {"c": case_id})
        keys = [key for key, *_ in events]
        seen = set((await self.conn.scalars(select(table.c.idempotency_key)
                                            .where(table.c.idempotency_key.in_(keys)))).all())
        last = (await self.conn.execute(select(table.c.seq, table.c.hash).where(table.c.case_id == case_id)
                                        .order_by(table.c.seq.desc()).limit(1))).first()
        seq, prev = (last.seq, last.hash) if last else (0, GENESIS)
        rows = []
        for key, kind, at, data in events:
            if key in seen:
                continue
            seen.add(key)
            seq += 1
            digest = entry_hash(prev, case_id, seq, key, kind, at, data)
            rows.append({"case_id": case_id, "idempotency_key": key, "kind": kind, "at": at, "data": data,
                         "seq": seq, "prev_hash": prev, "hash": digest})
            prev = digest
        if rows:
            await self.conn.execute(insert(table), rows)
        return len(rows)

    async def begin_attempt(self, **values: Any) -> dict[str, Any] | None:
        """Claim an attempt's key. Returns the existing row when it was claimed before (a retry)."""
        if await self._insert_once(db.contact_attempts, ["idempotency_key"], outcome="pending", **values):
            return None
        row = (await self.conn.execute(select(db.contact_attempts).where(
            db.contact_attempts.c.idempotency_key == values["idempotency_key"]))).mappings().one()
        return dict(row)

    async def finish_attempt(self, key: str, **values: Any) -> None:
        await self.conn.execute(update(db.contact_attempts).where(db.contact_attempts.c.idempotency_key == key)
                                .values(**values, updated_at=_now()))

    async def record_payment(self, case_id: str, reference: str, amount: Decimal, currency: str,
                             paid_at: datetime, balance_after: Decimal,
                             allocation: dict[str, str] | None = None) -> bool:
        return await self._insert_once(
            db.payments, ["case_id", "reference"], case_id=case_id, reference=reference, amount=amount,
            currency=currency, paid_at=paid_at, balance_after=balance_after, allocation=allocation)

    async def upsert_promise(self, at: datetime | None = None, **values: Any) -> None:
        """A promise's row: made at `at`, its status updated at `at` (the case's time, so a snapshot of the
        case at a moment sees exactly the promises of that moment); without it, the database's clock."""
        if at is None:
            await self._upsert(db.promises, "promise_id", values, ["status"])
            return
        stmt = insert(db.promises).values(**values, created_at=at, updated_at=at)
        later = {"status": stmt.excluded.status, "updated_at": stmt.excluded.updated_at}
        await self.conn.execute(stmt.on_conflict_do_update(index_elements=["promise_id"], set_=later))

    async def upsert_visit(self, **values: Any) -> None:
        await self._upsert(db.visits, "visit_id", values,
                           [c for c in ("status", "result", "collectors", "distress", "decided_by") if c in values])

    async def upsert_plan(self, **values: Any) -> None:
        await self._upsert(db.plans, "plan_id", values, [c for c in ("status", "decided_by") if c in values])

    async def upsert_early_warning(self, **values: Any) -> None:
        """An early warning's row: written at its start, again when reminded and when it ends (once each:
        a replayed write finds the same values)."""
        stmt = insert(db.early_warnings).values(**values)
        later = [c for c in ("reminded_at", "outcome", "outcome_at") if values.get(c) is not None]
        if later:
            await self.conn.execute(stmt.on_conflict_do_update(index_elements=["case_id"],
                                                               set_={c: stmt.excluded[c] for c in later}))
        else:
            await self.conn.execute(stmt.on_conflict_do_nothing(index_elements=["case_id"]))

    async def record_escalation(self, case_id: str, key: str, kind: str, reason: str, at: datetime) -> bool:
        return await self._insert_once(db.escalations, ["idempotency_key"], case_id=case_id, idempotency_key=key,
                                       kind=kind, reason=reason, at=at)

    # --- personal data: sealed in the journal, erased when its retention ends ---------------------

    async def case_key(self, case_id: str) -> bytes | None:
        """The case's key for its journal's personal fields, made on first use; None once destroyed."""
        await self.conn.execute(insert(db.case_keys).values(case_id=case_id, key=os.urandom(32), created_at=_now())
                                .on_conflict_do_nothing(index_elements=["case_id"]))
        return await self.conn.scalar(select(db.case_keys.c.key).where(db.case_keys.c.case_id == case_id))

    async def append_sealed_events(self, case_id: str, events: list[Event]) -> int:
        """As `append_events`, with each entry's personal fields (`domain.retention.JOURNAL_PERSONAL_FIELDS`)
        sealed first under the case's own key, so the chain covers their ciphertext: destroying the key
        erases them and every chain still verifies. Once the key is destroyed they are written erased."""
        if not any(kind in rt.JOURNAL_PERSONAL_FIELDS for _, kind, _, _ in events):
            return await self.append_events(case_id, events)
        key = await self.case_key(case_id)
        return await self.append_events(case_id, [
            (entry_key, kind, at, rt.map_personal(kind, data, _sealer(key, case_id, entry_key)))
            for entry_key, kind, at, data in events])

    async def retention_candidates(self, case_ids: list[str] | None = None, closed_before: datetime | None = None,
                                   lock: bool = False) -> list[dict[str, Any]]:
        """Closed cases with what personal data each still holds outside the journal, counted by place;
        `lock` holds their case rows for this transaction (an erasure)."""
        return await _retention_candidates(self.conn, case_ids, closed_before, lock)

    async def entries(self, case_id: str) -> list[Entry]:
        """One case's journal in chain order, read inside this transaction."""
        return (await _journal(self.conn, case_id)).get(case_id, [])

    async def erase_personal_data(self, case_id: str, status: dict[str, Any] | None) -> dict[str, int]:
        """Deletes or blanks the case's personal data outside the journal's chained content, and destroys
        its key (which erases the journal's sealed fields); `status` is the case row's snapshot scrubbed
        (`domain.retention.scrub_status`). How many rows each place lost; nothing twice."""
        c = {"c": case_id}
        done = {
            "loans": (await self.conn.execute(text(
                "DELETE FROM loans WHERE \"case\" ->> 'case_id' = :c"), c)).rowcount,
            "sandbox_messages": (await self.conn.execute(text(
                "DELETE FROM sandbox_messages m USING contact_attempts a "
                "WHERE a.idempotency_key = m.idempotency_key AND a.case_id = :c"), c)).rowcount,
            "contact_refs": (await self.conn.execute(text(
                "UPDATE contact_attempts SET phone_ref = NULL, provider_message_id = NULL, updated_at = now() "
                "WHERE case_id = :c AND (phone_ref IS NOT NULL OR provider_message_id IS NOT NULL)"), c)).rowcount,
            "plan_reasons": (await self.conn.execute(text(
                "UPDATE plans SET reason = 'erased', updated_at = now() WHERE case_id = :c AND reason <> 'erased'"),
                c)).rowcount,
            "self_service": sum([(await self.conn.execute(text(  # the codes' copies, sessions, then links
                "DELETE FROM sandbox_messages m USING self_service_sessions s WHERE s.case_id = :c "
                "AND m.idempotency_key LIKE :prefix || left(s.session_digest, 12) || ':%'"),
                c | {"prefix": db.CODE_MESSAGE_PREFIX})).rowcount,
                (await self.conn.execute(delete(db.self_service_sessions)
                                         .where(db.self_service_sessions.c.case_id == case_id))).rowcount,
                (await self.conn.execute(delete(db.self_service_links)
                                         .where(db.self_service_links.c.case_id == case_id))).rowcount]),
            "reply_routes": (await self.conn.execute(
                delete(db.reply_routes).where(db.reply_routes.c.case_id == case_id))).rowcount,
            "case_key": (await self.conn.execute(
                update(db.case_keys).where(db.case_keys.c.case_id == case_id, db.case_keys.c.key.is_not(None))
                .values(key=None, destroyed_at=_now()))).rowcount,
        }
        await self.conn.execute(insert(db.case_keys).values(case_id=case_id, key=None, created_at=_now(),
                                                         destroyed_at=_now())
                                .on_conflict_do_nothing(index_elements=["case_id"]))  # no key made after this
        cases, snapshot = db.cases, status if status is not None else null()  # SQL NULL, not JSON null
        done["case_row"] = (await self.conn.execute(
            update(cases).where(cases.c.case_id == case_id,
                                cases.c.outcome_reason.is_not(None) | cases.c.status.is_distinct_from(snapshot))
            .values(status=snapshot, outcome_reason=None, updated_at=_now()))).rowcount
        return {place: n for place, n in done.items() if n}


class Ledger:
    def __init__(self, engine: AsyncEngine):
        self.engine = engine

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[LedgerTx]:
        async with self.engine.begin() as conn:
            yield LedgerTx(conn)

    async def record_event(self, case_id: str, key: str, kind: str, at: datetime, data: dict[str, Any]) -> bool:
        async with self.transaction() as tx:
            return await tx.append_events(case_id, [(key, kind, at, data)]) == 1

    async def begin_attempt(self, **values: Any) -> dict[str, Any] | None:
        async with self.transaction() as tx:
            return await tx.begin_attempt(**values)

    async def finish_attempt(self, key: str, **values: Any) -> None:
        async with self.transaction() as tx:
            await tx.finish_attempt(key, **values)

    async def record_escalation(self, case_id: str, key: str, kind: str, reason: str, at: datetime) -> bool:
        async with self.transaction() as tx:
            return await tx.record_escalation(case_id, key, kind, reason, at)

    async def journal(self, case_id: str | None = None) -> dict[str, list[Entry]]:
        """Every case's journal in chain order (for the auditor)."""
        events = db.case_events
        query = select(events).order_by(events.c.case_id, events.c.seq)
        if case_id:
            query = query.where(events.c.case_id == case_id)
        out: dict[str, list[Entry]] = {}
        async with self.engine.connect() as conn:
            for row in (await conn.execute(query)).mappings():
                out.setdefault(row["case_id"], []).append(Entry(
                    case_id=row["case_id"], seq=row["seq"], key=row["idempotency_key"], kind=row["kind"],
                    at=row["at"], data=row["data"], prev_hash=row["prev_hash"], hash=row["hash"]))
        return out

    async def case_status(self, case_id: str) -> dict[str, Any] | None:
        """The case's `status` as of its last ledger write (no workflow query, no wait on a busy worker),
        with its contacts as the contact ledger has them now: a contact's own transaction writes its row
        and its outcome, not the case row, which would otherwise lag one contact behind."""
        attempts = db.contact_attempts
        async with self.engine.connect() as conn:
            status = await conn.scalar(select(db.cases.c.status).where(db.cases.c.case_id == case_id))
            if status is None:
                return None
            done = (attempts.c.case_id == case_id) & (attempts.c.outcome != "pending")
            counts = {row.channel: row.n for row in await conn.execute(
                select(attempts.c.channel, func.count().label("n")).where(done).group_by(attempts.c.channel))}
            talks = await conn.scalar(select(func.count()).where(done & (attempts.c.outcome == "conversation")))
            last = (await conn.execute(select(attempts).where(done).order_by(
                attempts.c.planned_at.desc(), attempts.c.id.desc()).limit(5))).mappings().all()
        if talks:
            counts["conversations"] = talks
        status["contact_counts"] = counts
        status["last_contacts"] = [
            {"key": r["idempotency_key"], "channel": r["channel"], "person": r["person"], "phone_ref": r["phone_ref"],
             "template": r["template"], "at": r["planned_at"].isoformat(), "outcome": r["outcome"],
             "robot": r["robot"], "step": r["step"], "distress": r["distress"]} for r in reversed(last)]
        return status

    async def record_sealed_event(self, case_id: str, key: str, kind: str, at: datetime,
                                  data: dict[str, Any]) -> bool:
        """As `record_event`, its personal fields sealed under the case's key (`append_sealed_events`)."""
        async with self.transaction() as tx:
            return await tx.append_sealed_events(case_id, [(key, kind, at, data)]) == 1

    async def open_journal(self, case_id: str | None = None) -> dict[str, list[Entry]]:
        """The journal with its sealed fields opened, for people reading a case (a timeline); erased where
        the case's key is destroyed. Not for verifying: the chain covers the sealed form (`journal`)."""
        journals = await self.journal(case_id)
        async with self.engine.connect() as conn:
            keys = {row.case_id: row.key for row in await conn.execute(
                select(db.case_keys.c.case_id, db.case_keys.c.key).where(db.case_keys.c.case_id.in_(list(journals))))}
        return {cid: [replace(e, data=rt.map_personal(e.kind, e.data, _opener(keys.get(cid), cid, e.key)))
                      for e in entries] for cid, entries in journals.items()}

    async def retention_candidates(self, case_ids: list[str] | None = None,
                                   closed_before: datetime | None = None) -> list[dict[str, Any]]:
        """Closed cases (those of `case_ids`, closed at or before `closed_before`) with what personal data
        each still holds outside the journal, counted by place, and its last recorded activity."""
        async with self.engine.connect() as conn:
            return await _retention_candidates(conn, case_ids, closed_before, lock=False)


# --- sealing, and the reads the ledger and its transactions share ---------------------------------


def _aad(case_id: str, entry_key: str, field: str) -> bytes:
    """What a sealed field is bound to: moved to another entry or field, it no longer opens."""
    return f"{case_id}\x1f{entry_key}\x1f{field}".encode()


def _sealer(key: bytes | None, case_id: str, entry_key: str) -> Callable[[str, Any], Any]:
    def seal(field: str, value: Any) -> Any:
        if key is None:  # the case was erased: what arrives late is not kept either
            return {rt.ERASED: True}
        nonce = os.urandom(12)
        plain = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str).encode()
        sealed = AESGCM(key).encrypt(nonce, plain, _aad(case_id, entry_key, field))
        return {rt.SEALED: base64.b64encode(nonce + sealed).decode()}
    return seal


def seal_value(key: bytes | None, case_id: str, entry_key: str, field: str, value: Any) -> Any:
    """One value sealed under the case's key, bound to its record and field (outside the journal: a
    self-service link's destination)."""
    return _sealer(key, case_id, entry_key)(field, value)


def open_sealed(key: bytes | None, case_id: str, entry_key: str, field: str, value: Any) -> Any:
    """One journal field as written, opened with the case's key where sealed (erased: the erased marker).
    For readers inside the lender's trust boundary (the propensity model's training and scoring), in memory
    only: nothing opened is stored or logged."""
    return _opener(key, case_id, entry_key)(field, value)


def _opener(key: bytes | None, case_id: str, entry_key: str) -> Callable[[str, Any], Any]:
    def open_(field: str, value: Any) -> Any:
        if not rt.is_sealed(value):
            return value
        if key is None:
            return {rt.ERASED: True}
        blob = base64.b64decode(value[rt.SEALED])
        return json.loads(AESGCM(key).decrypt(blob[:12], blob[12:], _aad(case_id, entry_key, field)))
    return open_


async def _journal(conn: AsyncConnection, case_id: str) -> dict[str, list[Entry]]:
    events = db.case_events
    rows = await conn.execute(select(events).where(events.c.case_id == case_id).order_by(events.c.seq))
    return {case_id: [Entry(case_id=r["case_id"], seq=r["seq"], key=r["idempotency_key"], kind=r["kind"], at=r["at"],
                            data=r["data"], prev_hash=r["prev_hash"], hash=r["hash"]) for r in rows.mappings()]}


_CANDIDATES = """
SELECT c.case_id, c.closed_at, c.rule_packs, c.status, c.outcome_reason,
  (SELECT max(e.at) FROM case_events e WHERE e.case_id = c.case_id AND e.kind <> :erased) AS last_activity,
  (SELECT count(*) FROM loans l WHERE l."case" ->> 'case_id' = c.case_id) AS loans,
  (SELECT count(*) FROM case_keys k WHERE k.case_id = c.case_id AND k.key IS NOT NULL) AS case_key,
  (SELECT count(*) FROM contact_attempts a WHERE a.case_id = c.case_id
     AND (a.phone_ref IS NOT NULL OR a.provider_message_id IS NOT NULL)) AS contact_refs,
  (SELECT count(*) FROM sandbox_messages m JOIN contact_attempts a ON a.idempotency_key = m.idempotency_key
     WHERE a.case_id = c.case_id) AS sandbox_messages,
  (SELECT count(*) FROM plans p WHERE p.case_id = c.case_id AND p.reason <> 'erased') AS plan_reasons,
  (SELECT count(*) FROM self_service_links s WHERE s.case_id = c.case_id) AS self_service,
  (SELECT count(*) FROM reply_routes r WHERE r.case_id = c.case_id) AS reply_routes
FROM cases c
WHERE c.closed_at IS NOT NULL {where}
ORDER BY c.closed_at, c.case_id {lock}
"""


async def _retention_candidates(conn: AsyncConnection, case_ids: list[str] | None, closed_before: datetime | None,
                                lock: bool) -> list[dict[str, Any]]:
    where, params = "", dict[str, Any](erased=rt.ERASED_KIND)
    if case_ids is not None:
        where += " AND c.case_id IN :ids"
    if closed_before is not None:
        where += " AND c.closed_at <= :before"
        params["before"] = closed_before
    query = text(_CANDIDATES.format(where=where, lock="FOR UPDATE OF c" if lock else ""))
    if case_ids is not None:
        query = query.bindparams(bindparam("ids", value=list(case_ids), expanding=True))
    return [dict(row) for row in (await conn.execute(query, params)).mappings()]
