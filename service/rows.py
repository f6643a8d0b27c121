"""Bulk case files, read as a stream: CSV with dotted column names, or JSON Lines.

CSV columns name the case's fields by path (`borrower.name`, `loan.principal`,
`borrower.mobile_numbers.0`, `emergency_contacts.0.phone`); empty cells are left out. Columns and
keys starting with `_` are ignored, so a rejects file (which adds `_line` and `_reason`) can be
fixed and fed back as it is.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMATS = ("csv", "jsonl")


@dataclass
class Row:
    line: int                    # where it starts in the file (1-based; the CSV header is line 1)
    raw: dict[str, Any] | None   # as read, for the rejects file
    data: dict[str, Any] | None  # the nested case, or None when the row could not be read
    problem: str = ""


def file_format(path: Path, given: str | None = None) -> str:
    fmt = given or {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}.get(path.suffix.lower())
    if fmt not in FORMATS:
        raise ValueError(f"{path.name}: give --format csv or jsonl (not known from the suffix)")
    return fmt


def unflatten(flat: dict[str, str]) -> dict[str, Any]:
    """`{"a.b": 1, "c.0": 2}` → `{"a": {"b": 1}, "c": [2]}`; a path used both ways is an error."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        if key is None:
            raise ValueError("more cells than the header has columns")
        if key.startswith("_") or value is None or value == "":
            continue
        parts = key.strip().split(".")
        node: Any = out
        for part, after in zip(parts, parts[1:] + [None], strict=True):
            index: Any = int(part) if part.isdigit() else part  # a list position or a field name
            if isinstance(node, list) != isinstance(index, int):
                raise ValueError(f"column {key!r}: '{part}' does not fit the other columns' shape")
            if isinstance(node, list):
                while len(node) <= index:
                    node.append(None)
            if after is None:
                node[index] = value
            else:
                if (node[index] if isinstance(node, list) else node.get(index)) is None:
                    node[index] = [] if after.isdigit() else {}
                node = node[index]
    return _drop_gaps(out)


def _drop_gaps(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_gaps(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_drop_gaps(v) for v in value if v is not None]
    return value


def read_rows(path: Path, fmt: str) -> Iterator[Row]:
    """One `Row` at a time, never the whole file in memory."""
    with path.open(newline="", encoding="utf-8-sig") as f:
        if fmt == "csv":
            reader = csv.DictReader(f)
            while True:
                line = reader.line_num + 1
                try:
                    record = next(reader)
                except StopIteration:
                    return
                except csv.Error as e:
                    yield Row(line, None, None, f"unreadable CSV: {e}")
                    continue
                try:
                    yield Row(line, record, unflatten(record))
                except ValueError as e:
                    yield Row(line, record, None, str(e))
        else:
            for line, text in enumerate(f, start=1):
                if not text.strip():
                    continue
                try:
                    record = json.loads(text)
                except json.JSONDecodeError as e:
                    yield Row(line, None, None, f"not JSON: {e.msg} (column {e.colno})")
                    continue
                if not isinstance(record, dict):
                    yield Row(line, None, None, "each line must be one JSON object (a case)")
                    continue
                yield Row(line, record, {k: v for k, v in record.items() if not k.startswith("_")})


def count_lines(path: Path) -> int:
    """For the progress bar's total (a fast byte scan; the file is still read as a stream)."""
    with path.open("rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
