from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel

from domain.enums import Channel, Outcome


class OutboundRequest(BaseModel):
    """What a provider needs for one action: the minimum, per PIPL."""

    idempotency_key: str
    channel: Channel
    to: str  # a number, or for a visit the address text
    body: str  # the rendered SMS, call script or visit brief


class ProviderResponse(BaseModel):
    provider: str
    message_id: str
    outcome: Outcome
    distress: bool = False


class ProviderError(Exception):
    """A provider refused the request for good (bad number, bad request): do not retry."""


class ChannelProvider(Protocol):
    name: str

    async def deliver(self, request: OutboundRequest) -> ProviderResponse:
        """Send once per idempotency key: a repeated key returns the first answer."""
        ...
