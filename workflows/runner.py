"""The sandbox the case workflows run in: one definition for the workers and one, stricter, for replay.

`phonenumbers` loads each region's metadata on first use, behind a threading lock the sandbox forbids;
the metadata is static data, so the module is passed through (loaded once, outside). `babel` likewise
reads CLDR's static locale data on first use (a statement's amounts in the borrower's format).

Workers also pass through this project's own workflow modules (`workflows`), so a cached case does not
carry its own copy of every workflow module: re-importing them for each case cost about 340 KiB per
cached case, two thirds of its memory. The price is that the sandbox no longer stops a forbidden call
(a clock read, I/O) inside workflow code at run time; the replayer keeps the full sandbox, so
every golden history replayed in CI, and every replay before a deploy, still runs the workflow code
under every restriction and fails on such a call.
"""

from __future__ import annotations

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

PASSED_THROUGH = ("phonenumbers", "babel")
SHARED_BY_WORKERS = ("workflows",)


def workflow_runner(strict: bool = False) -> SandboxedWorkflowRunner:
    """The workers' runner, or with `strict` the replayer's (workflow code re-imported and restricted)."""
    modules = PASSED_THROUGH if strict else PASSED_THROUGH + SHARED_BY_WORKERS
    return SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules(*modules))
