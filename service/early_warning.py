"""Early warning for loans not yet overdue: judge each at risk or not (the newest model where one is trained,
else the rule scorecard), deal the at-risk ones into the warned or the control group, and start their
`UpcomingDue` under the case's own workflow id. The daily intake calls it for the loan system's export of
loans falling due soon; the simulator calls it for its portfolio."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from adapters.config_files import CONFIG_DIR, load_policy
from adapters.propensity_model import PropensityModel
from domain import early_warning, propensity, scorecard
from domain.case_input import CaseInput
from domain.early_warning import UpcomingLoan
from workflows.upcoming_due import UpcomingDue

Decision = Literal["warned", "control", "not_at_risk", "already_running"]


@dataclass(frozen=True)
class Judged:
    case_id: str
    decision: Decision
    risk: float
    risk_by: str


def judge(case: CaseInput, model: PropensityModel | None, config_dir: Path = CONFIG_DIR) -> tuple[float, str, bool]:
    """The loan's risk (a propensity to pay: low is at risk), who judged it, and whether it is at risk."""
    policy = load_policy(case.policy, config_dir)
    assessment = scorecard.assess(case.profile, case.loan, policy.scorecard)
    if model is not None:
        score = model.score(propensity.opening_snapshot(case, assessment))
        risk, by = score.probability, f"model:{score.model_version}"
    else:
        risk, by = propensity.scorecard_rank(assessment), "rules"
    return risk, by, early_warning.at_risk(risk, policy.early_warning)


async def watch(client: Client, task_queue: str, case: CaseInput, model: PropensityModel | None = None,
                config_dir: Path = CONFIG_DIR) -> Judged:
    """Judge the loan; if at risk, start its early warning in its group (once: a running one is left)."""
    risk, by, at_risk = judge(case, model, config_dir)
    if not at_risk:
        return Judged(case.case_id, "not_at_risk", risk, by)
    group = early_warning.group(case.case_id, load_policy(case.policy, config_dir).early_warning)
    try:
        await client.start_workflow(
            UpcomingDue.run, UpcomingLoan(case=case, group=group, risk=round(risk, 4), risk_by=by),
            id=case.workflow_id, task_queue=task_queue, id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            static_summary=f"Early warning ({group}) for loan {case.loan.loan_id}, due {case.loan.due_date}")
    except WorkflowAlreadyStartedError:
        return Judged(case.case_id, "already_running", risk, by)
    return Judged(case.case_id, group, risk, by)
