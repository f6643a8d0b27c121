"""An import-linter contract type for the top-level modules (`starter.py`, `worker.py`, ...).

import-linter's graph holds packages only; a top-level module is not one, so the built-in contracts
see what packages import *from* it but not what it imports. This contract reads the modules' own
imports (wherever they are in the file, functions included):

    [[tool.importlinter.contracts]]
    type = "top_level"                  # contract_types = ["top_level: testkit.importcontracts.TopLevelContract"]
    source_modules = ["starter", "worker"]
    forbidden_modules = ["starter", "worker", "intake"]     # a module is never forbidden to itself
"""

from __future__ import annotations

import ast
from pathlib import Path

from grimp import ImportGraph
from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every absolute import in the file."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.lineno, node.module))
    return found


class TopLevelContract(Contract):
    """Top-level modules (files beside pyproject.toml) import none of the forbidden modules directly."""

    type_name = "top_level"

    source_modules = fields.ListField(subfield=fields.StringField())
    forbidden_modules = fields.ListField(subfield=fields.StringField())

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        sources: list[str] = list(self.source_modules)  # type: ignore[call-overload]
        forbidden: set[str] = set(self.forbidden_modules)  # type: ignore[call-overload]
        invalid: list[str] = []
        for source in sources:
            path = Path(f"{source}.py")
            if not path.is_file():  # not written yet (or renamed): nothing it can import
                continue
            for line, module in imported_modules(path):
                top = module.split(".")[0]
                if top in forbidden and top != source:
                    invalid.append(f"{source} -> {module} (l.{line})")
        return ContractCheck(kept=not invalid, metadata={"invalid": invalid})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for line in check.metadata["invalid"]:
            output.print_error(line, bold=False)
        output.new_line()
