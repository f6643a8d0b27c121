"""Records retention, applied: the closed cases whose retention has ended and that still hold personal
data (`due`), and their erasure (`erase`), one transaction per case, each recorded in the case's journal.

The rule is `domain.retention`; a case's packs are the `name@version` list on its row, their periods read
from the pack files as they are now. What is erased, and what is kept, is in docs/retention.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from adapters.config_files import CONFIG_DIR, ConfigError, load_rule_pack
from adapters.ledger import Ledger
from domain import retention as rt
from domain.policy import RulePack

PLACES = {  # where a case's personal data can remain outside the journal's chained content
    "loans": "the loan system's export row (name, numbers, address, emergency contacts)",
    "case_key": "the key that opens the journal's sealed fields",
    "contact_refs": "number refs and provider message ids on contact attempts",
    "sandbox_messages": "the sandbox gateway's copies of messages (masked numbers, text naming the borrower)",
    "plan_reasons": "hardship reasons on plan rows",
    "self_service": "the self-service page's links and sessions (the sealed address a code went to) and the "
                    "sandbox's copies of its one-time codes",
    "reply_routes": "keyed digests of the numbers and addresses the case messaged, which route a reply to it",
    "case_row": "the case row's free-text outcome and the personal parts of its status snapshot",
}


@dataclass(frozen=True)
class DueCase:
    case_id: str
    closed_at: datetime
    packs: list[str]  # name@version, as the case started
    retention: rt.Retention
    held: dict[str, int]  # what personal data remains, by place (PLACES): counts, never the data


@dataclass(frozen=True)
class Undecided:
    """A closed case holding personal data whose retention cannot be worked out (a pack sets no period, or
    is gone): kept, and named so that someone sets one."""

    case_id: str
    packs: list[str]
    problem: str


@dataclass
class Scan:
    due: list[DueCase] = field(default_factory=list)
    undecided: list[Undecided] = field(default_factory=list)


@dataclass(frozen=True)
class Erasure:
    case_id: str
    on: date
    retention: rt.Retention
    erased: dict[str, int]  # rows per place (PLACES)
    journal_plaintext: int  # personal fields the journal holds as written before sealing: the chain keeps them


class Packs:
    """The rule packs a run needs, each read once."""

    def __init__(self, base: Path):
        self.base, self.loaded = base, dict[str, RulePack]()

    def get(self, names: Sequence[str]) -> list[RulePack]:
        for name in names:
            if name not in self.loaded:
                self.loaded[name] = load_rule_pack(name, self.base)
        return [self.loaded[n] for n in names]

    def earliest_closing(self, now: datetime) -> datetime | None:
        """No case closed after this can be due (the shortest period of any pack file): a bound for the
        query, not the rule. None when no pack sets a period."""
        periods = []
        for path in sorted((self.base / "rulepacks").glob("*.yaml")):
            try:
                years = self.get([path.stem])[0].records_retention_years
            except ConfigError:
                continue
            if years is not None and years >= 1:
                periods.append(years)
        return rt.add_years(now, -min(periods)) if periods else None


def held(row: dict[str, Any]) -> dict[str, int]:
    """What personal data a case row from `Ledger.retention_candidates` still holds, by place."""
    out = {place: row[place] for place in ("loans", "case_key", "contact_refs", "sandbox_messages", "plan_reasons",
                                            "self_service", "reply_routes")
           if row[place]}
    if row["outcome_reason"] is not None or rt.scrub_status(row["status"]) != row["status"]:
        out["case_row"] = 1
    return out


def decide(row: dict[str, Any], packs: Packs, now: datetime) -> DueCase | Undecided | None:
    """Due, undecided, or neither (nothing held, or the retention has not ended)."""
    holds = held(row)
    if not holds:
        return None
    names = list(row["rule_packs"])
    try:
        period = rt.retention(row["closed_at"], packs.get(rt.pack_names(names)), row["last_activity"])
    except (ConfigError, ValueError) as e:
        return Undecided(row["case_id"], names, str(e))
    if period is None or not period.due(now):
        return None
    return DueCase(row["case_id"], row["closed_at"], names, period, holds)


async def scan(ledger: Ledger, now: datetime, case_ids: Sequence[str] | None = None,
               config_dir: Path = CONFIG_DIR) -> Scan:
    """Every closed case (or those of `case_ids`) holding personal data: due now, or undecided."""
    _aware(now)
    packs, found = Packs(config_dir), Scan()
    rows = await ledger.retention_candidates(None if case_ids is None else list(case_ids),
                                             packs.earliest_closing(now))
    for row in rows:
        match decide(row, packs, now):
            case DueCase() as case:
                found.due.append(case)
            case Undecided() as case:
                found.undecided.append(case)
    return found


async def due(ledger: Ledger, now: datetime, case_ids: Sequence[str] | None = None,
              config_dir: Path = CONFIG_DIR) -> list[DueCase]:
    """Closed cases whose retention ended by `now` and that still hold personal data, oldest first."""
    return (await scan(ledger, now, case_ids, config_dir)).due


async def erase(ledger: Ledger, now: datetime, case_ids: Sequence[str] | None = None,
                config_dir: Path = CONFIG_DIR) -> list[Erasure]:
    """Erase the personal data of every case due at `now` (or of those of `case_ids` that are), each in one
    transaction that re-checks it under a lock on its row, and record in its journal what was erased and
    when (never the data). Idempotent: a case holding nothing more is not due, so a second run erases
    nothing and writes nothing."""
    packs, done = Packs(config_dir), []
    for case in await due(ledger, now, case_ids, config_dir):
        async with ledger.transaction() as tx:
            rows = await tx.retention_candidates([case.case_id], lock=True)
            current = decide(rows[0], packs, now) if rows else None
            if not isinstance(current, DueCase):  # erased meanwhile by another run
                continue
            status = rt.scrub_status(rows[0]["status"])
            erased = await tx.erase_personal_data(case.case_id, status)
            entries = await tx.entries(case.case_id)
            plaintext = sum(len(rt.plaintext_personal(e.kind, e.data)) for e in entries)
            n = 1 + sum(e.kind == rt.ERASED_KIND for e in entries)
            on = now.astimezone(UTC).date()
            await tx.append_events(case.case_id, [(f"{case.case_id}:{rt.ERASED_KIND}:{n}", rt.ERASED_KIND, now, {
                "on": on.isoformat(), "erased": erased, "journal_plaintext_fields": plaintext,
                "retention": {"pack": current.retention.pack, "years": current.retention.years,
                              "ended": current.retention.ends.isoformat()}})])
            done.append(Erasure(case.case_id, on, current.retention, erased, plaintext))
    return done


def _aware(now: datetime) -> None:
    if now.tzinfo is None:
        raise ValueError("now must carry its UTC offset")
