"""Replay case histories against the current code, before a deploy.

    python replay.py --workflow-id case-C-1001              # from the server (repeat the flag)
    python replay.py --query 'ExecutionStatus="Running"'     # every open case
    python replay.py tests/golden                            # exported JSON histories: files or folders

Each history is replayed with the project's converter and codec; each is reported as passing or as
non-deterministic with the first recorded event the new code no longer produces and the SDK's
reason. Exit code 1 on any failure.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.worker import Replayer

from workflows.case import OverdueCase
from workflows.complaint import Complaint
from workflows.daily_intake import DailyIntake
from workflows.runner import workflow_runner
from workflows.upcoming_due import UpcomingDue

WORKFLOWS = [OverdueCase, UpcomingDue, Complaint, DailyIntake]


@dataclass
class Verdict:
    workflow_id: str
    events: int
    failure: str | None
    diverges_at: str | None = None  # the first recorded event the new code no longer produces

    def line(self) -> str:
        if self.failure is None:
            return f"PASS  {self.workflow_id} ({self.events} events)"
        where = f" diverges at {self.diverges_at}:" if self.diverges_at else ""
        return f"FAIL  {self.workflow_id} ({self.events} events){where} {self.failure}"


def _reason(failure: Exception) -> str:
    """The SDK's own sentence from inside the core's failure dump."""
    found = re.search(r'message: "((?:[^"\\]|\\.)*)"', str(failure))
    return f"{type(failure).__name__}: {found.group(1) if found else failure}"


def _describe(event: HistoryEvent) -> str:
    kind = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_").lower()
    attrs = event.activity_task_scheduled_event_attributes
    detail = f" {attrs.activity_type.name}" if event.HasField("activity_task_scheduled_event_attributes") else ""
    return f"event {event.event_id} ({kind}{detail})"


async def _first_divergence(replayer: Replayer, history: WorkflowHistory) -> str | None:
    """Binary search over workflow-task boundaries for the first task whose replay fails; its
    commands start right after the previous task completed, so that event is where they diverge."""
    starts = [i for i, e in enumerate(history.events) if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED]

    async def fails(k: int) -> bool:
        prefix = WorkflowHistory(history.workflow_id, history.events[: starts[k] + 1])
        return (await replayer.replay_workflow(prefix, raise_on_replay_failure=False)).replay_failure is not None

    lo, hi = 0, len(starts) - 1
    if not starts or not await fails(hi):
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if await fails(mid):
            hi = mid
        else:
            lo = mid + 1
    previous = starts[lo - 1] if lo > 0 else -1
    completed = next((i for i in range(previous + 1, len(history.events))
                      if history.events[i].event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED), None)
    if completed is None or completed + 1 >= len(history.events):
        return None
    return _describe(history.events[completed + 1])


def payloads_in(message: Message) -> Iterator[Payload]:
    """Every Payload inside a protobuf message (histories nest them at many depths)."""
    for field, value in message.ListFields():
        if field.type != field.TYPE_MESSAGE:
            continue
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            items = list(value.values())
        elif field.is_repeated:
            items = list(value)
        else:
            items = [value]
        for item in items:
            if isinstance(item, Payload):
                yield item
            elif isinstance(item, Message):
                yield from payloads_in(item)


async def decrypted(history: WorkflowHistory, converter: DataConverter) -> WorkflowHistory:
    """The same history with every payload opened (for exporting synthetic golden histories)."""
    codec = converter.payload_codec
    for event in history.events:
        for payload in payloads_in(event):
            if codec is not None:
                payload.CopyFrom((await codec.decode([payload]))[0])
    return history


async def replay(histories: AsyncIterator[WorkflowHistory] | list[WorkflowHistory], converter: DataConverter,
                 workflows: list = WORKFLOWS) -> list[Verdict]:
    replayer = Replayer(workflows=workflows, data_converter=converter, workflow_runner=workflow_runner(strict=True))
    verdicts = []

    async def each() -> AsyncIterator[WorkflowHistory]:
        if isinstance(histories, list):
            for h in histories:
                yield h
        else:
            async for h in histories:
                yield h

    async for history in each():
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        failure = result.replay_failure
        if failure is None:
            verdicts.append(Verdict(history.workflow_id, len(history.events), None))
        else:
            verdicts.append(Verdict(history.workflow_id, len(history.events), _reason(failure),
                                    await _first_divergence(replayer, history)))
    return verdicts


def from_files(paths: list[Path]) -> list[WorkflowHistory]:
    files = [f for p in paths for f in (sorted(p.rglob("*.json")) if p.is_dir() else [p])]
    return [WorkflowHistory.from_json(f.stem, f.read_text(encoding="utf-8")) for f in files]


async def from_server(client: Client, ids: list[str], query: str | None) -> AsyncIterator[WorkflowHistory]:
    for workflow_id in ids:
        yield await client.get_workflow_handle(workflow_id).fetch_history()
    if query:
        async for history in client.list_workflows(query).map_histories():
            yield history


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="replay.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", type=Path, help="JSON history files or folders of them")
    parser.add_argument("--workflow-id", action="append", default=[])
    parser.add_argument("--query", help="a list query, e.g. 'ExecutionStatus=\"Running\"'")
    args = parser.parse_args(argv)
    if not (args.paths or args.workflow_id or args.query):
        parser.error("give history files or folders, --workflow-id or --query")
    from settings import connect

    if args.paths:
        from adapters.converter import data_converter, encrypted
        from settings import PayloadKeys

        try:
            converter = encrypted(PayloadKeys().codec())
        except LookupError:
            converter = data_converter  # plaintext (synthetic) histories need no key
        verdicts = await replay(from_files(args.paths), converter)
    else:
        client = await connect()
        verdicts = await replay(from_server(client, args.workflow_id, args.query), client.data_converter)
    for v in verdicts:
        print(v.line())
    failed = sum(v.failure is not None for v in verdicts)
    print(f"{len(verdicts)} replayed, {failed} failed")
    return 1 if failed or not verdicts else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
