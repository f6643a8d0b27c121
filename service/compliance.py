"""The auditor's proof over the ledger: every case's hash chain verified and its journal judged by the
independent checker (`domain.compliance`), and no closed case holding personal data past its records
retention (`retention.overdue`). Used by `audit.py`, the tests and the fault drill."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from adapters.config_files import CONFIG_DIR
from adapters.ledger import Ledger
from domain import books_audit
from domain.compliance import RULES, Violation, find_violations
from domain.journal import BrokenLink, verify_chain
from service import retention


@dataclass
class Report:
    cases: int = 0
    entries: int = 0
    contacts: int = 0
    broken: list[BrokenLink] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    balances: list[tuple[str, Decimal]] = field(default_factory=list)  # (currency, balance) of each case with books

    @property
    def clean(self) -> bool:
        return not self.broken and not self.violations

    def text(self) -> str:
        lines = [f"Compliance report: {self.cases} case(s), {self.entries} journal entries, "
                 f"{self.contacts} contact attempts.", ""]
        if self.broken:
            lines.append(f"Hash chains: {len(self.broken)} broken (the record after each point cannot be trusted):")
            lines += [f"  case {b.case_id}: first broken link at entry {b.seq}: {b.reason}" for b in self.broken]
        else:
            lines.append("Hash chains: all intact.")
        lines.append("")
        if self.balances:
            totals = books_audit.by_currency(self.balances)
            lines.append("Balances as the journals last state them (by currency, never summed across): " + "; ".join(
                f"{currency} {total:,} ({sum(c == currency for c, _ in self.balances)} cases)"
                for currency, total in totals.items()) + ".")
            lines.append("")
        lines.append("Rules judged: " + ", ".join((*RULES, "retention.overdue")) + ".")
        lines.append("")
        if not self.violations:
            lines.append("Violations: none. Every recorded contact kept the rules of its case's packs.")
        else:
            by_rule = Counter(v.rule for v in self.violations)
            lines.append(f"Violations: {len(self.violations)} in {len({v.case_id for v in self.violations})} case(s).")
            lines += [f"  {rule:40} {count}" for rule, count in sorted(by_rule.items())]
            lines.append("")
            for v in sorted(self.violations, key=lambda v: (v.case_id, v.entry)):
                lines.append(f"  case {v.case_id} entry {v.entry} at {v.at:%Y-%m-%d %H:%M} UTC  {v.rule}: {v.detail}")
        return "\n".join(lines)


async def compliance_report(ledger: Ledger, case_id: str | None = None, now: datetime | None = None,
                            config_dir: Path = CONFIG_DIR) -> Report:
    report = Report()
    journals = await ledger.journal(case_id)
    for entries in journals.values():
        report.cases += 1
        report.entries += len(entries)
        report.contacts += sum(e.kind == "contact_attempt" for e in entries)
        broken = verify_chain(entries)
        if broken:
            report.broken.append(broken)
        report.violations += find_violations(entries)
        balance = books_audit.last_balance(entries)
        if balance is not None:
            report.balances.append(balance)
    overdue = await retention.due(ledger, now or datetime.now(UTC), None if case_id is None else [case_id], config_dir)
    for case in overdue:
        r, last = case.retention, journals.get(case.case_id, [])
        report.violations.append(Violation(
            case.case_id, "retention.overdue", r.ends, last[-1].seq if last else 0,
            f"records retention under {r.pack} ({r.years} years from {r.starts:%Y-%m-%d}) ended {r.ends:%Y-%m-%d}; "
            f"still holds personal data: {', '.join(sorted(case.held))}"))
    return report
