"""The Postgres ledger: every action of every case, written once per idempotency key."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters import db
from domain.journal import GENESIS, Entry, entry_hash


class Ledger:
    def __init__(self, engine: AsyncEngine):
        self.engine = engine

    async def _insert_once(self, table, key_columns: list[str], **values: Any) -> bool:
        """Insert unless a row with the same key exists; True when this call wrote it."""
        stmt = insert(table).values(**values).on_conflict_do_nothing(index_elements=key_columns)
        async with self.engine.begin() as conn:
            result = await conn.execute(stmt)
        return result.rowcount == 1

    async def _upsert(self, table, key: str, values: dict[str, Any], update_cols: list[str]) -> None:
        stmt = insert(table).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[key],
            set_={c: stmt.excluded[c] for c in update_cols} | {"updated_at": datetime.now().astimezone()},
        )
        async with self.engine.begin() as conn:
            await conn.execute(stmt)

    async def open_case(self, **values: Any) -> None:
        await self._insert_once(db.cases, ["case_id"], **values)

    async def update_case(self, case_id: str, **values: Any) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(db.cases).where(db.cases.c.case_id == case_id)
                .values(**values, updated_at=datetime.now().astimezone())
            )

    async def record_event(self, case_id: str, key: str, kind: str, at: datetime, data: dict) -> bool:
        """Append to the case's journal, chained to its last entry; once per key. Writers of one case
        queue on a transaction-scoped advisory lock, so the chain has no forks."""
        events = db.case_events
        async with self.engine.begin() as conn:
            await conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:c, 0))"), {"c": case_id})
            if await conn.scalar(select(events.c.id).where(events.c.idempotency_key == key)):
                return False
            last = (await conn.execute(
                select(events.c.seq, events.c.hash).where(events.c.case_id == case_id)
                .order_by(events.c.seq.desc()).limit(1)
            )).first()
            seq, prev = (last.seq + 1, last.hash) if last else (1, GENESIS)
            await conn.execute(insert(events).values(
                case_id=case_id, idempotency_key=key, kind=kind, at=at, data=data, seq=seq, prev_hash=prev,
                hash=entry_hash(prev, case_id, seq, key, kind, at, data),
            ))
        return True

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

    async def begin_attempt(self, **values: Any) -> dict | None:
        """Claim an attempt's key. Returns the existing row when it was claimed before (a retry)."""
        if await self._insert_once(db.contact_attempts, ["idempotency_key"], outcome="pending", **values):
            return None
        async with self.engine.connect() as conn:
            row = (await conn.execute(
                select(db.contact_attempts).where(db.contact_attempts.c.idempotency_key == values["idempotency_key"])
            )).mappings().one()
        return dict(row)

    async def finish_attempt(self, key: str, **values: Any) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(db.contact_attempts).where(db.contact_attempts.c.idempotency_key == key)
                .values(**values, updated_at=datetime.now().astimezone())
            )

    async def record_payment(self, case_id: str, reference: str, amount: Decimal, currency: str,
                             paid_at: datetime, balance_after: Decimal) -> bool:
        return await self._insert_once(
            db.payments, ["case_id", "reference"], case_id=case_id, reference=reference, amount=amount,
            currency=currency, paid_at=paid_at, balance_after=balance_after,
        )

    async def upsert_promise(self, **values: Any) -> None:
        await self._upsert(db.promises, "promise_id", values, ["status"])

    async def upsert_visit(self, **values: Any) -> None:
        await self._upsert(db.visits, "visit_id", values,
                           [c for c in ("status", "result", "collectors", "distress", "decided_by") if c in values])

    async def upsert_plan(self, **values: Any) -> None:
        await self._upsert(db.plans, "plan_id", values, [c for c in ("status", "decided_by") if c in values])

    async def record_escalation(self, case_id: str, key: str, kind: str, reason: str, at: datetime) -> bool:
        return await self._insert_once(
            db.escalations, ["idempotency_key"], case_id=case_id, idempotency_key=key, kind=kind, reason=reason, at=at
        )
