"""Training the propensity model on the ledger, and how it ranks against the rule scorecard.

One row per scoring moment of a case (its assessment, then each broken promise, right-party contact and
partial payment) built by `adapters.snapshots` as the case stood then, the very reading the scoring
activity uses. The label: cured (paid in full) within the horizon of the case's start. Only cases whose
horizon has passed by the data's end are read; moments at or after the cure, or past the horizon, are
dropped (their label is known already). Cases that ended within the horizon, uncured, withdrawn (a dispute
upheld) or referred to people (a hard stop, a review) are left out: they are not "did not pay"
(docs/research/kpis.md §4, Exclusions).

Out-of-time evaluation: cases opened on or after the split are held out, whole; the model trains only on
cases whose horizon ended by the split (opened_at + horizon <= split), so no label was still being written
when the held-out period began. Cases opened before the split whose horizon runs past it are on neither
side: they are counted on the card (`dropped_at_split`).

The headline is the fair head-to-head: one row per held-out case, at its assessment, the model's score
against the scorecard's ranking (`scorecard_rank`), both seeing the case as it was assessed. On every scoring
moment the model also sees the case's behaviour so far while the scorecard repeats its opening rank, so
that comparison flatters the model; it is kept beside the first, labelled. Each AUC has a 95% interval from
resampling cases, and the model-minus-scorecard difference a paired one; the Brier score and the
reliability table are over every held-out row.

The same data and seed give the same artifact, byte for byte: rows in (opening time, case id, moment)
order, the seed fixing the trees' and the bootstrap's randomness.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters import propensity_model, snapshots
from domain.enums import Stage
from domain.model_card import CalibrationBin, ModelCard
from domain.propensity import FEATURES, features, scorecard_rank

UNPAID_ENDINGS = (Stage.WITHDRAWN.value, Stage.REFERRED.value)
SIMPLER_IF_WITHIN = 0.005  # validation AUC: the logistic regression is chosen unless the trees beat it by more


class NotEnoughData(ValueError):
    """Too few labelled cases, or one outcome missing: no model is trained."""


@dataclass
class Dataset:
    """The rows, in case and time order; `case` indexes `cases` (one case's rows stay together)."""

    x: np.ndarray
    y: np.ndarray
    rank: np.ndarray  # the scorecard's ranking at each row
    case: np.ndarray
    at_assessment: np.ndarray  # True on each case's row at its assessment (one per case)
    cases: list[tuple[str, datetime]]  # (case id, opened_at) of the labelled cases, oldest first
    end: datetime
    excluded: int = 0  # ended unpaid within the horizon, withdrawn or referred
    unreadable: int = 0  # matured, but no snapshot could be built (not assessed, or erased)


@dataclass
class Trained:
    card: ModelCard
    directory: Path
    validation: dict[str, float]  # the candidates' AUC on the training side's latest cases
    cases_train: int
    cases_test: int
    dataset: Dataset = field(repr=False)
    seconds: dict[str, float] = field(default_factory=dict)


async def build_dataset(conn: AsyncConnection, horizon: timedelta, as_of: datetime | None = None) -> Dataset:
    """Every matured case's rows: one per scoring moment before its cure and its horizon."""
    end = as_of or await snapshots.data_end(conn)
    if end is None:
        raise NotEnoughData("the ledger holds no cases")
    matured = await snapshots.opened_by(conn, end - horizon)
    found = await snapshots.histories(conn, [case_id for case_id, _ in matured])
    x: list[list[float]] = []
    y: list[int] = []
    rank: list[float] = []
    case: list[int] = []
    first: list[bool] = []
    labelled: list[tuple[str, datetime]] = []
    excluded = unreadable = 0
    for case_id, opened_at in matured:
        h = found.get(case_id)
        if h is None or h.assessed is None:
            unreadable += 1
            continue
        limit = opened_at + horizon
        cure = snapshots.cure_of(h)
        cured = cure is not None and cure <= limit
        if not cured and h.stage in UNPAID_ENDINGS and h.closed_at is not None and h.closed_at <= limit:
            excluded += 1
            continue
        times = sorted({t for t, _ in snapshots.moments_of(h) if t < limit and (cure is None or t < cure)})
        shots = [(t, s) for t in times if (s := snapshots.snapshot_at(h, t)) is not None]
        if not shots:
            unreadable += int(h.assessed.profile is None)
            continue
        index, score = len(labelled), scorecard_rank(h.assessed.assessment)
        labelled.append((case_id, opened_at))
        for t, s in shots:
            x.append(features(s))
            y.append(int(cured))
            rank.append(score)
            case.append(index)
            first.append(t == h.assessed.at)
    return Dataset(x=np.array(x, dtype=float).reshape(-1, len(FEATURES)), y=np.array(y, dtype=int),
                   rank=np.array(rank), case=np.array(case, dtype=int), at_assessment=np.array(first, dtype=bool),
                   cases=labelled, end=end, excluded=excluded, unreadable=unreadable)


def candidates(seed: int = 0) -> dict[str, Callable[[], Any]]:
    """The estimators tried, each made afresh; `seed` fixes the trees' randomness (the logistic regression's
    lbfgs solver has none)."""
    return {
        "HistGradientBoostingClassifier": lambda: HistGradientBoostingClassifier(random_state=seed),
        "LogisticRegression (StandardScaler pipeline)": lambda: make_pipeline(
            StandardScaler(), LogisticRegression(max_iter=2000)),
    }


def choose(data: Dataset, train_cases: np.ndarray, seed: int = 0) -> tuple[str, dict[str, float]]:
    """The estimator for this data: both candidates fit on the older 80% of the training cases and are
    measured on the newest 20%; the logistic regression, simpler and steadier, unless the trees rank
    better by more than SIMPLER_IF_WITHIN. Too few for a validation of both outcomes: the trees."""
    made = candidates(seed)
    trees, linear = list(made)
    cut = train_cases[int(len(train_cases) * 0.8):]
    fit_rows, check_rows = ~np.isin(data.case, cut) & np.isin(data.case, train_cases), np.isin(data.case, cut)
    if len(set(data.y[check_rows])) < 2 or len(set(data.y[fit_rows])) < 2:
        return trees, {}
    auc = {}
    for name, make in made.items():
        model = make().fit(data.x[fit_rows], data.y[fit_rows])
        auc[name] = float(roc_auc_score(data.y[check_rows], model.predict_proba(data.x[check_rows])[:, 1]))
    return (linear if auc[linear] >= auc[trees] - SIMPLER_IF_WITHIN else trees), auc


def bootstrap(y: np.ndarray, scores: list[np.ndarray], case: np.ndarray, resamples: int = 500,
              seed: int = 0, difference: bool = False) -> list[tuple[float, float] | None]:
    """95% percentile intervals of each score's AUC, resampling cases (a case's rows go together) and
    using the same resample for every score (paired); with `difference`, one more: of the first score's AUC
    minus the second's, from the same resamples. None when no resample held both outcomes."""
    _, group = np.unique(case, return_inverse=True)
    groups = int(group.max()) + 1
    rng = np.random.default_rng(seed)
    found: list[list[float]] = [[] for _ in scores]
    for _ in range(resamples):
        weight = np.bincount(rng.integers(0, groups, groups), minlength=groups)[group]
        if len(set(y[weight > 0])) < 2:
            continue
        for i, s in enumerate(scores):
            found[i].append(float(roc_auc_score(y, s, sample_weight=weight)))
    if difference:
        found.append([a - b for a, b in zip(found[0], found[1], strict=True)])
    return [(float(np.percentile(f, 2.5)), float(np.percentile(f, 97.5))) if f else None for f in found]


def calibration(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[CalibrationBin]:
    """Rows in `bins` quantile bins of the predicted probability: mean predicted against share cured."""
    edges = np.unique(np.quantile(p, np.linspace(0, 1, bins + 1)))
    which = np.clip(np.searchsorted(edges[1:-1], p, side="right"), 0, max(len(edges) - 2, 0))
    out = []
    for b in range(max(len(edges) - 1, 1)):
        rows = which == b
        if rows.any():
            out.append(CalibrationBin(low=float(edges[b]), high=float(edges[min(b + 1, len(edges) - 1)]),
                                      predicted=float(p[rows].mean()), observed=float(y[rows].mean()),
                                      n=int(rows.sum())))
    return out


def split_time(data: Dataset, split_at: datetime | None) -> datetime:
    """The given split, else the 70% quantile of the labelled cases' opening times."""
    if split_at is not None:
        return split_at
    stamps = np.array([opened.timestamp() for _, opened in data.cases])
    return datetime.fromtimestamp(float(np.quantile(stamps, 0.7, method="higher")), UTC)


def sides(data: Dataset, split: datetime, horizon: timedelta) -> tuple[np.ndarray, np.ndarray]:
    """Per labelled case: held out (opened at or after the split), and training (its horizon ended by the
    split). A case opened before the split whose horizon runs past it is on neither side: its label was
    still being written when the held-out period began."""
    opened = [o for _, o in data.cases]
    return (np.array([o >= split for o in opened], dtype=bool),
            np.array([o + horizon <= split for o in opened], dtype=bool))


def fit(data: Dataset, horizon_days: int, split_at: datetime | None = None, simulated: bool = False,
        min_cases: int = 200, seed: int = 0) -> tuple[Any, dict[str, Any], dict[str, float], tuple[int, int]]:
    """The chosen estimator fit on the cases whose horizon ended by the split; the card's measures from the
    held-out cases (all but the version, the time and the artifact's hash); the validation AUCs; the cases
    on each side. The same data and seed give the same estimator. Raises NotEnoughData."""
    if len(data.cases) < min_cases:
        raise NotEnoughData(f"{len(data.cases)} labelled case(s) (matured by {data.end:%Y-%m-%d %H:%M} UTC with "
                            f"a {horizon_days}-day horizon); at least {min_cases} are needed")
    split = split_time(data, split_at)
    later, earlier = sides(data, split, timedelta(days=horizon_days))
    dropped = int((~later & ~earlier).sum())
    test, train = later[data.case], earlier[data.case]
    train_cases = np.flatnonzero(earlier)
    for side, rows in (("training", train), ("held-out", test)):
        if len(set(data.y[rows])) < 2:
            what = "no cases" if not rows.any() else f"only {'cured' if data.y[rows][0] else 'uncured'} cases"
            why = (f" (it takes only cases whose {horizon_days}-day horizon ended by the split; {dropped} opened "
                   "before it were dropped)" if side == "training" else "")
            raise NotEnoughData(f"the {side} side (split at {split:%Y-%m-%d %H:%M} UTC) has {what}: both "
                                f"outcomes are needed{why}")
    name, validation = choose(data, train_cases, seed)
    estimator = candidates(seed)[name]().fit(data.x[train], data.y[train])
    y, p, rank = data.y[test], estimator.predict_proba(data.x[test])[:, 1], data.rank[test]
    ci_model, ci_rules, ci_difference = bootstrap(y, [p, rank], data.case[test], seed=seed, difference=True)
    first = data.at_assessment[test]  # one row per held-out case: both scorers see it as it was assessed
    y_first, p_first, rank_first = y[first], p[first], rank[first]
    ci_model_first, ci_rules_first, ci_difference_first = bootstrap(
        y_first, [p_first, rank_first], data.case[test][first], seed=seed, difference=True)
    measures = {
        "library": f"scikit-learn {sklearn.__version__}", "estimator": name, "features": list(FEATURES),
        "horizon_days": horizon_days, "split_at": split, "n_train": int(train.sum()), "n_test": int(test.sum()),
        "positives_train": int(data.y[train].sum()), "positives_test": int(y.sum()),
        "auc_model": float(roc_auc_score(y, p)), "auc_scorecard": float(roc_auc_score(y, rank)),
        "auc_model_ci": ci_model, "auc_scorecard_ci": ci_rules, "auc_difference_ci": ci_difference,
        "auc_model_at_assessment": float(roc_auc_score(y_first, p_first)),
        "auc_scorecard_at_assessment": float(roc_auc_score(y_first, rank_first)),
        "auc_model_at_assessment_ci": ci_model_first, "auc_scorecard_at_assessment_ci": ci_rules_first,
        "auc_difference_at_assessment_ci": ci_difference_first,
        "n_train_cases": len(train_cases), "n_test_cases": int(later.sum()),
        "positives_train_cases": int(data.y[train & data.at_assessment].sum()),
        "positives_test_cases": int(y_first.sum()), "dropped_at_split": dropped,
        "brier_model": float(brier_score_loss(y, p)), "calibration": calibration(y, p), "simulated": simulated}
    return estimator, measures, validation, (len(train_cases), int(later.sum()))


async def train(conn: AsyncConnection, models_dir: Path, horizon_days: int, as_of: datetime | None = None,
                split_at: datetime | None = None, simulated: bool = False, min_cases: int = 200,
                seed: int = 0) -> Trained:
    """Build the dataset from the ledger, fit, evaluate, and save the artifact with its card under
    `models_dir/<version>`, the version `p-<UTC yyyymmddHHMM>-<artifact hash[:8]>`. Raises NotEnoughData
    (nothing is written then)."""
    started = time.perf_counter()
    data = await build_dataset(conn, timedelta(days=horizon_days), as_of)
    built = time.perf_counter()
    estimator, measures, validation, (n_train, n_test) = await asyncio.to_thread(
        fit, data, horizon_days, split_at, simulated, min_cases, seed)
    fitted = time.perf_counter()
    blob, trained_at = propensity_model.dumps(estimator), datetime.now(UTC)
    digest = propensity_model.sha256(blob)
    card = ModelCard(version=f"p-{trained_at:%Y%m%d%H%M}-{digest[:8]}", trained_at=trained_at,
                     artifact_sha256=digest, **measures)
    directory = propensity_model.save(models_dir / card.version, blob, card)
    return Trained(card=card, directory=directory, validation=validation, cases_train=n_train, cases_test=n_test,
                   dataset=data, seconds={"dataset": built - started, "fit": fitted - built})
