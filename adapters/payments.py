"""Payments adapter: where the page sends a borrower to pay. The lender's payment provider hosts the page and
confirms the payment through the HTTP intake's payments webhook (`POST /cases/{case_id}/payments`, signed), so
a payment reaches the case the same way whoever took it.

`SandboxCheckout` (only where `SELF_SERVICE_CHECKOUT=sandbox`) is that provider for demos and tests: its page
is served by the self-service app, nothing is charged, and "Pay" posts the signed webhook to the intake over
real HTTP. A real provider's adapter implements the same `Checkout` interface (start a hosted checkout, its
confirmation by webhook).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol

import httpx

from adapters.signatures import SIGNATURE_HEADER, sign


@dataclass(frozen=True)
class PendingCheckout:
    checkout_id: str
    case_id: str
    amount: Decimal
    currency: str
    return_to: str


class Checkout(Protocol):
    async def start(self, case_id: str, amount: Decimal, currency: str, return_to: str) -> str:
        """A checkout for this payment: the URL the borrower is sent to."""
        ...

    def pending(self, checkout_id: str) -> PendingCheckout | None: ...

    async def complete(self, checkout_id: str) -> None:
        """The provider's confirmation (the sandbox's "Pay" button): the webhook to the intake."""
        ...


class CheckoutRefused(Exception):
    """The intake refused the payment (an amount the case does not take): nothing was applied."""


class SandboxCheckout:
    name = "sandbox"

    def __init__(self, page_base: str, intake_url: str, hmac_secret: str | None = None, token: str | None = None,
                 client: httpx.AsyncClient | None = None):
        """`page_base`: where the sandbox page is served (the self-service app's `/checkout`); `intake_url`:
        the HTTP intake the confirmation is posted to, signed with `hmac_secret` (or a bearer `token`)."""
        self.page_base, self.intake_url = page_base.rstrip("/"), intake_url.rstrip("/")
        self.hmac_secret, self.token = hmac_secret, token
        self._client = client or httpx.AsyncClient(timeout=30.0)
        self._pending: dict[str, PendingCheckout] = {}  # a sandbox's sessions live as long as the process

    async def start(self, case_id: str, amount: Decimal, currency: str, return_to: str) -> str:
        if amount <= 0:
            raise ValueError("the amount must be more than zero")
        checkout_id = secrets.token_urlsafe(16)
        self._pending[checkout_id] = PendingCheckout(checkout_id, case_id, amount, currency, return_to)
        return f"{self.page_base}/{checkout_id}"

    def pending(self, checkout_id: str) -> PendingCheckout | None:
        return self._pending.get(checkout_id)

    async def complete(self, checkout_id: str) -> None:
        made = self._pending.get(checkout_id)  # kept until the intake answers: a failed post can be tried again
        if made is None:
            raise CheckoutRefused("no such checkout")
        body = json.dumps({"amount": str(made.amount), "currency": made.currency, "reference": f"sbx-{checkout_id}",
                           "paid_at": datetime.now(UTC).isoformat()}).encode()
        headers = {"Content-Type": "application/json"}
        if self.hmac_secret:
            headers[SIGNATURE_HEADER] = sign(self.hmac_secret, body)
        elif self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        response = await self._client.post(f"{self.intake_url}/cases/{made.case_id}/payments", content=body,
                                           headers=headers)
        if response.status_code in (409, 422):
            self._pending.pop(checkout_id, None)
            raise CheckoutRefused(response.json().get("detail", "refused"))
        response.raise_for_status()
        self._pending.pop(checkout_id, None)
