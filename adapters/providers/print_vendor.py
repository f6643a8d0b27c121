"""Letters through a print vendor: the letter rendered to PDF here, then printed and posted by the vendor.

`LetterProvider` is the `ChannelProvider` for `Channel.LETTER`: it renders the notice (`adapters.letters`)
and submits the PDF to a `PrintVendor`, once per idempotency key like every provider.

- `SandboxPrintVendor` posts nothing: it keeps the PDF in `sandbox_messages.document` with the letter's
  text, and answers `sent`.
- `HttpPrintVendor` posts `POST {base_url}/v1/letters` as multipart/form-data: a field `idempotency_key`
  and a file `document` (`letter.pdf`, application/pdf), the key also in the `Idempotency-Key` header
  (the vendor deduplicates) and a bearer token when configured. Answer: `{"message_id", "status"}`,
  status one of `domain.enums.Outcome` (`sent` once accepted for posting). 4xx (but 408/429) is final;
  5xx, timeouts and connection errors raise for the activity to retry.

The vendor gets the PDF only: the address is on it, in the envelope window's field, and nothing else of
the case is sent (PIPL's minimum).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date
from typing import Protocol

import httpx
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters import db
from adapters.letters import LetterError, LetterRenderer
from adapters.providers.base import OutboundRequest, ProviderError, ProviderResponse
from domain.enums import Channel, Outcome


class PrintJob(BaseModel):
    """One letter to post: the PDF the vendor prints, and the text kept for the sandbox's record."""

    idempotency_key: str = Field(min_length=1)
    pdf: bytes = Field(repr=False)
    text: str = Field(repr=False)  # the notice's words; never sent to a vendor, never logged
    to_masked: str = "(address)"


class PrintVendor(Protocol):
    name: str

    async def submit(self, job: PrintJob) -> ProviderResponse:
        """Print and post once per idempotency key: a repeated key returns the first answer."""
        ...


class SandboxPrintVendor:
    """Keeps each letter (text and PDF) in `sandbox_messages` and posts nothing."""

    name = "sandbox"

    def __init__(self, engine: AsyncEngine):
        self.engine = engine

    async def submit(self, job: PrintJob) -> ProviderResponse:
        table = db.sandbox_messages
        async with self.engine.begin() as conn:
            await conn.execute(
                insert(table).values(
                    idempotency_key=job.idempotency_key, channel=Channel.LETTER.value, to_masked=job.to_masked,
                    body=job.text, outcome=Outcome.SENT.value, distress=False, document=job.pdf,
                ).on_conflict_do_nothing(index_elements=["idempotency_key"])
            )
            row = (await conn.execute(
                select(table.c.id, table.c.outcome).where(table.c.idempotency_key == job.idempotency_key)
            )).one()
        return ProviderResponse(provider=self.name, message_id=f"sbx-{row.id}", outcome=Outcome(row.outcome),
                                played="message")


class HttpPrintVendor:
    """A print vendor's HTTP API (the shape in the module's docstring)."""

    name = "http"

    def __init__(self, base_url: str, token: str | None = None, timeout: float = 30.0,
                 client: httpx.AsyncClient | None = None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = client or httpx.AsyncClient(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout)

    async def submit(self, job: PrintJob) -> ProviderResponse:
        response = await self._client.post(
            "/v1/letters",
            data={"idempotency_key": job.idempotency_key},
            files={"document": ("letter.pdf", job.pdf, "application/pdf")},
            headers={"Idempotency-Key": job.idempotency_key},
        )
        if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
            # the status only: a vendor's body may echo the address, and this message reaches logs
            raise ProviderError(f"print vendor refused the letter: HTTP {response.status_code}")
        response.raise_for_status()
        data = response.json()
        try:
            outcome = Outcome(data["status"])
            return ProviderResponse(provider=self.name, message_id=str(data["message_id"]), outcome=outcome,
                                    played="message" if outcome is Outcome.SENT else "none")
        except (KeyError, ValueError) as e:
            raise ProviderError(f"print vendor answered without a known message_id and status (keys: {sorted(data)})"
                                ) from e

    async def aclose(self) -> None:
        await self._client.aclose()


class LetterProvider:
    """The letter channel: render the notice as a PDF, hand it to the print vendor. `today` dates the letter
    (the date of posting); rendering runs in a thread, off the worker's event loop."""

    def __init__(self, renderer: LetterRenderer, vendor: PrintVendor, today: Callable[[], date] = date.today):
        self.renderer, self.vendor, self.today = renderer, vendor, today
        self.name = f"print:{vendor.name}"

    async def deliver(self, request: OutboundRequest) -> ProviderResponse:
        if request.channel is not Channel.LETTER:
            raise ProviderError(f"the print vendor posts letters, not {request.channel.value}")
        try:
            pdf = await asyncio.to_thread(self.renderer.render, request, self.today())
        except LetterError as e:  # the layout is wrong for every letter: fail it plainly, no retry
            raise ProviderError(str(e)) from e
        response = await self.vendor.submit(PrintJob(idempotency_key=request.idempotency_key, pdf=pdf,
                                                     text=request.body))
        return response.model_copy(update={"provider": self.name})
