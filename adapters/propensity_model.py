"""A trained propensity model on disk: `<models_dir>/<version>/model.joblib` (a fitted scikit-learn
estimator) beside `card.json` (`domain.model_card.ModelCard`).

A joblib file is a pickle, and unpickling runs code: only an artifact whose SHA-256 its card names is
loaded, checked on the very bytes that are then unpickled. A model trained on other features than
`domain.propensity.FEATURES` is refused before it can score, so a change of the features needs a new model.
A version is written whole or not at all (a hidden folder renamed into place), and never overwritten.
"""

from __future__ import annotations

import hashlib
import io
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
from pydantic import ValidationError

from domain.model_card import ModelCard
from domain.propensity import FEATURES, Score, Snapshot, features

MODEL_FILE, CARD_FILE = "model.joblib", "card.json"


class ModelRefused(ValueError):
    """An artifact that must not be loaded, or a model that must not score."""


def dumps(estimator: Any) -> bytes:
    """The artifact's bytes (what the card's hash covers)."""
    buffer = io.BytesIO()
    joblib.dump(estimator, buffer)
    return buffer.getvalue()


def sha256(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


def save(directory: Path, estimator: Any, card: ModelCard) -> Path:
    """Write the estimator and its card to `directory` (the models folder / the version), which must not
    exist yet. Refuses a card whose hash is not the artifact's (the card must name what it describes). Give
    the estimator already dumped (`dumps`) to write exactly the bytes that were hashed: a pickle of the same
    model need not come out byte for byte the same twice."""
    blob = estimator if isinstance(estimator, bytes) else dumps(estimator)
    if sha256(blob) != card.artifact_sha256:
        raise ModelRefused(f"the card's artifact_sha256 {card.artifact_sha256[:12]}… is not the estimator's "
                           f"{sha256(blob)[:12]}…")
    if directory.exists():
        raise FileExistsError(f"{directory} exists: a model version is never overwritten")
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = directory.parent / f".{directory.name}.{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    (staging / MODEL_FILE).write_bytes(blob)
    (staging / CARD_FILE).write_text(card.model_dump_json(indent=2) + "\n", encoding="utf-8")
    os.rename(staging, directory)
    return directory


def read_card(directory: Path) -> ModelCard:
    try:
        return ModelCard.model_validate_json((directory / CARD_FILE).read_text(encoding="utf-8"))
    except OSError as e:
        raise ModelRefused(f"{directory}: cannot read {CARD_FILE}: {e.strerror or e}") from None
    except ValidationError as e:
        raise ModelRefused(f"{directory}: {CARD_FILE} is not a valid model card: {e.errors()[0]['msg']}") from None


@dataclass(frozen=True)
class PropensityModel:
    """A loaded model: scores a snapshot with the probability of cure within the card's horizon."""

    card: ModelCard
    estimator: Any
    positive: int  # the column of `predict_proba` that is "cured"

    @property
    def version(self) -> str:
        return self.card.version

    def score(self, snapshot: Snapshot) -> Score:
        probability = float(self.estimator.predict_proba([features(snapshot)])[0][self.positive])
        return Score(probability=min(1.0, max(0.0, probability)), model_version=self.version)


def load(directory: Path) -> PropensityModel:
    """The model in `directory`, after its card vouches for it: the features are today's `FEATURES`, and
    the artifact's hash is the card's (checked before anything is unpickled). Raises ModelRefused."""
    card = read_card(directory)
    if list(card.features) != list(FEATURES):
        raise ModelRefused(f"{card.version} was trained on other features than domain.propensity.FEATURES: "
                           "it must not score; train a new model")
    try:
        blob = (directory / MODEL_FILE).read_bytes()
    except OSError as e:
        raise ModelRefused(f"{directory}: cannot read {MODEL_FILE}: {e.strerror or e}") from None
    if sha256(blob) != card.artifact_sha256:
        raise ModelRefused(f"{directory / MODEL_FILE} is not the artifact its card names (SHA-256 differs): "
                           "refused unopened")
    estimator = joblib.load(io.BytesIO(blob))
    classes = [int(c) for c in getattr(estimator, "classes_", [])]
    if not hasattr(estimator, "predict_proba") or 1 not in classes:
        raise ModelRefused(f"{card.version}: the artifact is no classifier of cure (classes {classes})")
    if getattr(estimator, "n_features_in_", len(FEATURES)) != len(FEATURES):
        raise ModelRefused(f"{card.version}: the estimator takes {estimator.n_features_in_} features, "
                           f"not {len(FEATURES)}")
    return PropensityModel(card=card, estimator=estimator, positive=classes.index(1))


def latest(models_dir: Path) -> Path | None:
    """The newest version in `models_dir` by its card's `trained_at`; folders without a readable card
    (and the hidden ones a save writes first) are passed over."""
    if not models_dir.is_dir():
        return None
    found: list[tuple[Any, str, Path]] = []
    for folder in models_dir.iterdir():
        if folder.is_dir() and not folder.name.startswith("."):
            try:
                card = read_card(folder)
            except ModelRefused:
                continue
            found.append((card.trained_at, folder.name, folder))
    return max(found)[2] if found else None
