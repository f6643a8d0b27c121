"""The Postgres ledger: every action of every case, written once per idempotency key.

Writes go through a `LedgerTx` (one transaction), so what one step of a case owes the ledger (its
journal entries, the case row, a visit or plan row, a hand-off) lands whole or not at all, in one
round of statements instead of one transaction per fact. `Ledger`'s own methods are the same writes,
each in a transaction of its own, and the reads (the journal for the auditor, a case's row).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters import db
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
                             paid_at: datetime, balance_after: Decimal) -> bool:
        return await self._insert_once(
            db.payments, ["case_id", "reference"], case_id=case_id, reference=reference, amount=amount,
            currency=currency, paid_at=paid_at, balance_after=balance_after)

    async def upsert_promise(self, **values: Any) -> None:
        await self._upsert(db.promises, "promise_id", values, ["status"])

    async def upsert_visit(self, **values: Any) -> None:
        await self._upsert(db.visits, "visit_id", values,
                           [c for c in ("status", "result", "collectors", "distress", "decided_by") if c in values])

    async def upsert_plan(self, **values: Any) -> None:
        await self._upsert(db.plans, "plan_id", values, [c for c in ("status", "decided_by") if c in values])

    async def record_escalation(self, case_id: str, key: str, kind: str, reason: str, at: datetime) -> bool:
        return await self._insert_once(db.escalations, ["idempotency_key"], case_id=case_id, idempotency_key=key,
                                       kind=kind, reason=reason, at=at)


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
