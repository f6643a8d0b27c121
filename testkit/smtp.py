"""A real SMTP server on this machine that keeps what it receives: for the tests and `make run`.

`MailCatcher` runs aiosmtpd's `Controller` (its own thread and event loop) on 127.0.0.1, on a free port
by default, and parses each message into an `email.message.EmailMessage` with its envelope. A recipient
in `refuse` is answered with the given reply at RCPT (a 550 to test a final refusal, a 450 to test a
retry). With a `spool` folder each message is also written there as `<n>.eml`, to open in a mail client.

    with MailCatcher() as mail:
        provider = SmtpProvider(mail.host, mail.port, "care@lender.example")
        ...
        [caught] = mail.wait_for(1)
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from types import TracebackType

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

# aiosmtpd logs every sender and recipient at INFO: addresses stay out of the logs, here as everywhere.
logging.getLogger("mail.log").setLevel(logging.WARNING)


@dataclass(frozen=True)
class CaughtMail:
    mail_from: str  # the envelope's, as the relay saw them (not the headers)
    rcpt_tos: tuple[str, ...]
    message: EmailMessage
    raw: bytes

    @property
    def text(self) -> str | None:
        part = self.message.get_body(("plain",))
        return None if part is None else str(part.get_content())

    @property
    def html(self) -> str | None:
        part = self.message.get_body(("html",))
        return None if part is None else str(part.get_content())


class _Handler:
    def __init__(self, catcher: MailCatcher):
        self.catcher = catcher

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,  # noqa: N802
                          rcpt_options: list[str]) -> str:
        reply = self.catcher.refuse.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        raw = envelope.original_content or b""
        message = BytesParser(policy=policy.default).parsebytes(raw)
        assert isinstance(message, EmailMessage)
        self.catcher._keep(CaughtMail(str(envelope.mail_from), tuple(envelope.rcpt_tos), message, raw))
        return "250 Message accepted for delivery"


class _Controller(Controller):
    """aiosmtpd's controller, able to listen on port 0: it learns the port the system chose before it
    connects to its own server to check it is up (the stock one would connect to port 0)."""

    def _trigger_server(self) -> None:
        if self.port == 0 and isinstance(self.server, asyncio.Server):
            self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class MailCatcher:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, spool: Path | None = None,
                 refuse: dict[str, str] | None = None):
        """`port` 0 takes a free one (read `port` after `start`); `refuse` maps a recipient to the reply
        given at RCPT, e.g. `{"gone@example.org": "550 5.1.1 mailbox unavailable"}` (changeable later)."""
        self.host, self.port, self.spool = host, port, spool
        self.refuse: dict[str, str] = {k.lower(): v for k, v in (refuse or {}).items()}
        self._messages: list[CaughtMail] = []
        self._count = 0  # every message since start, for the spool's file names (clear() does not reset it)
        self._arrived = threading.Condition()
        self._controller: _Controller | None = None

    def start(self) -> MailCatcher:
        if self._controller is not None:
            raise RuntimeError("the mail catcher is already running")
        if self.spool:
            self.spool.mkdir(parents=True, exist_ok=True)
        controller = _Controller(_Handler(self), hostname=self.host, port=self.port)
        controller.start()
        self._controller, self.port = controller, controller.port
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> MailCatcher:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    @property
    def messages(self) -> list[CaughtMail]:
        with self._arrived:
            return list(self._messages)

    def clear(self) -> None:
        with self._arrived:
            self._messages.clear()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[CaughtMail]:
        """Blocks until at least `count` messages have arrived (the server has its own thread, so this may
        be called from an event loop's thread); raises TimeoutError with how many did."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self._messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self._messages)} of {count} e-mails arrived within {timeout}s")
                self._arrived.wait(left)
            return list(self._messages)

    async def wait_for_async(self, count: int, timeout: float = 10.0) -> list[CaughtMail]:
        """`wait_for` without blocking the caller's event loop (for a worker running in the same loop)."""
        return await asyncio.to_thread(self.wait_for, count, timeout)

    def _keep(self, mail: CaughtMail) -> None:
        with self._arrived:
            self._messages.append(mail)
            self._count += 1
            number = self._count
            self._arrived.notify_all()
        if self.spool:
            (self.spool / f"{number}.eml").write_bytes(mail.raw)

    def __repr__(self) -> str:
        state = "running" if self._controller else "stopped"
        return f"MailCatcher({self.url}, {state}, {len(self._messages)} caught)"
