"""Shared fixtures: a real Postgres (embedded, migrated by Alembic), the time-skipping Temporal test
server (or a real dev server), and a real worker with the real activities per test; all from `testkit`."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import text
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from adapters.codec import EncryptionCodec, new_key_line, parse_keys
from adapters.config_files import CONFIG_DIR
from adapters.converter import encrypted
from adapters.db import make_engine
from adapters.ledger import Ledger
from adapters.providers.sandbox import SandboxProvider
from adapters.registry import Registry
from domain.enums import Stage
from domain.status import CaseStatus
from service.compliance import compliance_report
from testkit import cases as synthetic
from testkit import postgres, servers, staff
from worker import build_worker
from workflows.case import OverdueCase

TEST_KEYS = ",".join([new_key_line("test-2"), new_key_line("test-1")])  # made fresh for each run


@pytest.fixture(scope="session")
def payload_keys() -> str:
    return TEST_KEYS


@pytest.fixture(scope="session")
def converter(payload_keys):
    return encrypted(EncryptionCodec(*parse_keys(payload_keys)))


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """DATABASE_URL when given (a throwaway database is made on it), else embedded Postgres."""
    base = os.environ.get("TEST_DATABASE_URL") or postgres.start_embedded(tmp_path_factory.mktemp("pg"))
    url = postgres.create_database(base, f"test_{uuid.uuid4().hex[:8]}")
    postgres.migrate(url)
    return url


@pytest_asyncio.fixture(scope="session")
async def engine(database_url: str):
    """The ledger's engine; its staff registry holds the test teams and collectors (`testkit.staff`)."""
    engine = make_engine(database_url)
    await Registry(engine).load(staff.registry(date.today()))
    yield engine
    await engine.dispose()


@pytest_asyncio.fixture
async def env(converter) -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server per test (0.1 s to start): one test's clock never stalls another's."""
    async with servers.time_skipping(converter) as env:
        yield env


@pytest_asyncio.fixture
async def dev_server(converter, tmp_path: Path) -> AsyncIterator[WorkflowEnvironment]:
    """A real Temporal dev server (in memory) with the case search attributes, for tests on the real
    clock; `testkit.servers.dev_environment` for one with other arguments."""
    async with servers.dev_environment(converter, log=tmp_path / "temporal.log") as env:
        yield env


@pytest.fixture(scope="session")
def config_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped configuration plus the test-only policies in tests/policies/."""
    folder = tmp_path_factory.mktemp("config")
    shutil.copytree(CONFIG_DIR, folder, dirs_exist_ok=True)
    for policy in (Path(__file__).parent / "policies").glob("*.yaml"):
        shutil.copy(policy, folder / "policies" / policy.name)
    return folder


@pytest_asyncio.fixture
async def worker(env: WorkflowEnvironment, engine, config_dir: Path):
    """A worker on a queue of its own, with the sandbox provider on the real Postgres."""
    queue = f"q-{uuid.uuid4().hex[:8]}"
    w = build_worker(env.client, engine, SandboxProvider(engine), queue, config_dir)
    async with w:
        yield queue


class Cases:
    """Start cases and move the time-skipping clock until they reach what a test waits for."""

    def __init__(self, env: WorkflowEnvironment, queue: str, engine):
        self.env, self.queue, self.engine = env, queue, engine
        self.client: Client = env.client
        self.started: list[WorkflowHandle] = []

    async def start(self, **overrides) -> WorkflowHandle:
        case = synthetic.case(**overrides)
        handle = await self.client.start_workflow(OverdueCase.run, case, id=case.workflow_id, task_queue=self.queue)
        self.started.append(handle)
        return handle

    async def close(self, test_name: str = "") -> None:
        """Audit every case the test ran, export finished histories when regenerating the golden set
        (GOLDEN_DIR), then terminate what it left running."""
        ledger = Ledger(self.engine)
        for handle in self.started:
            report = await compliance_report(ledger, handle.id.removeprefix("case-"))
            assert report.clean, report.text()
        if os.environ.get("GOLDEN_DIR") and test_name:
            await self._export(Path(os.environ["GOLDEN_DIR"]), test_name)
        for handle in self.started:
            try:
                await handle.terminate("test finished")
            except RPCError as e:
                if e.status is not RPCStatusCode.NOT_FOUND:  # NOT_FOUND: it had already finished
                    raise

    async def _export(self, folder: Path, test_name: str) -> None:
        """Every case's history as the test left it (closed or open), decrypted (synthetic data only), as
        golden histories for replay."""
        from replay import decrypted

        folder.mkdir(parents=True, exist_ok=True)
        for n, handle in enumerate(self.started):
            history = await handle.fetch_history()  # closed or still open: both must replay
            plain = await decrypted(history, self.client.data_converter)
            name = re.sub(r"[^\w-]+", "-", test_name.removeprefix("test_"))[:80] + (f"-{n}" if n else "")
            (folder / f"{name}.json").write_text(plain.to_json(), encoding="utf-8")
            first = handle.first_execution_run_id  # a run that continued as new (an early warning handed over)
            if first and first != history.run_id:
                earlier = await self.client.get_workflow_handle(handle.id, run_id=first).fetch_history()
                plain = await decrypted(earlier, self.client.data_converter)
                (folder / f"{name}-first-run.json").write_text(plain.to_json(), encoding="utf-8")

    async def status(self, handle: WorkflowHandle) -> CaseStatus:
        return await handle.query(OverdueCase.status)

    async def until(self, handle: WorkflowHandle, predicate, *, max_steps: int = 400,
                    what: str = "condition") -> CaseStatus:
        """Skip time to the case's next planned action (or an hour) until predicate(status) holds."""
        for _ in range(max_steps):
            status = await self.status(handle)
            if predicate(status):
                return status
            if status.stage.terminal:
                break
            step = timedelta(hours=1)
            if status.next_action and status.next_action.at:
                now = await self.env.get_current_time()
                step = max(timedelta(seconds=1), status.next_action.at - now + timedelta(seconds=1))
            await self.env.sleep(step)
        raise AssertionError(f"{what} not reached; last status: {status.model_dump_json(indent=1)}")

    async def stage(self, handle: WorkflowHandle, stage: Stage, **kw) -> CaseStatus:
        return await self.until(handle, lambda s: s.stage is stage, what=f"stage {stage.value}", **kw)

    async def rows(self, sql: str, **params) -> list[dict]:
        async with self.engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(text(sql), params)).mappings()]


@pytest_asyncio.fixture
async def cases(env, worker, engine, request) -> AsyncIterator[Cases]:
    cases = Cases(env, worker, engine)
    yield cases
    await cases.close(request.node.name)


def pytest_configure(config):
    Path(config.rootpath, ".data").mkdir(exist_ok=True)
    # Codec servers the tests start log their accesses to a throwaway file, not `make run`'s log.
    os.environ.setdefault("CODEC_ACCESS_LOG", str(Path(tempfile.mkdtemp(prefix="codec-log-")) / "access.log"))
