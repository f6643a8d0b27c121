"""The sandbox that every worker and every replayer runs the case workflows in (one definition, so a
replay before a deploy runs the code exactly as the workers will)."""

from __future__ import annotations

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

# `phonenumbers` loads each region's metadata on first use, behind a threading lock the sandbox
# forbids. The metadata is static data, so the module is passed through: loaded once, outside.
PASSED_THROUGH = ("phonenumbers",)


def workflow_runner() -> SandboxedWorkflowRunner:
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSED_THROUGH))
