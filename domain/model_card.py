"""What a trained propensity model says about itself: written beside the artifact by the training
command, read by the scoring adapter (which features, which version) and by the report (how well it
ranks against the rule scorecard, how well calibrated it is)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class CalibrationBin(BaseModel):
    model_config = ConfigDict(extra="forbid")

    low: float = Field(ge=0, le=1)
    high: float = Field(ge=0, le=1)
    predicted: float = Field(ge=0, le=1, description="mean predicted probability in the bin")
    observed: float = Field(ge=0, le=1, description="share of the bin's rows that were cured")
    n: int = Field(ge=0)


class ModelCard(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")
    trained_at: datetime
    library: str  # e.g. "scikit-learn 1.9.1"
    estimator: str  # e.g. "HistGradientBoostingClassifier"
    features: list[str]
    horizon_days: int = Field(ge=1, description="the label: cured within this many days of the case's start")
    split_at: datetime = Field(description="cases opened before it trained the model; on or after it, held out")
    n_train: int
    n_test: int
    positives_train: int
    positives_test: int
    auc_model: float
    auc_scorecard: float
    auc_model_ci: tuple[float, float] | None = None
    auc_scorecard_ci: tuple[float, float] | None = None
    brier_model: float | None = None
    # The fair head-to-head (absent on cards written before it): one row per held-out case, at its assessment,
    # where the model and the scorecard see the same moment; the figures above score every moment, where the
    # model also sees the case's behaviour so far and the scorecard repeats its opening rank.
    auc_model_at_assessment: float | None = None
    auc_scorecard_at_assessment: float | None = None
    auc_model_at_assessment_ci: tuple[float, float] | None = None
    auc_scorecard_at_assessment_ci: tuple[float, float] | None = None
    auc_difference_at_assessment_ci: tuple[float, float] | None = Field(
        default=None, description="model minus scorecard at assessment, paired bootstrap over cases")
    auc_difference_ci: tuple[float, float] | None = Field(
        default=None, description="model minus scorecard on every scoring moment, paired bootstrap over cases")
    n_train_cases: int | None = None
    n_test_cases: int | None = None
    positives_train_cases: int | None = None
    positives_test_cases: int | None = None
    dropped_at_split: int | None = Field(
        default=None, description="cases opened before the split whose horizon ran past it: in neither side")
    calibration: list[CalibrationBin]
    artifact_sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="of model.joblib: checked before it is loaded")
    simulated: bool = Field(description="trained on the borrower simulator's portfolio, not on real outcomes")
