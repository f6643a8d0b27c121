"""DueCourse's worker, `worker.py` itself (its settings, wiring and telemetry), with the benchmark's
worker settings (`loadtest.tuning.WorkerTuning`) given on the command line: they are passed to the
SDK's `Worker` on top of what `worker.py` gives it (`max_cached_workflows` from WORKER_CACHE).

    python -m loadtest.tuned --cache 1000 --workflow-tasks 50 --activities 10   # plus worker.py's environment

`worker.py` is run as a script, not imported: no package imports an entry point (import contracts).
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path
from typing import Any

from temporalio import worker as sdk

from loadtest.tuning import WorkerTuning

WORKER_PY = Path(__file__).resolve().parent.parent / "worker.py"


def with_tuning(tuning: WorkerTuning) -> None:
    """Every `Worker` built in this process from now on gets `tuning`'s options."""
    original = sdk.Worker.__init__

    def tuned(self: sdk.Worker, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **(kwargs | tuning.options()))

    sdk.Worker.__init__ = tuned  # type: ignore[method-assign]


if __name__ == "__main__":
    with_tuning(WorkerTuning.parse(sys.argv[1:]))
    runpy.run_path(str(WORKER_PY), run_name="__main__")
