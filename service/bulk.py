"""Start cases in bulk from a CSV or JSONL file: streamed, a bounded number in flight, every row
accounted for. A rerun starts nothing twice (each case id maps to one workflow id). Each row is
validated and started by `Cases.start`, the one way a case starts."""

from __future__ import annotations

import asyncio
import csv
import json
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from service.backpressure import Backpressure
from service.cases import Cases, TemporalError
from service.rows import Row, count_lines, file_format, read_rows

log = logging.getLogger("duecourse.intake")


@dataclass
class BulkSummary:
    rows: int = 0
    started: int = 0
    already_running: int = 0
    already_closed: int = 0
    rejected: int = 0
    failed: int = 0  # valid rows Temporal could not take (after retries): safe to rerun
    reasons: Counter = field(default_factory=Counter)

    def text(self) -> str:
        lines = [f"{self.rows} rows: {self.started} started, {self.already_running} already running, "
                 f"{self.already_closed} already closed, {self.rejected} rejected, {self.failed} failed"]
        lines += [f"  {n} × {reason}" for reason, n in self.reasons.most_common(10)]
        return "\n".join(lines)


class Rejects:
    """Bad rows with their line and reason, in the input's own format so they can be fixed and rerun."""

    def __init__(self, path: Path | None, fmt: str):
        self.path, self.fmt = path, fmt
        self._file: TextIO | None = None
        self._csv: csv.DictWriter | None = None

    def write(self, row: Row, reason: str) -> None:
        if self.path is None:
            return
        if self._file is None:
            self._file = self.path.open("w", newline="", encoding="utf-8")
        raw = dict(row.raw or {})
        if self.fmt == "jsonl":
            self._file.write(json.dumps({"_line": row.line, "_reason": reason, **raw}, ensure_ascii=False) + "\n")
            return
        record = {"_line": row.line, "_reason": reason, **{k: v for k, v in raw.items() if k is not None}}
        if self._csv is None or set(record) - set(self._csv.fieldnames):
            self._csv = csv.DictWriter(self._file, fieldnames=list(record), extrasaction="ignore")
            self._csv.writeheader()
        self._csv.writerow(record)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


async def start_bulk(cases: Cases, path: Path, *, fmt: str | None = None,
                     concurrency: int = 32, rejects: Path | None = None,
                     progress: Callable[[int], Any] | None = None,
                     pressure: Backpressure | None = None) -> BulkSummary:
    """Read `path` row by row and start each valid case, at most `concurrency` at once, and with
    `pressure` only as fast as the workers take them."""
    fmt = file_format(path, fmt)
    summary, bad = BulkSummary(), Rejects(rejects, fmt)
    queue: asyncio.Queue[Row | None] = asyncio.Queue(maxsize=concurrency * 2)

    def reject(row: Row, reason: str, failed: bool = False) -> None:
        if failed:
            summary.failed += 1
        else:
            summary.rejected += 1
        summary.reasons[reason.split(";")[0][:120]] += 1
        bad.write(row, reason)
        log.warning("row refused", extra={"status": "failed" if failed else "rejected", "line": row.line})

    async def starter() -> None:
        while (row := await queue.get()) is not None:
            if row.data is None:
                reject(row, row.problem)
            else:
                try:
                    if pressure is not None:
                        await pressure.admit()
                    report = await cases.start(row.data)
                except TemporalError as e:
                    reject(row, f"Temporal refused: {e.message}", failed=True)
                else:
                    if report.status == "rejected":
                        reject(row, report.detail)
                    else:
                        setattr(summary, report.status, getattr(summary, report.status) + 1)
            if progress:
                progress(1)

    workers = [asyncio.create_task(starter()) for _ in range(concurrency)]
    try:
        for row in read_rows(path, fmt):
            summary.rows += 1
            await queue.put(row)
        for _ in workers:
            await queue.put(None)
        await asyncio.gather(*workers)
    finally:
        for w in workers:
            w.cancel()
        bad.close()
    return summary


def total_rows(path: Path, fmt: str) -> int:
    lines = count_lines(path)
    return max(lines - 1, 0) if fmt == "csv" else lines
