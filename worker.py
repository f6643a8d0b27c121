"""The worker: runs `OverdueCase` (with its `Complaint` children and the `DailyIntake`) and their
activities against Temporal and the Postgres ledger.

    python worker.py            # TEMPORAL_ADDRESS, DATABASE_URL, CHANNEL_PROVIDER from the environment
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path

from temporalio.client import Client
from temporalio.worker import Worker

import telemetry
from activities.case_data import CaseDataActivities
from activities.contact import ContactActivities
from activities.intake import IntakeActivities
from activities.ledger import LedgerActivities
from activities.registry import RegistryActivities
from activities.scoring import ModelShelf, ScoringActivities
from adapters.config_files import CONFIG_DIR, ConfigError, arm_policy, load_policy, load_strategies
from adapters.db import make_engine
from adapters.email import EmailTemplates
from adapters.ledger import Ledger
from adapters.letters import LetterRenderer, LetterSender
from adapters.providers import ChannelProvider
from adapters.providers.http import HttpProvider
from adapters.providers.print_vendor import HttpPrintVendor, LetterProvider, PrintVendor, SandboxPrintVendor
from adapters.providers.sandbox import SandboxProvider
from adapters.providers.smtp import SmtpProvider
from adapters.registry import Registry
from adapters.scripts import load_scripts
from adapters.self_service import SelfServiceStore
from adapters.templates import TemplateError, TemplateLibrary, load_content_rules
from analytics import gauges
from domain.enums import Channel
from domain.policy import Sender
from service.backpressure import DEFAULT_MAX_BACKLOG
from settings import SelfServiceSettings, Settings, connect
from workflows import scripts_shown
from workflows.case import OverdueCase
from workflows.complaint import Complaint
from workflows.daily_intake import DailyIntake
from workflows.runner import workflow_runner
from workflows.upcoming_due import UpcomingDue

log = logging.getLogger("duecourse.worker")


def build_provider(settings: Settings, engine) -> ChannelProvider:
    if settings.provider == "sandbox":
        return SandboxProvider(engine)
    if settings.provider == "http":
        if not settings.gateway_url:
            raise SystemExit("CHANNEL_PROVIDER=http needs GATEWAY_URL")
        return HttpProvider(settings.gateway_url, settings.gateway_token)
    raise SystemExit(f"CHANNEL_PROVIDER must be 'sandbox' or 'http', not {settings.provider!r}")


def build_channels(provider: ChannelProvider, engine, sender: Sender,
                   self_service: SelfServiceSettings | None = None) -> dict[Channel, ChannelProvider]:
    """Every channel's provider: `provider` (the SMS gateway, voice, tasks, visits); letters rendered as PDF
    for the print vendor (the sandbox vendor keeps them); e-mail through the SMTP relay when one is set."""
    ss = self_service or SelfServiceSettings(secret=None, smtp_host=None, print_vendor_url=None)
    vendor: PrintVendor = HttpPrintVendor(ss.print_vendor_url, ss.print_vendor_token) if ss.print_vendor_url \
        else SandboxPrintVendor(engine)
    channels: dict[Channel, ChannelProvider] = {channel: provider for channel in Channel}
    channels[Channel.LETTER] = LetterProvider(LetterRenderer(LetterSender.from_policy(sender)), vendor)
    if ss.smtp_host:
        channels[Channel.EMAIL] = SmtpProvider(ss.smtp_host, ss.smtp_port, ss.smtp_from, sender.name,
                                               ss.smtp_user, ss.smtp_password, starttls=ss.smtp_starttls or None)
    return channels


def build_worker(client: Client, engine, provider: ChannelProvider, task_queue: str,
                 config_dir: Path = CONFIG_DIR, start_max_backlog: int = DEFAULT_MAX_BACKLOG,
                 models_dir: Path | None = None, self_service: SelfServiceSettings | None = None,
                 channels: dict[Channel, ChannelProvider] | None = None, **options) -> Worker:
    """One place that wires the workflow to its activities (tests use it too). Refuses to start with a
    template that fails its checks or a policy that does not load, or with a schedule that sends
    self-service links and no SELF_SERVICE_SECRET to sign them."""
    ledger = Ledger(engine)
    templates = TemplateLibrary(config_dir / "templates")
    email = EmailTemplates(config_dir / "templates")
    policies = [load_policy(p.stem, config_dir) for p in sorted((config_dir / "policies").glob("*.yaml"))]
    strategies = load_strategies(config_dir, check=True)
    policies += [arm_policy(name, arm, config_dir) for name, trial in strategies.trials.items() for arm in trial.arms]
    rules = load_content_rules(config_dir)
    templates.check(rules, policies)
    problems = email.problems(rules, policies)
    if problems:
        raise TemplateError("e-mail templates failed their checks:\n  " + "\n  ".join(problems))
    scripts_shown.install(load_scripts(config_dir / "scripts.yaml", rules))  # shown to agents, decides nothing
    ss = self_service or SelfServiceSettings(secret=None)
    link_key = ss.key("links")
    if link_key is None and any(step.link for p in policies for t in p.segments.values() for step in t.schedule):
        raise ConfigError("a policy's schedule sends self-service links: set SELF_SERVICE_SECRET to sign them")
    contact = ContactActivities(
        channels or build_channels(provider, engine, policies[0].sender, ss), ledger, templates, email,
        links=SelfServiceStore(engine, link_key) if link_key else None, link_base=f"{ss.url.rstrip('/')}/l",
        route_secret=ss.key("reply-routes"))
    models = ModelShelf(models_dir)  # trained propensity models: none, and the rules decide alone
    case_data = CaseDataActivities(config_dir, lambda: models.version)
    return Worker(
        client, task_queue=task_queue, workflows=[OverdueCase, UpcomingDue, Complaint, DailyIntake],
        workflow_runner=workflow_runner(),
        activities=[*LedgerActivities(ledger).all(), *contact.all(), *case_data.all(),
                    *IntakeActivities(client, engine, max_backlog=start_max_backlog, config_dir=config_dir,
                                      model=models.current).all(),
                    *RegistryActivities(Registry(engine)).all(), *ScoringActivities(ledger, models).all()],
        **options,
    )


async def main() -> None:
    telemetry.configure_logging()
    settings = Settings()
    engine = make_engine(settings.require_database_url())
    traces = telemetry.tracer_provider("duecourse-worker") if telemetry.tracing() else None
    client = await connect(settings, traces.get_tracer("duecourse.worker") if traces else None)
    try:
        worker = build_worker(client, engine, build_provider(settings, engine), settings.task_queue,
                              settings.config_dir, max_cached_workflows=settings.worker_cache,
                              start_max_backlog=settings.start_max_backlog, models_dir=settings.model_dir,
                              self_service=SelfServiceSettings())
    except (TemplateError, ConfigError) as e:
        raise SystemExit(f"worker not started: {e}") from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("worker polling task queue %s at %s", settings.task_queue, settings.temporal_address)
    runtime = telemetry.runtime()  # Prometheus, when METRICS_ADDRESS is set: the portfolio's headline gauges too
    exporting = asyncio.create_task(gauges.export_forever(engine, runtime.metric_meter)) if runtime else None
    async with worker:
        await stop.wait()
    if exporting is not None:
        exporting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await exporting
    await engine.dispose()
    if traces is not None:
        traces.shutdown()  # flush the last spans


if __name__ == "__main__":
    asyncio.run(main())
