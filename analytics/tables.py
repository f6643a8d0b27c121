"""What every figure of the report shares: the period, the allowed groupings, the table a figure fills,
and one way to run a query over the KPI views (migration 0010).

A grouping reaches SQL only as a column taken from `GROUPS`, never as text from the caller; every value
goes in as a bind parameter.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

# What a report may be grouped by: the name a person types, and the case-facts column it reads.
GROUPS: Mapping[str, str] = {
    "segment": "f.segment", "arm": "f.strategy_arm", "policy": "f.policy", "team": "f.team",
    "country": "f.country", "currency": "f.currency",
}
ALIASES = {"strategy_arm": "arm", "strategy": "arm"}
THIN = 30  # fewer cases than this behind a rate: shown greyed (docs/research/kpis.md, conventions)
MAX_DAYS = 3660  # ten years of monthly snapshots
NONE = "(none)"  # a case without the attribute (no segment yet, no arm, never assigned to a team)

# Column kinds: how a value is shown (HTML) and written (CSV).
TEXT, COUNT, RATE, MONEY, NUMBER = "text", "count", "rate", "money", "number"


def group_names(requested: Sequence[str]) -> list[str]:
    """The groupings asked for, checked against `GROUPS` (aliases resolved, repeats dropped)."""
    names: list[str] = []
    for raw in requested:
        for part in raw.split(","):
            name = ALIASES.get(part.strip().lower(), part.strip().lower())
            if not name:
                continue
            if name not in GROUPS:
                raise ValueError(f"cannot group by {part.strip()!r}: choose from {', '.join(GROUPS)}")
            if name not in names:
                names.append(name)
    return names


@dataclass(frozen=True)
class Period:
    """A half-open reporting period [start, end), whole days in UTC."""

    start: datetime
    end: datetime

    @classmethod
    def of(cls, first: date, end: date) -> Period:
        if end <= first:
            raise ValueError(f"the period must end after it starts: {first} .. {end}")
        if (end - first).days > MAX_DAYS:
            raise ValueError(f"a period of at most {MAX_DAYS} days, please (one snapshot a month)")
        return cls(datetime.combine(first, time(), UTC), datetime.combine(end, time(), UTC))

    @property
    def label(self) -> str:
        return f"{self.start:%Y-%m-%d} to {self.end:%Y-%m-%d} (end excluded, UTC)"

    def params(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end}


@dataclass
class Table:
    """One figure family's numbers: shown as an HTML table, written as `<name>.csv`."""

    name: str
    title: str
    kind: str  # period | cohort | snapshot | model: which denominator the figures have
    source: str  # the SQL view(s) it reads, or the file
    columns: list[tuple[str, str]]  # (label, kind)
    rows: list[list[Any]] = field(default_factory=list)
    note: str = ""
    thin: str | None = None  # the column of the figures' denominator: rows below THIN are greyed on the page

    def is_thin(self, row: Sequence[Any]) -> bool:
        if self.thin is None:
            return False
        value = row[[c for c, _ in self.columns].index(self.thin)]
        return value is not None and value < THIN

    def column(self, label: str) -> list[Any]:
        i = [c for c, _ in self.columns].index(label)
        return [row[i] for row in self.rows]

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([label for label, _ in self.columns])
        for row in self.rows:
            writer.writerow([raw(v, kind) for v, (_, kind) in zip(row, self.columns, strict=True)])
        return out.getvalue()


def raw(value: Any, kind: str) -> str:
    """A value as CSV holds it: rates as fractions, money with its cents, nothing for a missing figure."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:.6f}".rstrip("0").rstrip(".") if kind in (RATE, NUMBER) else f"{value:.2f}"
    if isinstance(value, Decimal):
        return f"{value:.2f}" if kind == MONEY else str(value)
    return str(value)


def shown(value: Any, kind: str) -> str:
    """A value as the page shows it."""
    if value is None:
        return "—"
    if kind == RATE:
        return f"{float(value) * 100:.1f}%"
    if kind == MONEY:
        return f"{Decimal(value):,.2f}"
    if kind == NUMBER:
        return f"{float(value):,.2f}"
    if kind == COUNT and isinstance(value, int | Decimal):
        return f"{int(value):,}"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d}"
    return str(value)


def dims(by: Sequence[str], extra: Sequence[str] = ()) -> tuple[str, str, list[tuple[str, str]]]:
    """For the chosen groupings (and any fixed `extra` ones): the SELECT items, the GROUP BY list and the
    table's leading columns. Empty groupings give one row for the whole portfolio."""
    names = [*by, *[e for e in extra if e not in by]]
    items = [f"COALESCE({GROUPS[n]}, '{NONE}') AS g_{n}" for n in names]
    return (", ".join(items) + ", ") if items else "", \
        ("GROUP BY " + ", ".join(f"g_{n}" for n in names)) if names else "", [(n, TEXT) for n in names]


async def fetch(conn: AsyncConnection, sql: str, **params: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in (await conn.execute(text(sql), params)).mappings()]


def key(row: Mapping[str, Any], names: Sequence[str]) -> tuple[str, ...]:
    return tuple(str(row[f"g_{n}"]) for n in names)


def ratio(numerator: float | int | Decimal | None, denominator: float | int | Decimal | None) -> float | None:
    """numerator / denominator, or None where the denominator is zero (a rate of nothing is no rate)."""
    if numerator is None or not denominator:
        return None
    return float(numerator) / float(denominator)
