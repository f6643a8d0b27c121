"""Worker settings for the benchmark's workers (DueCourse's, the minimal design's, the bare one's):
one description, given to each worker process on its command line, so every design in a run is
measured with the same settings."""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass
from typing import Any

from temporalio.worker import PollerBehaviorSimpleMaximum


@dataclass(frozen=True)
class WorkerTuning:
    cache: int = 1000  # max_cached_workflows (the project's WORKER_CACHE)
    workflow_tasks: int | None = None  # max_concurrent_workflow_tasks (SDK default: 100)
    activities: int | None = None  # max_concurrent_activities (SDK default: 100)
    workflow_polls: int | None = None  # workflow task pollers (SDK default: 5)
    activity_polls: int | None = None  # activity task pollers (SDK default: 5)

    def argv(self) -> list[str]:
        return [f"--{k.replace('_', '-')}={v}" for k, v in asdict(self).items() if v is not None]

    def options(self) -> dict[str, Any]:
        """Keyword arguments for `temporalio.worker.Worker`."""
        options: dict[str, Any] = {"max_cached_workflows": self.cache}
        if self.workflow_tasks is not None:
            options["max_concurrent_workflow_tasks"] = self.workflow_tasks
        if self.activities is not None:
            options["max_concurrent_activities"] = self.activities
        if self.workflow_polls is not None:
            options["workflow_task_poller_behavior"] = PollerBehaviorSimpleMaximum(self.workflow_polls)
        if self.activity_polls is not None:
            options["activity_task_poller_behavior"] = PollerBehaviorSimpleMaximum(self.activity_polls)
        return options

    def label(self) -> str:
        d = asdict(self)
        return ", ".join(f"{k} {v if v is not None else 'default'}" for k, v in d.items())

    def replace(self, **changes: Any) -> WorkerTuning:
        return WorkerTuning(**(asdict(self) | changes))

    @classmethod
    def parse(cls, argv: list[str] | None = None) -> WorkerTuning:
        parser = argparse.ArgumentParser()
        for name in asdict(cls()):
            parser.add_argument(f"--{name.replace('_', '-')}", dest=name, type=int)
        given = {k: v for k, v in vars(parser.parse_args(argv)).items() if v is not None}
        return cls(**given)
