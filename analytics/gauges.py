"""Headline figures as Prometheus gauges, through the Temporal SDK runtime's metric meter (the worker's
`METRICS_ADDRESS` endpoint already serves it), so a dashboard can watch the portfolio between reports:
open cases by stage, the cure rate and the promise-kept rate over the last 30 days, the amount collected
today per currency, complaints per 1,000 open cases over the last 30 days.

Labels are stages and currencies only: nothing about a borrower. The figures follow docs/kpis.md, in
their "last 30 days" period form.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.common import MetricMeter

from analytics.tables import fetch, ratio
from domain.enums import Stage

log = logging.getLogger(__name__)
WINDOW = timedelta(days=30)
PREFIX = "duecourse_"


async def refresh(engine: AsyncEngine, meter: MetricMeter, now: datetime | None = None) -> dict[str, Any]:
    """Read the figures once and set the gauges; what was set (a rate without a denominator is not set)."""
    now = now or datetime.now(UTC)
    window = {"start": now - WINDOW, "end": now}
    async with engine.connect() as conn:
        stages = {r["stage"]: r["n"] for r in await fetch(
            conn, "SELECT stage, count(*) AS n FROM cases WHERE closed_at IS NULL GROUP BY stage")}
        cure = (await fetch(conn, """
            SELECT count(*) FILTER (WHERE f.cured_at >= :start AND f.cured_at < :end) AS cured, count(*) AS active
            FROM kpi_case_facts f WHERE f.opened_at < :end AND (f.closed_at IS NULL OR f.closed_at >= :start)""",
                            **window))[0]
        today = datetime.combine(now.astimezone(UTC).date(), time(), UTC)
        collected = {r["currency"]: r["amount"] for r in await fetch(conn, """
            SELECT c.currency, COALESCE(sum(p.amount) FILTER (WHERE p.paid_at >= :today AND p.paid_at < :end), 0)
                   AS amount
            FROM (SELECT DISTINCT currency FROM cases) c LEFT JOIN kpi_payments p ON p.currency = c.currency
            GROUP BY c.currency""", today=today, end=now)}
        promises = (await fetch(conn, """
            SELECT count(*) FILTER (WHERE status = 'kept') AS kept, count(*) AS decided FROM kpi_promises
            WHERE deadline >= :start AND deadline < :end AND status IN ('kept', 'broken')""", **window))[0]
        complaints = (await fetch(conn, """
            SELECT (SELECT count(*) FROM kpi_complaints WHERE opened_at >= :start AND opened_at < :end) AS opened,
                   (SELECT count(*) FROM cases WHERE closed_at IS NULL) AS open""", **window))[0]
    values: dict[str, Any] = {
        "open_cases": {s.value: stages.get(s.value, 0) for s in Stage if not s.terminal} | stages,
        "cure_rate_30d": ratio(cure["cured"], cure["active"]),
        "collected_today": {c: float(a) for c, a in collected.items()},
        "promise_kept_rate_30d": ratio(promises["kept"], promises["decided"]),
        "complaints_per_1000_30d": None if not complaints["open"] else 1000 * complaints["opened"] / complaints["open"],
    }
    _set(meter, values)
    return values


DESCRIPTIONS = {
    "open_cases": ("open cases by stage", "cases"),
    "cure_rate_30d": ("cases paid in full by payments in the last 30 days / cases active in them", "ratio"),
    "collected_today": ("amount collected since 00:00 UTC, per currency", "currency units"),
    "promise_kept_rate_30d": ("kept / (kept + broken) promises whose deadline fell in the last 30 days", "ratio"),
    "complaints_per_1000_30d": ("complaints opened in the last 30 days per 1,000 open cases", "per 1,000"),
}
LABELS = {"open_cases": "stage", "collected_today": "currency"}


def _set(meter: MetricMeter, values: dict[str, Any]) -> None:
    for name, value in values.items():
        description, unit = DESCRIPTIONS[name]
        gauge = meter.create_gauge_float(PREFIX + name, description, unit)
        if isinstance(value, dict):
            for label, v in value.items():
                gauge.set(float(v), {LABELS[name]: label})
        elif value is not None:
            gauge.set(float(value))


async def export_forever(engine: AsyncEngine, meter: MetricMeter, every: timedelta = timedelta(minutes=1)) -> None:
    """Refresh the gauges every `every` until cancelled; a database that does not answer is logged and
    tried again at the next turn (the worker keeps working)."""
    while True:
        try:
            await refresh(engine, meter)
        except (OSError, DBAPIError) as e:
            log.warning("portfolio gauges not refreshed: %s", str(e).splitlines()[0] if str(e) else type(e).__name__)
        await asyncio.sleep(every.total_seconds())
