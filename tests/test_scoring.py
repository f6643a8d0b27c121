"""Propensity scores in the case (`workflows/case/scoring.py`): with a trained model at the case's start, the
case is scored at its assessment and again when the picture changes, the model's version on record, and the
segment decided from the score and the rules; with none, the rules decide alone and no activity is spent."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
import pytest_asyncio

from adapters.providers.sandbox import SandboxProvider
from domain.enums import Segment, Stage
from domain.messages import Payment
from testkit import cases as synthetic
from testkit import models
from tests.conftest import Cases
from worker import build_worker

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def scored(env, engine, config_dir, tmp_path, request):
    """Cases on a worker whose models folder holds a model scoring every snapshot `request.param`."""
    models.constant(tmp_path / "models", request.param)
    queue = f"q-{uuid.uuid4().hex[:8]}"
    async with build_worker(env.client, engine, SandboxProvider(engine), queue, config_dir,
                            models_dir=tmp_path / "models"):
        cases = Cases(env, queue, engine)
        yield cases
        await cases.close(request.node.name)


async def journal(cases: Cases, case_id: str, kind: str) -> list[dict]:
    return [r["data"] for r in await cases.rows(
        "SELECT data FROM case_events WHERE case_id = :c AND kind = :k ORDER BY seq", c=case_id, k=kind)]


async def activity_types(handle) -> list[str]:
    return [e.activity_task_scheduled_event_attributes.activity_type.name async for e in handle.fetch_history_events()
            if e.HasField("activity_task_scheduled_event_attributes")]


@pytest.mark.parametrize("scored", [0.9], indirect=True)
async def test_a_likely_payer_is_scored_at_assessment_takes_the_gentle_path_and_is_scored_again(scored):
    handle = await scored.start(profile="high_risk", mobile=synthetic.TALKS)
    status = await scored.until(handle, lambda s: s.stage is Stage.REMOTE_CONTACT, what="remote contact")
    assert status.segment is Segment.LOW_RISK  # the scorecard said high risk; a score of 0.9 is above 0.6
    assert (status.propensity, status.model_version) == (0.9, "test-1")
    case_id = status.case_id
    first = (await journal(scored, case_id, "scored"))[0]
    assert first["trigger"] == "assessment" and first["from"] == "high_risk" and first["segment"] == "low_risk"
    assert first["probability"] == 0.9 and first["model_version"] == "test-1"
    row = (await scored.rows("SELECT propensity, model_version FROM cases WHERE case_id = :c", c=case_id))[0]
    assert row == {"propensity": Decimal("0.9000"), "model_version": "test-1"}
    # a partial payment changes the picture: scored again, once, at the loop's next pass
    now = await scored.env.get_current_time()
    await handle.execute_update("record_payment", Payment(amount=Decimal("100.00"), paid_at=now, reference="P-1"))
    for _ in range(30):  # the loop's next pass scores again; the step's ledger write carries the entry
        triggers = [e["trigger"] for e in await journal(scored, case_id, "scored")]
        if len(triggers) >= 2:
            break
        await scored.env.sleep(timedelta(minutes=30))
    assert triggers[:2] == ["assessment", "partial_payment"]
    assert (await activity_types(handle)).count("score_propensity") == len(triggers)


@pytest.mark.parametrize("scored", [0.05], indirect=True)
async def test_a_low_score_never_moves_a_borrower_who_cannot_pay_but_moves_a_low_risk_one(scored):
    hardship = await scored.start(profile="hardship")
    low = await scored.start(profile="low_risk")
    assert (await scored.stage(hardship, Stage.REMOTE_CONTACT)).segment is Segment.HARDSHIP
    assert (await scored.stage(low, Stage.REMOTE_CONTACT)).segment is Segment.HIGH_RISK


async def test_without_a_model_the_rules_decide_alone_and_no_score_is_asked_for(cases):
    handle = await cases.start(profile="high_risk")
    status = await cases.stage(handle, Stage.REMOTE_CONTACT)
    assert status.segment is Segment.HIGH_RISK and status.propensity is None
    await cases.env.sleep(timedelta(days=2))
    assert "score_propensity" not in await activity_types(handle)
    assert await journal(cases, status.case_id, "scored") == []
