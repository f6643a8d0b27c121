from __future__ import annotations

from typing import Literal, Protocol

from pydantic import BaseModel

from domain.enums import Channel, Outcome
from domain.policy import Sender

Played = Literal["message", "voicemail", "identify", "none"]


class CallScript(BaseModel):
    """A robot call, right party first: `identify` asks whoever answers to confirm they are the borrower
    (it names no debt); `message` is played only once they have; a machine gets `voicemail` (a
    limited-content message) or nothing."""

    identify: str
    message: str
    voicemail: str | None


class OutboundRequest(BaseModel):
    """What a provider needs for one action: the minimum, per PIPL."""

    idempotency_key: str
    channel: Channel
    to: str  # a number, or for a visit the address text
    body: str  # the rendered SMS, agent script or visit brief (a robot call: its `script`)
    script: CallScript | None = None
    locale: str = "en"  # the borrower's language: an e-mail's or a letter's layout
    template: str | None = None  # the template's name: a letter's title, an e-mail's kind
    subject: str | None = None  # an e-mail's subject
    html: str | None = None  # an e-mail's HTML alternative (the body is its plain text)
    sender: Sender | None = None  # the case's policy's sender: an e-mail's From name, a letter's letterhead


class ProviderResponse(BaseModel):
    provider: str
    message_id: str
    outcome: Outcome
    distress: bool = False
    played: Played = "none"  # what the answerer heard beyond the greeting


class ProviderError(Exception):
    """A provider refused the request for good (bad number, bad request): do not retry."""


class ChannelProvider(Protocol):
    name: str

    async def deliver(self, request: OutboundRequest) -> ProviderResponse:
        """Send once per idempotency key: a repeated key returns the first answer."""
        ...
