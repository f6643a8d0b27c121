"""The script library the worker loaded, for the case's current details: what an agent should say now.

Installed once by the worker at start (`worker.build_worker`). Workflow code reads it only to show a
script (`presentation.script`): it decides no command, so a worker with another library, or a
replayer with none, replays every history alike. Workers pass `workflows` through the sandbox, so the
one library is shared by every case; the strict replayer re-imports this module and shows none."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.scripts import ScriptLibrary

_library: ScriptLibrary | None = None


def install(library: ScriptLibrary) -> None:
    global _library
    _library = library


def installed() -> ScriptLibrary | None:
    return _library
