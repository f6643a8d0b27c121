"""The auditor's proof over the ledger: every case's hash chain verified and its journal judged by the
independent checker (`domain.compliance`). Used by `audit.py`, the tests and the fault drill."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from adapters.ledger import Ledger
from domain.compliance import Violation, find_violations
from domain.journal import BrokenLink, verify_chain


@dataclass
class Report:
    cases: int = 0
    entries: int = 0
    contacts: int = 0
    broken: list[BrokenLink] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)

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


async def compliance_report(ledger: Ledger, case_id: str | None = None) -> Report:
    report = Report()
    for entries in (await ledger.journal(case_id)).values():
        report.cases += 1
        report.entries += len(entries)
        report.contacts += sum(e.kind == "contact_attempt" for e in entries)
        broken = verify_chain(entries)
        if broken:
            report.broken.append(broken)
        report.violations += find_violations(entries)
    return report
