"""Traces, metrics and logs for every process (worker, HTTP intake, starter), chosen by configuration.

* Traces: OpenTelemetry through the SDK's `TracingInterceptor`, so one trace runs from an HTTP
  request or a `starter.py` call through the workflow to its activities.
  `OTEL_TRACES_EXPORTER` = `none` (default: no tracing, no interceptor, no cost) | `otlp` (endpoint
  from the standard `OTEL_EXPORTER_OTLP_ENDPOINT`) | `console` (for a developer: every span printed,
  which costs the worker about a tenth of its time); `OTEL_SERVICE_NAME` names the process. The values come
  from `settings.TelemetrySettings`; a function given none reads the configured ones.
* Metrics: the SDK's own (workflow and activity latencies, task slots, …) served for Prometheus
  at `METRICS_ADDRESS` (host:port), when set.
* Logs: one JSON object per line, with the case's workflow id where there is one. Personal data
  never reaches a log through this code; as a second line of defence the formatter masks anything
  shaped like a phone number.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

import temporalio.activity
import temporalio.workflow
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace import Tracer
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from settings import TelemetrySettings

EXPORTERS = ("console", "otlp", "none")


def span_exporter(settings: TelemetrySettings | None = None) -> SpanExporter | None:
    name = ((settings or TelemetrySettings()).traces_exporter or "none").strip().lower()
    if name == "console":
        return ConsoleSpanExporter(out=sys.stderr)
    if name == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    if name == "none":
        return None
    raise SystemExit(f"OTEL_TRACES_EXPORTER must be one of {', '.join(EXPORTERS)}, not {name!r}")


def tracer_provider(service: str, settings: TelemetrySettings | None = None) -> TracerProvider:
    """A provider for one process, exporting where OTEL_TRACES_EXPORTER says."""
    settings = settings or TelemetrySettings()
    provider = TracerProvider(resource=Resource.create({"service.name": settings.service_name or service}))
    exporter = span_exporter(settings)
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def tracing(settings: TelemetrySettings | None = None) -> bool:
    """Whether traces go anywhere; when they do not, no interceptor or instrumentation is installed."""
    return span_exporter(settings) is not None


def interceptors(tracer: Tracer) -> list:
    """Workflows started from the UI or a Schedule are traced too (`always_create_workflow_spans`)."""
    return [TracingInterceptor(tracer, always_create_workflow_spans=True)]


_runtimes: dict[str, Runtime] = {}


def runtime(metrics_address: str | None = None) -> Runtime | None:
    """A runtime serving the SDK's metrics for Prometheus, or None (the default runtime) when unset.
    One per address and process: the port is bound once, however many clients connect."""
    address = metrics_address or TelemetrySettings().metrics_address
    if not address:
        return None
    if address not in _runtimes:
        _runtimes[address] = Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=address)))
    return _runtimes[address]


_PHONE_SHAPED = re.compile(r"\+?\d[\d \-]{6,}\d")


class JsonFormatter(logging.Formatter):
    """One JSON object per record; the workflow/activity context the SDK attaches, kept by id only."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": _PHONE_SHAPED.sub("[number]", record.getMessage()),
        }
        for key in ("temporal_workflow", "temporal_activity"):
            context = getattr(record, key, None)
            if isinstance(context, dict):
                entry.update({k: context[k] for k in ("workflow_id", "workflow_type", "activity_type",
                                                      "attempt") if k in context})
        for key in ("case_id", "attempt_key", "loan_id", "status", "line"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["error"] = _PHONE_SHAPED.sub("[number]", self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str | None = None) -> None:
    """JSON lines on stderr at `level`, or at LOG_LEVEL when none is given."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel((level or TelemetrySettings().log_level).upper())
    # The JSON carries the workflow and activity ids as fields; no need to repeat them in the text.
    temporalio.workflow.logger.workflow_info_on_message = False
    temporalio.activity.logger.activity_info_on_message = False
