"""Records retention: when a closed case's personal data must go, and which of its records are personal.

Two rules meet here. Records retention is a minimum: a regulator wants the evidence kept for a period
(`records_retention_years` in each rule pack), so nothing is erased before it ends, and an open case
never. Storage limitation is a maximum (PIPL Art. 19, UK GDPR Art. 5(1)(e)): once the period ends, the
personal data goes. A case governed by several packs keeps its records for the longest of their periods,
counted from its closing or its last recorded activity, whichever is later (Reg F counts from the last
collection activity, and a complaint can outlive the case).

Pure: the service reads the ledger and the pack files; this decides.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from domain.policy import RulePack

ERASED_KIND = "personal_data_erased"  # the journal entry an erasure leaves (what and when, never the data)

# Journal fields that hold personal data: free text about the borrower (notes, reasons, explanations),
# a vulnerability's driver and a hardship reason (health is special-category data), a moratorium's
# scheme reference, the assessment's financial inputs. Not here: the number refs (`phone_ref`,
# `number_ref`, `phones`), which the auditor's checker matches on, and staff ids, which say who decided.
JOURNAL_PERSONAL_FIELDS: Mapping[str, tuple[str, ...]] = {
    "assessed": ("inputs", "reasons"),  # the reasons quote the inputs ("debt service ratio 30%")
    "vulnerability_recorded": ("driver",),
    "hardship_reported": ("reason",),
    "dispute_opened": ("reason", "details"),
    "dispute_resolved": ("note",),
    "stage_changed": ("why",),
    "hold_started": ("reason", "ref"),
    "hold_ended": ("reason",),
    "moratorium_started": ("reference",),
    "moratorium_ends": ("reference",),
    "approval_decided": ("note",),
    "cease_contact": ("reason",),
    "complaint_resolved": ("explanation",),
    "handed_off": ("reason",),
    "hard_stop_recorded": ("evidence",),
    "contact_preferences": ("reason", "locale"),
    "contact_outcome": ("reason", "notes"),  # why the loan is late can be health: special-category data
    "task_closed": ("finding",),
    "released": ("note",),
    "borrower_replied": ("text",),  # what the borrower wrote back: anything at all
}
SEALED = "$sealed"  # {"$sealed": "<base64 nonce + ciphertext>"}: a field sealed under its case's key
ERASED = "$erased"  # {"$erased": true}: a sealed field whose key was destroyed, or one written after it


@dataclass(frozen=True)
class Retention:
    """How long a closed case's records are kept, and which pack says so."""

    years: int
    pack: str  # the pack whose period governs (the longest; the first of equals)
    starts: datetime  # the case's closing, or its last recorded activity when later
    ends: datetime

    def due(self, now: datetime) -> bool:
        return now >= self.ends


def add_years(at: datetime, years: int) -> datetime:
    """The same instant `years` later on the UTC calendar; 29 February moves to 1 March, never earlier."""
    utc = at.astimezone(UTC)
    try:
        return utc.replace(year=utc.year + years)
    except ValueError:  # 29 February into a common year
        return utc.replace(year=utc.year + years, month=3, day=1)


def period(packs: Sequence[RulePack]) -> tuple[int, str]:
    """The longest `records_retention_years` among a case's packs, and the pack that sets it. Raises
    ValueError naming a pack that sets none (its cases are kept until it does) or an impossible one."""
    if not packs:
        raise ValueError("a case needs at least one rule pack")
    found: list[tuple[int, str]] = []
    for pack in packs:
        years = pack.records_retention_years
        if years is None:
            raise ValueError(f"rule pack {pack.name} sets no records_retention_years")
        if years < 1:
            raise ValueError(f"rule pack {pack.name}: records_retention_years must be at least 1, not {years}")
        found.append((years, pack.name))
    longest = max(years for years, _ in found)
    return longest, next(name for years, name in found if years == longest)


def retention(closed_at: datetime | None, packs: Sequence[RulePack],
              last_activity: datetime | None = None) -> Retention | None:
    """When the case's retention ends; None while it is open. Raises ValueError as `period` does."""
    if closed_at is None:
        return None
    years, pack = period(packs)
    starts = max(closed_at, last_activity) if last_activity is not None else closed_at
    return Retention(years=years, pack=pack, starts=starts, ends=add_years(starts, years))


def pack_names(rule_packs: Sequence[str]) -> list[str]:
    """Pack names from a case's `name@version` list (the version the case started under)."""
    return [p.split("@", 1)[0] for p in rule_packs]


# --- what the records hold ------------------------------------------------------------------------


def is_sealed(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {SEALED}


def is_erased(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {ERASED}


def _blank(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def map_personal(kind: str, data: Mapping[str, Any], change: Callable[[str, Any], Any]) -> dict[str, Any]:
    """A copy of an entry's data with each personal field present replaced by `change(field, value)`."""
    fields = JOURNAL_PERSONAL_FIELDS.get(kind, ())
    return {k: change(k, v) if k in fields and not _blank(v) else v for k, v in data.items()}


def plaintext_personal(kind: str, data: Mapping[str, Any]) -> list[str]:
    """The entry's personal fields written in plaintext (neither sealed nor erased): what a journal written
    before sealing still holds, since the chain covers it as written."""
    fields = JOURNAL_PERSONAL_FIELDS.get(kind, ())
    return [f for f in fields if not _blank(data.get(f)) and not is_sealed(data[f]) and not is_erased(data[f])]


def scrub_status(status: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The case row's `status` snapshot without its personal parts, still a valid `CaseStatus`: the
    vulnerability's driver (its fact stays, as when consent is withheld), number refs of the last
    contacts, and the hardship plan (its reason; the plan's numbers stay on its own row)."""
    if status is None:
        return None
    out = dict(status)
    if isinstance(out.get("vulnerability"), dict):
        out["vulnerability"] = out["vulnerability"] | {"driver": None}
    if isinstance(out.get("last_contacts"), list):
        out["last_contacts"] = [c | {"phone_ref": None} if isinstance(c, dict) else c for c in out["last_contacts"]]
    if "plan" in out:
        out["plan"] = None
    return out
