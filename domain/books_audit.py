"""The auditor's recomputation of a case's money from its journal alone: every accrual recomputed from the
loan's terms, the packs' caps and the freezes the record shows (holds, hard stops, arrangements, relief),
every payment's allocation replayed in the books' order, every waiver and write-off applied, and each
balance the journal states compared with the recomputed one. Called by `domain.compliance`.

Freezes are judged independently of the workflow's own `freeze_started` entries where the record allows:
a dispute, a moratorium (where the packs freeze charges) and death or bankruptcy freeze accrual from the
day they are recorded, whatever the workflow did; arrangements and relief freezes come from its entries.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from domain.balance import CAP_YEAR, Allocation, Caps, Freeze, Owed, Terms, accrue, allocate
from domain.journal import Entry
from domain.money import minor_unit
from domain.policy import Charges

RULES = ("money.caps", "money.cap", "money.frozen", "money.accrual", "money.allocation", "money.balance")
COMPONENTS = ("principal", "interest", "penalty", "fees")
FREEZING_HOLDS = {"dispute", "moratorium"}
FREEZING_STOPS = {"bankruptcy", "deceased"}

Finding = tuple[str, datetime, int, str]  # rule, when, journal entry, what


@dataclass
class _Books:
    owed: Owed
    terms: Terms
    caps: Caps
    order: tuple[Any, ...]
    unit: Decimal
    accrued_to: date
    frozen: dict[str, date] = field(default_factory=dict)  # open freezes the record shows: reason -> from
    spans: list[Freeze] = field(default_factory=list)  # closed ones
    accrued: Decimal = Decimal(0)  # interest and penalty, all periods
    ceiling: Decimal = Decimal(0)  # what the cap allowed over the same periods

    def freezes(self) -> list[Freeze]:
        return self.spans + [Freeze(start=d, reason="relief") for d in self.frozen.values()]

    def start(self, reason: str, day: date) -> None:
        self.frozen.setdefault(reason, day)

    def end(self, reason: str, day: date) -> None:
        if reason in self.frozen:
            self.spans.append(Freeze(start=self.frozen.pop(reason), end=day, reason="relief"))


def check(entries: list[Entry], charges: Charges, tz: ZoneInfo) -> list[Finding]:
    """Every difference between the journal's money and its recomputation (nothing for a case opened before
    the balance engine)."""
    return list(_check(entries, charges, tz))


def _check(entries: list[Entry], charges: Charges, tz: ZoneInfo) -> Iterator[Finding]:
    books: _Books | None = None
    for entry in entries:
        data, day = entry.data, entry.at.astimezone(tz).date()
        if entry.kind == "books_opened":
            books = _Books(owed=_owed(data), terms=Terms.model_validate(data["terms"]),
                           caps=Caps.model_validate(data["caps"]), order=tuple(data["order"]),
                           unit=minor_unit(data["currency"]), accrued_to=date.fromisoformat(data["on"]))
            if not _within(books.caps, charges):
                yield "money.caps", entry.at, entry.seq, f"the books' caps {data['caps']} are looser than the packs'"
            continue
        if books is None:
            continue
        _freeze(books, entry, day, charges)
        reported = False
        match entry.kind:
            case "accrued":
                findings = list(_accrued(books, entry))
                reported = bool(findings)
                yield from findings
            case "payment_applied" if "allocation" in data:
                books.owed, allocation = allocate(books.owed, Decimal(data["amount"]), books.unit, books.order)
                if allocation != Allocation.model_validate(data["allocation"]):
                    reported = True
                    yield ("money.allocation", entry.at, entry.seq,
                           f"applied {data['allocation']}, the order {list(books.order)} gives "
                           f"{allocation.model_dump(mode='json')}")
            case "penalty_waived" if "principal" in data:
                books.owed = books.owed.model_copy(update={"penalty": books.owed.penalty - Decimal(data["amount"])})
            case "written_off":
                books.owed = Owed(principal=Decimal(0))
            case "balance_corrected":  # a person's decision on the evidence: taken as recorded (fractions carry)
                books.owed = books.owed.model_copy(update={c: getattr(_owed(data), c) for c in COMPONENTS})
        if "balance" in data and "principal" in data:
            stated = _owed(data)
            if _values(stated) != _values(books.owed):
                if not reported:
                    yield ("money.balance", entry.at, entry.seq,
                           f"{entry.kind}: the journal says {_amounts(stated)}, recomputed {_amounts(books.owed)}")
                # what follows is judged from what was stated (fractions carried as recomputed): one error, once
                books.owed = books.owed.model_copy(update={c: getattr(stated, c) for c in COMPONENTS})


def _freeze(books: _Books, entry: Entry, day: date, charges: Charges) -> None:
    data = entry.data
    if entry.kind == "hold_started" and data["kind"] in FREEZING_HOLDS:
        if data["kind"] != "moratorium" or charges.freeze_in_moratorium:
            books.start(f"hold:{data['kind']}", day)
    elif entry.kind == "hold_ended" and data["kind"] in FREEZING_HOLDS:
        books.end(f"hold:{data['kind']}", day)
    elif entry.kind == "hard_stop_recorded" and data.get("kind") in FREEZING_STOPS:
        books.start("hard_stop", day)
    elif entry.kind == "freeze_started" and data["reason"] in ("plan", "relief"):
        books.start(data["reason"], date.fromisoformat(data["on"]))
    elif entry.kind == "freeze_ended" and data["reason"] in ("plan", "relief"):
        books.end(data["reason"], date.fromisoformat(data["on"]))


def _accrued(books: _Books, entry: Entry) -> Iterator[Finding]:
    for period in entry.data["periods"]:
        start, end = date.fromisoformat(period["start"]), date.fromisoformat(period["end"])
        if start != books.accrued_to:
            yield "money.accrual", entry.at, entry.seq, f"accrual from {start}, but accrued to {books.accrued_to}"
        books.owed, again = accrue(books.owed, books.terms, books.caps, start, end, books.freezes(), books.unit)
        books.accrued_to = end
        if int(period["days_accrued"]) > again.days_accrued:
            yield ("money.frozen", entry.at, entry.seq,
                   f"{period['days_accrued']} days accrued in [{start}, {end}), {again.days_accrued} not frozen")
        stated = Decimal(period["interest"]) + Decimal(period["penalty"])
        if (Decimal(period["interest"]), Decimal(period["penalty"])) != (again.interest, again.penalty):
            yield ("money.accrual", entry.at, entry.seq, f"[{start}, {end}) accrued {period['interest']} interest, "
                   f"{period['penalty']} penalty; recomputed {again.interest}, {again.penalty}")
        books.accrued += stated
        if books.caps.annual_cost_rate is not None:
            days = int(period["days_accrued"])  # the rate is judged here; the days by `money.frozen`
            books.ceiling += Decimal(period["principal"]) * books.caps.annual_cost_rate * days / CAP_YEAR
            if books.accrued > books.ceiling:
                yield ("money.cap", entry.at, entry.seq, f"accrued {books.accrued} in all, the packs' cap allows "
                       f"{books.ceiling.quantize(books.unit)}")


def _within(caps: Caps, charges: Charges) -> bool:
    if charges.annual_cost_cap is not None and (caps.annual_cost_rate is None
                                                 or caps.annual_cost_rate > charges.annual_cost_cap):
        return False
    return charges.penalty_allowed or not caps.penalty_allowed


def _owed(data: dict[str, Any]) -> Owed:
    return Owed(**{c: Decimal(data[c]) for c in COMPONENTS})


def _values(owed: Owed) -> tuple[Decimal, ...]:
    return tuple(getattr(owed, c) for c in COMPONENTS)


def _amounts(owed: Owed) -> dict[str, str]:
    return {c: str(getattr(owed, c)) for c in COMPONENTS}


def last_balance(entries: list[Entry]) -> tuple[str, Decimal] | None:
    """The case's currency and the balance its journal last stated (None: no books)."""
    opened = next((e for e in entries if e.kind == "books_opened"), None)
    if opened is None:
        return None
    stated = [e for e in entries if "balance" in e.data and "principal" in e.data]
    return opened.data["currency"], Decimal(stated[-1].data["balance"])


def by_currency(balances: list[tuple[str, Decimal]]) -> dict[str, Decimal]:
    """Portfolio sums stay exact: by currency, never across currencies."""
    totals: dict[str, Decimal] = {}
    for currency, amount in balances:
        totals[currency] = totals.get(currency, Decimal(0)) + amount
    return dict(sorted(totals.items()))
