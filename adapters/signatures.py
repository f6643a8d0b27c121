"""The webhook signature the HTTP intake verifies: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>`.
One definition for the intake (which checks it) and for callers in this code base that post to it (the
sandbox checkout, tests)."""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-DueCourse-Signature"


def sign(secret: str, body: bytes, at: int | None = None) -> str:
    """The signature header's value for `body`."""
    at = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={digest}"
