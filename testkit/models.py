"""Propensity models for tests: a fitted scikit-learn estimator whose every score is a chosen probability,
saved as the training command saves a model (artifact, card, hash), so a worker loads it as it would a real one."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sklearn.dummy import DummyClassifier

from adapters import propensity_model
from domain.model_card import ModelCard
from domain.propensity import FEATURES


def constant(models_dir: Path, probability: float, version: str = "test-1") -> Path:
    """A model that scores every snapshot `probability` (the share of cured rows it was fitted on)."""
    cured = round(probability * 1000)
    labels = [1] * cured + [0] * (1000 - cured)
    estimator = DummyClassifier(strategy="prior").fit(np.zeros((1000, len(FEATURES))), labels)
    blob = propensity_model.dumps(estimator)
    now = datetime.now(UTC)
    card = ModelCard(version=version, trained_at=now, library="scikit-learn", estimator="DummyClassifier",
                     features=list(FEATURES), horizon_days=30, split_at=now, n_train=1000, n_test=0,
                     positives_train=cured, positives_test=0, auc_model=0.5, auc_scorecard=0.5, calibration=[],
                     artifact_sha256=propensity_model.sha256(blob), simulated=True)
    return propensity_model.save(models_dir / version, blob, card)
