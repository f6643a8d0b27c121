"""`python -m intake`: the HTTP intake service (INTAKE_HOST, INTAKE_PORT; default 127.0.0.1:8090).
It also creates or updates the daily intake Schedule (INTAKE_SCHEDULE=off to leave it alone).
Configuration: `settings.Settings` (Temporal) and `settings.IntakeSettings`."""

from __future__ import annotations

import asyncio

import uvicorn
from fastapi import FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

import telemetry
from adapters.config_files import ConfigError, load_policy
from adapters.payments import SandboxCheckout
from adapters.providers import ChannelProvider
from adapters.providers.http import HttpProvider
from adapters.providers.sandbox import SandboxProvider
from adapters.providers.smtp import SmtpProvider
from adapters.registry import Registry
from adapters.self_service import SelfServiceStore
from adapters.templates import TemplateLibrary
from domain.enums import Channel
from domain.policy import Sender
from intake.schedule import ensure_schedule
from intake.selfservice.app import create_app as page_app
from intake.service import create_app
from service.backpressure import Backpressure
from service.cases import Cases, ledger_at
from service.desk import Desk
from service.replies import Replies
from service.self_service import Portal
from settings import IntakeSettings, SelfServiceSettings, Settings, connect


def borrower_channels(cases: Cases, intake: IntakeSettings, ss: SelfServiceSettings,
                      settings: Settings) -> tuple[Replies | None, FastAPI | None]:
    """The replies webhook and the self-service page, where SELF_SERVICE_SECRET and a ledger are set."""
    link_key, form_key, route_key = ss.key("links"), ss.key("forms"), ss.key("reply-routes")
    if cases.ledger is None or link_key is None or form_key is None or route_key is None:
        return None, None
    engine = cases.ledger.engine
    policy = load_policy("standard", settings.config_dir)
    sandbox = SandboxProvider(engine)
    providers: dict[Channel, ChannelProvider] = {Channel.SMS: sandbox, Channel.EMAIL: sandbox}
    if settings.provider == "http" and settings.gateway_url:
        providers[Channel.SMS] = HttpProvider(settings.gateway_url, settings.gateway_token)
    if ss.smtp_host:
        providers[Channel.EMAIL] = SmtpProvider(ss.smtp_host, ss.smtp_port, ss.smtp_from, policy.sender.name,
                                                ss.smtp_user, ss.smtp_password, starttls=ss.smtp_starttls or None)
    def sender_of(name: str) -> Sender:
        try:
            return load_policy(name, settings.config_dir).sender
        except ConfigError:  # a policy this service cannot read: the standard one's sender
            return policy.sender

    portal = Portal(cases, SelfServiceStore(engine, link_key), providers,
                    TemplateLibrary(settings.config_dir / "templates"), policy.sender, senders=sender_of)
    checkout = SandboxCheckout(f"{ss.url.rstrip('/')}/checkout", f"http://{intake.host}:{intake.port}",
                               hmac_secret=intake.hmac_secret, token=intake.token) if ss.sandbox_checkout() else None
    return Replies(cases, engine, route_key), page_app(portal, checkout, form_key, secure_cookies=ss.secure,
                                                   config_dir=settings.config_dir)


async def main() -> None:
    telemetry.configure_logging()
    intake = IntakeSettings()
    intake.check()
    traces = telemetry.tracer_provider("duecourse-intake") if telemetry.tracing() else None
    settings = Settings()
    client = await connect(settings, traces.get_tracer("duecourse.intake") if traces else None)
    if intake.schedule:  # the daily Schedule, created or brought up to date
        await ensure_schedule(client, settings.task_queue, at=intake.schedule_at, timezone=intake.schedule_timezone)
    cases = Cases(client, settings.task_queue, ledger_at(settings.database_url))
    registry = Registry(cases.ledger.engine) if cases.ledger is not None else None  # an assignment's agent, checked
    replies, page = borrower_channels(cases, intake, SelfServiceSettings(), settings)
    app = create_app(cases, intake, Backpressure(client, settings.task_queue, settings.start_max_backlog),
                     desk=Desk(cases, client, registry), replies=replies, self_service=page)
    if traces is not None:
        FastAPIInstrumentor.instrument_app(app, tracer_provider=traces, excluded_urls="/s/l/")  # a link's token
    config = uvicorn.Config(app, host=intake.host, port=intake.port, log_config=None)
    try:
        await uvicorn.Server(config).serve()
    finally:
        if traces is not None:
            traces.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
