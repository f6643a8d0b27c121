"""Propensity scores: the case is scored by the worker's newest trained model at its assessment and again
whenever the picture changes (a broken promise, a right-party contact, a partial payment); its segment is
decided from the score and the rules together (`domain.propensity.segment`), the model's version on record.

Decided once, at the case's start: a case opened before scoring (`s.scoring` None), or with no model at
its start (`config.model` None), is never scored and spends no activity on it; the rules decide alone.
"""

from __future__ import annotations

from temporalio import workflow

from workflows.case import bookkeeping
from workflows.case.core import CaseRun

with workflow.unsafe.imports_passed_through():
    from activities.contracts import ScoreRequest
    from activities.scoring import ScoringActivities
    from domain import propensity
    from domain.enums import ScoreTrigger, Segment, Stage


def enabled(run: CaseRun) -> bool:
    return run.s.scoring is not None and run.s.config is not None and run.config.model is not None


def want(run: CaseRun, trigger: ScoreTrigger) -> None:
    """The picture changed: score again at the loop's next pass (one pending score at a time)."""
    scoring = run.s.scoring
    if scoring is not None and enabled(run) and scoring.pending is None and not run.s.stage.terminal:
        scoring.pending = trigger


def paid_in_part(run: CaseRun) -> None:
    """A payment that left something owed changes the picture."""
    if run.s.balance > 0:
        want(run, ScoreTrigger.PARTIAL_PAYMENT)


async def at_assessment(run: CaseRun) -> Segment:
    """The segment a new assessment starts with: the scorecard's, refined by the score."""
    assert run.s.assessment is not None and run.s.scoring is not None
    run.s.scoring.rules_segment = run.s.assessment.segment
    return await _score(run, ScoreTrigger.ASSESSMENT)


async def again(run: CaseRun) -> None:
    """Score again if the picture changed; move the case to the segment decided, if it differs."""
    scoring, s = run.s.scoring, run.s
    if scoring is None or scoring.pending is None or s.assessment is None or s.stage.terminal:
        return
    segment = await _score(run, scoring.pending)
    if segment is s.assessment.segment:
        return
    s.assessment = s.assessment.model_copy(update={"segment": segment})
    if s.stage is Stage.REMOTE_CONTACT:  # the new schedule from the same place: never its first step again, and
        s.step_index = min(s.step_index, max(0, len(run.treatment.schedule) - 1))  # never past its end
    run.wake = True


async def _score(run: CaseRun, trigger: ScoreTrigger) -> Segment:
    s = run.s
    assert s.scoring is not None and s.assessment is not None
    async with run.lock:
        result = await run.act(ScoringActivities.score_propensity, ScoreRequest(
            case_id=run.case_id, key=run.key("score"), trigger=trigger, at=run.now, owed=bookkeeping.take(run),
        ), f"Score the propensity to pay ({trigger.value.replace('_', ' ')})")
    s.scoring.pending = None
    score = None
    if result.probability is not None and result.model_version is not None:
        score = propensity.Score(probability=result.probability, model_version=result.model_version)
        s.scoring.probability, s.scoring.model_version = score.probability, score.model_version
        s.scoring.scored += 1
    flags = s.flags
    policy = run.config.policy.propensity
    segment, why = propensity.segment(
        s.scoring.rules_segment or s.assessment.segment, score, policy.low_risk_from, policy.high_risk_below,
        current=s.assessment.segment if trigger is not ScoreTrigger.ASSESSMENT else None,
        protected=flags.hardship or flags.distress or flags.vulnerable or flags.vulnerability_on_record)
    run.event("scored", {"trigger": trigger.value, "probability": round(score.probability, 4) if score else None,
                         "model_version": score.model_version if score else None,
                         "from": s.assessment.segment.value, "segment": segment.value, "why": why})
    return segment
