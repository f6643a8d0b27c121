"""The journal's hash chain: each entry's hash covers its content and the previous entry's hash.

Pure, so the writer (adapters.ledger) and the auditor (the compliance report) compute it alike.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64


def canonical(case_id: str, seq: int, key: str, kind: str, at: datetime, data: dict[str, Any]) -> bytes:
    """The bytes a hash covers: the same whether built at write time or read back from the database."""
    return json.dumps([case_id, seq, key, kind, at.astimezone(UTC).isoformat(), data], sort_keys=True,
                      separators=(",", ":"), ensure_ascii=False, default=str).encode()


def entry_hash(prev_hash: str, case_id: str, seq: int, key: str, kind: str, at: datetime, data: dict[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + canonical(case_id, seq, key, kind, at, data)).hexdigest()


@dataclass(frozen=True)
class Entry:
    case_id: str
    seq: int
    key: str
    kind: str
    at: datetime
    data: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class BrokenLink:
    case_id: str
    seq: int
    reason: str


def verify_chain(entries: list[Entry]) -> BrokenLink | None:
    """The first entry of one case's journal (in seq order) where the chain breaks, or None."""
    prev, expected_seq = GENESIS, 1
    for e in entries:
        if e.seq != expected_seq:
            return BrokenLink(e.case_id, expected_seq, f"entry {expected_seq} is missing (next found: {e.seq})")
        if e.prev_hash != prev:
            return BrokenLink(e.case_id, e.seq, "does not link to the entry before it")
        if entry_hash(prev, e.case_id, e.seq, e.key, e.kind, e.at, e.data) != e.hash:
            return BrokenLink(e.case_id, e.seq, "its content does not match its hash (changed after writing)")
        prev, expected_seq = e.hash, expected_seq + 1
    return None
