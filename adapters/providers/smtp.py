"""The SMTP provider: each e-mail to a relay (any relay in production; a local aiosmtpd in the tests and
in `make run`), as plain text with an HTML alternative.

The ledger claims the idempotency key before a provider is called, so a key reaches a relay once in
normal operation; SMTP has no idempotency of its own, so the `Message-ID` is derived from the key (a
relay or a reader can drop a repeat). The raw key holds the case id and does not travel.

Errors: a 5xx answer (recipient refused, content refused) or an address that cannot be sent to is
final (`ProviderError`); a 4xx answer, a timeout or an unreachable relay raises `SmtpUnavailable`,
which the activity retries. Neither message ever holds the address or the body (relays echo the
address in their answers, and these messages reach logs and workflow histories).
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

import aiosmtplib

from adapters.providers.base import OutboundRequest, ProviderError, ProviderResponse
from domain.enums import Channel, Outcome

# One address, no display name, no spaces or separators: what a header or an envelope can carry whole.
_ADDRESS = re.compile(r"[^\s@<>,;:\"()\[\]\\]+@[^\s@<>,;:\"()\[\]\\]+\.[^\s@<>,;:\"()\[\]\\.]+")


class SmtpUnavailable(ConnectionError):
    """The relay could not take the e-mail now (a 4xx answer, a timeout, no connection): retry later."""


def message_id(key: str, domain: str) -> str:
    """The same `Message-ID` for the same idempotency key, so a repeat can be recognised downstream."""
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


def valid_address(address: str) -> bool:
    return bool(_ADDRESS.fullmatch(address))


class SmtpProvider:
    name = "smtp"

    def __init__(self, host: str, port: int, sender_address: str, sender_name: str | None = None,
                 username: str | None = None, password: str | None = None, starttls: bool | None = None,
                 timeout: float = 10.0, use_tls: bool = False):
        """`starttls`: None upgrades when the relay offers it, True insists, False never; `use_tls` for a
        relay that speaks TLS from the first byte (port 465)."""
        if not valid_address(sender_address):
            raise ValueError("sender_address is not a single e-mail address")
        self.host, self.port, self.timeout = host, port, timeout
        self.sender_address, self.sender_name = sender_address, sender_name
        self.domain = sender_address.rsplit("@", 1)[1]
        self.username, self.password, self.starttls, self.use_tls = username, password, starttls, use_tls

    def build(self, request: OutboundRequest) -> EmailMessage:
        """The message as the relay receives it: plain text first, the HTML as its alternative."""
        if request.channel is not Channel.EMAIL:
            raise ProviderError(f"the SMTP provider sends e-mail, not {request.channel.value}")
        if not valid_address(request.to):
            raise ProviderError("not an e-mail address this provider can send to")
        if not request.subject:
            raise ProviderError("an e-mail needs a subject")
        message = EmailMessage()
        try:
            name = request.sender.name if request.sender else self.sender_name  # the case's policy's, if given
            message["From"] = Address(display_name=name or "", addr_spec=self.sender_address)
            message["To"] = Address(addr_spec=request.to)
            message["Subject"] = " ".join(request.subject.split())
            message["Date"] = format_datetime(datetime.now(UTC))
            message["Message-ID"] = message_id(request.idempotency_key, self.domain)
            # Reg F 1006.6(e): a simple way out; a reply with "stop" is read as one (no web page needed)
            message["List-Unsubscribe"] = f"<mailto:{self.sender_address}?subject=stop>"
            message.set_content(request.body)
            if request.html:
                message.add_alternative(request.html, subtype="html")
            message["Content-Language"] = request.locale  # after the content: setting it clears Content-*
        except (ValueError, TypeError, IndexError) as e:  # the email package's own refusals name no data
            raise ProviderError(f"could not build the e-mail ({type(e).__name__})") from None
        return message

    async def deliver(self, request: OutboundRequest) -> ProviderResponse:
        message = self.build(request)
        try:
            await aiosmtplib.send(
                message, sender=self.sender_address, recipients=[request.to], hostname=self.host, port=self.port,
                username=self.username, password=self.password, start_tls=self.starttls, use_tls=self.use_tls,
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as e:  # every recipient (the one) refused at RCPT
            codes = sorted({r.code for r in e.recipients})
            if any(code >= 500 for code in codes):
                raise ProviderError(f"relay refused the recipient: SMTP {codes}") from None
            raise SmtpUnavailable(f"relay deferred the recipient: SMTP {codes}") from None
        except aiosmtplib.SMTPNotSupported:  # e.g. a non-ASCII address to a relay without SMTPUTF8
            raise ProviderError("relay does not support what this e-mail needs (SMTPUTF8 or STARTTLS)") from None
        except aiosmtplib.SMTPResponseException as e:
            stage = type(e).__name__.removeprefix("SMTP")  # SenderRefused, DataError, AuthenticationError ...
            if 500 <= e.code < 600:
                raise ProviderError(f"relay refused the e-mail: {stage}, SMTP {e.code}") from None
            raise SmtpUnavailable(f"relay deferred the e-mail: {stage}, SMTP {e.code}") from None
        except (aiosmtplib.SMTPException, OSError) as e:  # OSError: refused, reset, timed out
            raise SmtpUnavailable(f"relay unreachable or gone: {type(e).__name__}") from None
        return ProviderResponse(provider=self.name, message_id=message["Message-ID"], outcome=Outcome.SENT)
