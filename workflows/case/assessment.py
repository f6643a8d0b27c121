"""2. Assessment: score ability and willingness to pay, and start the segment's treatment."""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

from workflows.case import scoring
from workflows.case.core import CaseRun

with workflow.unsafe.imports_passed_through():
    from domain import schedule, scorecard
    from domain.enums import Segment, Stage


async def step(run: CaseRun) -> datetime | None:
    result = scorecard.assess(run.case.profile, run.case.loan, run.config.policy.scorecard)
    run.s.assessment = result
    run.event("assessed", {"inputs": run.case.profile.model_dump(mode="json"),
                                 "balance": str(run.s.balance), **result.model_dump(mode="json")})
    segment = await scoring.at_assessment(run) if scoring.enabled(run) else result.segment
    return start_treatment(run, segment, "assessed")


def start_treatment(run: CaseRun, segment: Segment, why: str) -> datetime | None:
    """Begin the segment's contact schedule from its first step (also after a wellbeing review)."""
    assert run.s.assessment is not None
    run.s.assessment = run.s.assessment.model_copy(update={"segment": segment})
    run.s.step_index = 0
    run.s.next_step_at = schedule.first_step_at(run.treatment.schedule, run.now)
    return run.to_stage(Stage.REMOTE_CONTACT, f"{why}: {segment.value} path")
