"""`python -m intake`: the HTTP intake service (INTAKE_HOST, INTAKE_PORT; default 127.0.0.1:8090).
It also creates or updates the daily intake Schedule (INTAKE_SCHEDULE=off to leave it alone).
Configuration: `settings.Settings` (Temporal) and `settings.IntakeSettings`."""

from __future__ import annotations

import asyncio

import uvicorn
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

import telemetry
from adapters.registry import Registry
from intake.schedule import ensure_schedule
from intake.service import create_app
from service.backpressure import Backpressure
from service.cases import Cases, ledger_at
from service.desk import Desk
from settings import IntakeSettings, Settings, connect


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
    app = create_app(cases, intake, Backpressure(client, settings.task_queue, settings.start_max_backlog),
                     desk=Desk(cases, client, registry))
    if traces is not None:
        FastAPIInstrumentor.instrument_app(app, tracer_provider=traces)
    config = uvicorn.Config(app, host=intake.host, port=intake.port, log_config=None)
    try:
        await uvicorn.Server(config).serve()
    finally:
        if traces is not None:
            traces.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
