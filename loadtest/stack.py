"""A whole deployment on this machine, in separate processes that a script can kill and restart:
embedded PostgreSQL, a file-backed Temporal dev server, and workers. The benchmark and the fault
run (and the CI version of the fault run) drive it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from temporalio.client import Client

from adapters.codec import new_key_line
from adapters.config_files import CONFIG_DIR
from settings import Settings, connect
from testkit import postgres, processes, servers
from testkit.processes import Process

POLICIES = Path(__file__).resolve().parent / "policies"


class Stack:
    """Postgres + Temporal dev server (state in a file) + the config with the load-test policies."""

    def __init__(self, data: Path, in_memory: bool = False):
        self.data, self.in_memory = data, in_memory
        shutil.rmtree(data, ignore_errors=True)
        data.mkdir(parents=True)
        self.config = data / "config"
        shutil.copytree(CONFIG_DIR, self.config)
        for policy in POLICIES.glob("*.yaml"):
            shutil.copy(policy, self.config / "policies" / policy.name)
        self.keys = new_key_line("load-1")
        self.port = servers.free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.temporal = servers.dev_server(self.port, data / "temporal.log",
                                           db_file=None if in_memory else data / "temporal.db")
        self.database_url = ""
        self.pgdata: Path | None = None
        self.workers: list[Process] = []

    def start_postgres(self) -> None:
        self.pgdata = self.data / "postgres"
        self.database_url = postgres.create_database(postgres.start_embedded(self.pgdata), "loadtest")
        postgres.migrate(self.database_url)

    def stop_postgres(self) -> None:
        assert self.pgdata is not None, "start_postgres first"
        postgres.stop_embedded(self.pgdata)

    def restart_postgres(self) -> None:
        assert self.pgdata is not None, "start_postgres first"
        postgres.start_embedded_again(self.pgdata)

    def start_temporal(self) -> None:
        self.temporal.start()

    def worker_env(self, queue: str) -> dict[str, str]:
        return {"TEMPORAL_ADDRESS": self.address, "DATABASE_URL": self.database_url, "TASK_QUEUE": queue,
                "CONFIG_DIR": str(self.config), "PAYLOAD_KEYS": self.keys, "OTEL_TRACES_EXPORTER": "none",
                "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"}

    def add_worker(self, queue: str, argv: list[str] | None = None, **env: str) -> Process:
        name = f"worker-{len(self.workers) + 1}"
        worker = processes.worker(self.data / f"{name}.log", self.worker_env(queue) | env, name=name, argv=argv)
        worker.start()
        self.workers.append(worker)
        return worker

    async def client(self, timeout: float = 60) -> Client:
        """A client of the dev server, once it answers (start_temporal first)."""
        os.environ["PAYLOAD_KEYS"] = self.keys
        return await self.temporal.wait_ready(lambda: connect(Settings(temporal_address=self.address)), timeout)

    def stop(self) -> None:
        for w in self.workers:
            w.stop()
        self.temporal.stop()
        if self.pgdata:
            postgres.stop_embedded(self.pgdata)
