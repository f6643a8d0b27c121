"""A child process that a script may kill with SIGKILL and start again: the workers and servers of the
tests, the load test and the dev stack. Output goes to a log file; `wait_ready` waits until it answers."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TypeVar

import psutil

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")


class ProcessExited(RuntimeError):
    """The process ended while we waited for it to answer."""


class Process:
    """A child process (in a session of its own, so a kill reaches its children), run from the repository
    root with the environment plus `env`, its output appended to `log` (discarded when None)."""

    def __init__(self, name: str, argv: list[str], log: Path | None, env: Mapping[str, str] | None = None):
        self.name, self.argv, self.log, self.env = name, argv, log, dict(env or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    def start(self) -> subprocess.Popen[bytes]:
        output = self.log.open("ab") if self.log else subprocess.DEVNULL
        self.proc = subprocess.Popen(self.argv, cwd=ROOT, env=os.environ | self.env, stdout=output,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        return self.proc

    def kill(self) -> None:
        """SIGKILL, the process and its children."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def restart(self) -> None:
        self.kill()
        self.restarts += 1
        self.start()

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM, then SIGKILL if it has not exited within `timeout` seconds."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def rss_mib(self) -> float:
        """Resident memory of the process and its children."""
        if self.proc is None or not self.alive():
            return 0.0
        p = psutil.Process(self.proc.pid)
        return sum(x.memory_info().rss for x in [p, *p.children(recursive=True)]) / 2**20

    def log_tail(self, chars: int = 2000) -> str:
        if self.log is None or not self.log.exists():
            return ""
        return self.log.read_text(errors="replace")[-chars:]

    async def wait_ready(self, probe: Callable[[], Awaitable[T]], timeout: float = 60, every: float = 0.3) -> T:
        """Call `probe` until it succeeds and return its result; fail early if the process exits."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.alive():
                code = self.proc.returncode if self.proc else None
                raise ProcessExited(f"{self.name} exited (code {code}). Its log:\n{self.log_tail()}")
            try:
                return await probe()
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(every)


def worker(log: Path | None, env: Mapping[str, str], *, name: str = "worker",
           argv: list[str] | None = None) -> Process:
    """A worker process (`python worker.py` unless `argv` says otherwise), not started yet."""
    return Process(name, argv or [sys.executable, "worker.py"], log, env)
