"""A whole deployment on this machine, in separate processes that a script can kill and restart:
embedded PostgreSQL, a file-backed Temporal dev server, and workers. The benchmark and the fault
run (and the CI version of the fault run) drive it."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil
from temporalio.client import Client

from adapters.codec import new_key_line
from adapters.config_files import CONFIG_DIR, load_rule_pack
from devstack import binaries, postgres
from domain import clock
from settings import Settings, connect
from workflows import search

ROOT = Path(__file__).resolve().parent.parent
POLICIES = Path(__file__).resolve().parent / "policies"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def daytime_zone() -> str:
    """A zone where it is now well inside the contact window, so the rules hold on the real clock."""
    window = load_rule_pack("cn").contact_window
    return clock.zone_inside_window(datetime.now(UTC), window.start, window.end)


class Process:
    """A child process the script may kill -9 and start again."""

    def __init__(self, name: str, argv: list[str], log: Path, env: dict[str, str]):
        self.name, self.argv, self.log, self.env = name, argv, log, env
        self.proc: subprocess.Popen | None = None
        self.restarts = 0

    def start(self) -> None:
        self.proc = subprocess.Popen(self.argv, cwd=ROOT, env=os.environ | self.env, stdout=self.log.open("ab"),
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def restart(self) -> None:
        self.kill()
        self.restarts += 1
        self.start()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def rss_mib(self) -> float:
        """Resident memory of the process and its children."""
        if not self.alive():
            return 0.0
        p = psutil.Process(self.proc.pid)
        return sum(x.memory_info().rss for x in [p, *p.children(recursive=True)]) / 2**20


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
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.temporal: Process | None = None
        self.database_url = ""
        self.workers: list[Process] = []

    def start_postgres(self) -> None:
        self.pgdata = self.data / "postgres"
        self.database_url = postgres.create_database(postgres.start_embedded(self.pgdata), "loadtest")
        postgres.migrate(self.database_url)

    def stop_postgres(self) -> None:
        postgres.stop_embedded(self.pgdata)

    def restart_postgres(self) -> None:
        postgres.start_embedded_again(self.pgdata)

    def start_temporal(self) -> None:
        state = [] if self.in_memory else [
            "--db-filename", str(self.data / "temporal.db"),
            "--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=NORMAL"]
        self.temporal = Process("temporal", [
            str(binaries.temporal_cli()), "server", "start-dev", "--ip", "127.0.0.1", "--port", str(self.port),
            "--headless", "--log-level", "error", *state, *search.dev_server_flags(),
        ], self.data / "temporal.log", {})
        self.temporal.start()

    def worker_env(self, queue: str) -> dict[str, str]:
        return {"TEMPORAL_ADDRESS": self.address, "DATABASE_URL": self.database_url, "TASK_QUEUE": queue,
                "CONFIG_DIR": str(self.config), "PAYLOAD_KEYS": self.keys, "OTEL_TRACES_EXPORTER": "none",
                "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"}

    def add_worker(self, queue: str, argv: list[str] | None = None, **env: str) -> Process:
        worker = Process(f"worker-{len(self.workers) + 1}", argv or [sys.executable, "worker.py"],
                         self.data / f"worker-{len(self.workers) + 1}.log", self.worker_env(queue) | env)
        worker.start()
        self.workers.append(worker)
        return worker

    async def client(self, timeout: float = 60) -> Client:
        os.environ["PAYLOAD_KEYS"] = self.keys
        deadline = time.monotonic() + timeout
        while True:
            try:
                return await connect(Settings(temporal_address=self.address))
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.3)

    def stop(self) -> None:
        for w in self.workers:
            w.stop()
        if self.temporal:
            self.temporal.stop()
        if getattr(self, "pgdata", None):
            postgres.stop_embedded(self.pgdata)
