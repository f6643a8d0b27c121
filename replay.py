"""Replay case histories against the current code, before a deploy.

    python replay.py --workflow-id case-C-1001              # from the server (repeat the flag)
    python replay.py --query 'ExecutionStatus="Running"'     # every open case
    python replay.py tests/golden                            # exported JSON histories: files or folders

Each history is replayed with the project's converter and codec; each is reported as passing or as
non-deterministic with the server's description of where it diverges. Exit code 1 on any failure.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.worker import Replayer

from workflows.complaint import Complaint
from workflows.overdue_case import OverdueCase
from workflows.runner import workflow_runner

WORKFLOWS = [OverdueCase, Complaint]


@dataclass
class Verdict:
    workflow_id: str
    events: int
    failure: str | None

    def line(self) -> str:
        if self.failure is None:
            return f"PASS  {self.workflow_id} ({self.events} events)"
        return f"FAIL  {self.workflow_id} ({self.events} events): {self.failure}"


def payloads_in(message: Message) -> Iterator[Payload]:
    """Every Payload inside a protobuf message (histories nest them at many depths)."""
    for field, value in message.ListFields():
        if field.type != field.TYPE_MESSAGE:
            continue
        if field.message_type.GetOptions().map_entry:
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
    replayer = Replayer(workflows=workflows, data_converter=converter, workflow_runner=workflow_runner())
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
        verdicts.append(Verdict(history.workflow_id, len(history.events),
                                None if failure is None else f"{type(failure).__name__}: {failure}"))
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
        from adapters.codec import codec_from_environment
        from adapters.converter import data_converter, encrypted
        from settings import DEFAULT_KEYS_FILE

        try:
            converter = encrypted(codec_from_environment(DEFAULT_KEYS_FILE))
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
