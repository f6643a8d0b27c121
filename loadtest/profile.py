"""A sampling profile of a worker process during a benchmark (py-spy, when installed: it is not a
project requirement; `pip install py-spy` in the venv), summed up by where the time goes.

`share` counts a sample for every category found anywhere in its stack (inclusive time), so the
shares do not add up to 100%: "ledger (PostgreSQL)" is every sample inside SQLAlchemy or asyncpg,
whoever called it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

RATE = 50  # samples a second; py-spy leaves out idle samples, so samples / (RATE × seconds) is the busy share
CATEGORIES: dict[str, tuple[str, ...]] = {
    "ledger (PostgreSQL: SQLAlchemy, asyncpg)": ("sqlalchemy/", "asyncpg/"),
    "workflow activations (SDK workflow instance)": ("temporalio/worker/_workflow_instance.py",),
    "sandbox (import, restrictions, per-activation context)": ("workflow_sandbox/",),
    "a case's new sandbox (re-importing the workflow modules)": ("SandboxedWorkflowRunner.create_instance",),
    "payload conversion (pydantic converter)": ("temporalio/converter.py", "temporalio/contrib/pydantic"),
    "payload codec (encryption)": ("adapters/codec.py", "cryptography/"),
    "pydantic validation and serialization": ("pydantic/", "pydantic_core"),
    "DueCourse workflow code (workflows/, domain/)": ("(workflows/", "(domain/"),
    "activities and adapters (DueCourse code, with their SQL)": ("(activities/", "(adapters/"),
    "activity worker (SDK)": ("temporalio/worker/_activity.py",),
}


def py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def record(pid: int, seconds: int, out: Path) -> subprocess.Popen[bytes] | None:
    """Start sampling `pid` for `seconds` into `out` (collapsed stacks); None without py-spy."""
    exe = py_spy()
    if exe is None:
        return None
    return subprocess.Popen([exe, "record", "--pid", str(pid), "--duration", str(seconds), "--rate", str(RATE),
                             "--format", "raw", "--output", str(out), "--nonblocking"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# Leaves where a thread waits rather than works (py-spy does not always leave them out).
IDLE = ("EpollSelector.select (selectors.py", "_worker (concurrent/futures/thread.py")


def share(collapsed: str) -> tuple[int, dict[str, float]]:
    """(busy samples, inclusive share of them for each category) of py-spy's raw output."""
    total = 0
    hits = dict.fromkeys(CATEGORIES, 0)
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit() or stack.rsplit(";", 1)[-1].startswith(IDLE):
            continue
        n = int(count)
        total += n
        for name, needles in CATEGORIES.items():
            if any(needle in stack for needle in needles):
                hits[name] += n
    return total, {name: round(hit / total, 3) if total else 0.0 for name, hit in hits.items()}
