"""Propensity scoring: the case as the ledger has it, through the newest trained model.

The snapshot is built from the ledger by the same code the training command uses (`adapters.snapshots`),
after the facts the case still owes are written, so a case is scored on exactly what a model learned
from. Without a trained model nothing is scored and the rules decide alone.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from temporalio import activity

from activities.contracts import ScoreRequest, ScoreResult
from activities.ledger import write_facts
from adapters import propensity_model
from adapters.ledger import Ledger
from adapters.propensity_model import PropensityModel
from adapters.snapshots import snapshot

log = logging.getLogger("duecourse.scoring")


class ModelShelf:
    """The newest model in a directory (`train.py` writes there): loaded once, and again when a newer
    one appears, looked for at most once a minute."""

    LOOK_EVERY = 60.0

    def __init__(self, models_dir: Path | None):
        self.models_dir = models_dir
        self._model: PropensityModel | None = None
        self._looked = float("-inf")
        self._refused: set[str] = set()  # versions refused once are not tried again

    def current(self) -> PropensityModel | None:
        """The newest model that loads; one refused (a hash or feature mismatch) is logged and the last good
        one kept, so a bad artifact never stops cases from opening."""
        if self.models_dir is None:
            return None
        if time.monotonic() - self._looked >= self.LOOK_EVERY:
            self._looked = time.monotonic()
            newest = propensity_model.latest(self.models_dir)
            if newest is not None and (self._model is None or newest.name != self._model.version) \
                    and newest.name not in self._refused:
                try:
                    self._model = propensity_model.load(newest)
                except propensity_model.ModelRefused as e:
                    self._refused.add(newest.name)
                    log.error("propensity model refused; keeping %s: %s",
                              self._model.version if self._model else "none (the rules decide)", e)
        return self._model

    @property
    def version(self) -> str | None:
        model = self.current()
        return model.version if model is not None else None


class ScoringActivities:
    def __init__(self, ledger: Ledger, shelf: ModelShelf):
        self.ledger, self.shelf = ledger, shelf

    @activity.defn
    async def score_propensity(self, request: ScoreRequest) -> ScoreResult:
        """Write what the case owes, score its snapshot at `at`, keep the score on the case row."""
        model = self.shelf.current()
        async with self.ledger.transaction() as tx:
            await write_facts(tx, request.case_id, request.owed)
            if model is None:
                return ScoreResult(probability=None, model_version=None)
            seen = await snapshot(tx.conn, request.case_id, request.at)
            if seen is None:
                return ScoreResult(probability=None, model_version=model.version)
            score = model.score(seen)
            await tx.update_case(request.case_id, propensity=round(score.probability, 4),
                                 model_version=score.model_version)
        return ScoreResult(probability=score.probability, model_version=score.model_version)

    def all(self) -> list:
        return [self.score_propensity]
