"""`python -m intake`: the HTTP intake service (INTAKE_HOST, INTAKE_PORT; default 127.0.0.1:8090).
It also creates or updates the daily intake Schedule (INTAKE_SCHEDULE=off to leave it alone)."""

from __future__ import annotations

import asyncio
import os

import uvicorn
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

import telemetry
from intake.schedule import ensure_schedule
from intake.service import ServiceSettings, create_app
from settings import Settings, connect


async def main() -> None:
    telemetry.configure_logging()
    service = ServiceSettings()
    service.check()
    traces = telemetry.tracer_provider("duecourse-intake")
    settings = Settings()
    client = await connect(settings, traces.get_tracer("duecourse.intake"))
    if os.environ.get("INTAKE_SCHEDULE", "on") != "off":  # the daily Schedule, created or brought up to date
        await ensure_schedule(client, settings.task_queue)
    app = create_app(client, service)
    FastAPIInstrumentor.instrument_app(app, tracer_provider=traces)
    config = uvicorn.Config(app, host=os.environ.get("INTAKE_HOST", "127.0.0.1"),
                            port=int(os.environ.get("INTAKE_PORT", "8090")), log_config=None)
    try:
        await uvicorn.Server(config).serve()
    finally:
        traces.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
