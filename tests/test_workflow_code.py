"""Workflow code stays deterministic. Workers pass `workflows` through the SDK's sandbox (for memory),
so the sandbox no longer stops a forbidden call there at run time; this test does, for every module,
and the strict replayer does for every golden history (tests/test_replay.py)."""

from __future__ import annotations

import ast
from pathlib import Path

WORKFLOWS = Path(__file__).resolve().parent.parent / "workflows"
FORBIDDEN = {  # what to use instead, in workflow code
    "datetime.now": "workflow.now()", "datetime.utcnow": "workflow.now()", "date.today": "workflow.now()",
    "time.time": "workflow.now()", "time.monotonic": "workflow.now()", "time.sleep": "workflow.sleep()",
    "uuid.uuid4": "workflow.uuid4()", "random.random": "workflow.random()", "random.choice": "workflow.random()",
    "random.randint": "workflow.random()", "os.environ": "an activity or the workflow's input",
    "os.getenv": "an activity or the workflow's input", "open": "an activity",
}


def forbidden_calls(source: str) -> list[str]:
    """`line: name` for every use of a forbidden name in `source`."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        name = None
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            name = f"{node.value.id}.{node.attr}"
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            name = node.func.id
        if name in FORBIDDEN:
            line = getattr(node, "lineno", 0)
            found.append((line, f"{line}: {name} (use {FORBIDDEN[name]})"))
    return [text for _, text in sorted(found)]


def test_the_detector_finds_a_forbidden_call():
    assert forbidden_calls("import datetime\nx = datetime.now()\nopen('f')\n") == [
        "2: datetime.now (use workflow.now())", "3: open (use an activity)"]


def test_no_workflow_module_calls_the_clock_randomness_the_environment_or_files():
    found = {str(p.relative_to(WORKFLOWS.parent)): forbidden_calls(p.read_text()) for p in WORKFLOWS.rglob("*.py")}
    assert {path: calls for path, calls in found.items() if calls} == {}
