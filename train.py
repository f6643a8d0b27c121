"""Train the propensity-to-pay model on the ledger and say how it ranks against the rule scorecard.

    duecourse train [--models-dir DIR] [--horizon-days N] [--as-of TIME] [--split-at TIME] [--simulated]

Reads DATABASE_URL (the ledger's database). Writes `<models-dir>/<version>/model.joblib` and `card.json`;
the worker scores new cases with the newest. Exit codes: 0 trained, 2 bad input, no database, or too few
labelled cases (nothing is written then).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.exc import DBAPIError

from adapters.config_files import load_policy
from adapters.db import make_engine
from analytics.propensity import NotEnoughData, Trained, train
from settings import Settings, database_problem

PROG = "duecourse train"
DEFAULT_MODELS_DIR = Path(".data/models/propensity")


def _time(text: str) -> datetime:
    """An ISO 8601 time; one without an offset is taken as UTC."""
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r} (e.g. 2026-12-01T00:00:00Z)") from None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"a whole number of at least 1, not {text!r}")
    return value


def parser() -> argparse.ArgumentParser:
    horizon = load_policy("standard").propensity.horizon
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("--models-dir", type=Path, default=Settings().model_dir or DEFAULT_MODELS_DIR,
                   help="where model versions go (default: MODEL_DIR, else %(default)s)")
    p.add_argument("--horizon-days", type=_positive, default=max(1, horizon.days),
                   help="the label: cured within this many days of the case's start (default: the standard "
                        "policy's, %(default)s)")
    p.add_argument("--as-of", type=_time, help="the data's end (default: the latest time in the ledger)")
    p.add_argument("--split-at", type=_time, help="cases opened before it train, later ones are held out "
                   "(default: the 70%% quantile of the cases' opening times)")
    p.add_argument("--simulated", action="store_true", help="the ledger holds the borrower simulator's portfolio")
    p.add_argument("--min-cases", type=_positive, default=200, help="refuse with fewer labelled cases "
                   "(default: %(default)s)")
    return p


def summary(t: Trained) -> str:
    c = t.card

    def auc(value: float, ci: tuple[float, float] | None) -> str:
        return f"{value:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")

    chosen = ", ".join(f"{name} {v:.3f}" for name, v in t.validation.items()) or "too few for a validation"
    return "\n".join([
        f"Model {c.version}: {c.estimator} (validation AUC: {chosen})" + (" (simulated data)" if c.simulated else ""),
        *([f"Held-out AUC at assessment (one row per case): model "
           f"{auc(c.auc_model_at_assessment, c.auc_model_at_assessment_ci)} vs scorecard "
           f"{auc(c.auc_scorecard_at_assessment, c.auc_scorecard_at_assessment_ci)}"]
          if c.auc_model_at_assessment is not None and c.auc_scorecard_at_assessment is not None else []),
        f"Held-out AUC at every scoring moment: model {auc(c.auc_model, c.auc_model_ci)} vs scorecard "
        f"{auc(c.auc_scorecard, c.auc_scorecard_ci)} (95% intervals, cases resampled)",
        f"Dropped at the split (their 30-day window crossed it): {c.dropped_at_split or 0} case(s)"
        .replace("30-day", f"{c.horizon_days}-day"),
        f"Brier score {c.brier_model:.3f}; cured within {c.horizon_days} days: {c.positives_test} of {c.n_test} "
        f"held-out rows ({t.cases_test} cases opened from {c.split_at:%Y-%m-%d %H:%M} UTC); trained on {c.n_train} "
        f"rows of {t.cases_train} cases, {c.positives_train} of them cured",
        f"Left out: {t.dataset.excluded} case(s) withdrawn or referred unpaid within the horizon, "
        f"{t.dataset.unreadable} without a readable assessment",
        f"Dataset {t.seconds['dataset']:.1f} s, fit and evaluation {t.seconds['fit']:.1f} s",
        f"Artifact: {t.directory}",
    ])


async def main(argv: Sequence[str]) -> int:
    args = parser().parse_args(list(argv))
    url = Settings().database_url
    if not url:
        print(f"{PROG}: DATABASE_URL is not set: set it to the ledger's postgresql:// URL", file=sys.stderr)
        return 2
    engine = make_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            trained = await train(conn, args.models_dir, args.horizon_days, as_of=args.as_of, split_at=args.split_at,
                                  simulated=args.simulated, min_cases=args.min_cases)
    except NotEnoughData as e:
        print(f"{PROG}: no model trained: {e}", file=sys.stderr)
        return 2
    except (FileExistsError, PermissionError, IsADirectoryError, NotADirectoryError) as e:
        print(f"{PROG}: cannot write the model under {args.models_dir}: {e}", file=sys.stderr)
        return 2
    except (OSError, DBAPIError) as e:
        print(f"{PROG}: cannot use the ledger at DATABASE_URL: {database_problem(e)}", file=sys.stderr)
        return 2
    finally:
        await engine.dispose()
    print(summary(trained))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
