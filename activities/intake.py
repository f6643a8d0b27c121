"""The daily intake: read newly overdue loans from the loan system's export and start their cases
(through the service layer, `service.cases.Cases`, like every other way a case starts); and read the loans
falling due soon, for early warning (`service.early_warning`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity
from temporalio.client import Client

from activities.contracts import IntakeRequest, IntakeSummary, UpcomingRequest, UpcomingSummary
from adapters.config_files import CONFIG_DIR
from adapters.db import loans
from adapters.propensity_model import PropensityModel
from domain.case_input import CaseInput
from service.backpressure import DEFAULT_MAX_BACKLOG, Backpressure
from service.cases import Cases
from service.early_warning import watch

log = logging.getLogger("duecourse.intake")
PAGE = 200


class IntakeActivities:
    def __init__(self, client: Client, engine: AsyncEngine, concurrency: int = 16,
                 max_backlog: int = DEFAULT_MAX_BACKLOG, config_dir: Path = CONFIG_DIR,
                 model: Callable[[], PropensityModel | None] = lambda: None):
        """`model`: the propensity model in use now (None: the scorecard judges who is at risk)."""
        self.client, self.engine, self.concurrency, self.max_backlog = client, engine, concurrency, max_backlog
        self.config_dir, self.model = config_dir, model

    @activity.defn
    async def start_newly_overdue(self, request: IntakeRequest) -> IntakeSummary:
        """Page through the export by loan id, heartbeating the last one done, so a retry resumes
        where it stopped; cases already running or closed are counted, never started again."""
        cases = Cases(self.client, request.task_queue)
        pressure = Backpressure(self.client, request.task_queue, self.max_backlog)
        summary = IntakeSummary(day=request.day)
        details = activity.info().heartbeat_details
        after = details[0] if details else ""
        since = request.day - timedelta(days=request.lookback_days)
        gate = asyncio.Semaphore(self.concurrency)

        async def start(loan_id: str, data: dict) -> None:
            async with gate:
                await pressure.admit(waiting=lambda: activity.heartbeat(after))  # as fast as workers take them
                report = await cases.start({**data, "state": None, "early_warning": None})  # the export's, not ours
            if report.status == "rejected":
                summary.rejected += 1
                if len(summary.rejected_loans) < 100:
                    summary.rejected_loans.append(loan_id)
                log.warning("exported loan is not a valid case", extra={"loan_id": loan_id})
                return
            setattr(summary, report.status, getattr(summary, report.status) + 1)

        while True:
            async with self.engine.connect() as conn:
                page = (await conn.execute(
                    select(loans.c.loan_id, loans.c.case)
                    .where(loans.c.overdue_since > since, loans.c.overdue_since <= request.day,
                           loans.c.loan_id > after)
                    .order_by(loans.c.loan_id).limit(PAGE))).all()
            if not page:
                break
            await asyncio.gather(*(start(row.loan_id, row.case) for row in page))
            summary.considered += len(page)
            after = page[-1].loan_id
            activity.heartbeat(after)
        log.info("daily intake done", extra={"status": f"{summary.started} started of {summary.considered}"})
        return summary

    @activity.defn
    async def watch_upcoming(self, request: UpcomingRequest) -> UpcomingSummary:
        """Judge each loan falling due soon and start an early warning for those at risk (once: a loan
        already watched, or already a case, is counted, never started again)."""
        summary = UpcomingSummary(day=request.day)
        model = self.model()
        details = activity.info().heartbeat_details
        after = details[0] if details else ""
        gate = asyncio.Semaphore(self.concurrency)

        async def judge(loan_id: str, data: dict) -> None:
            try:
                case = CaseInput.model_validate({**data, "state": None, "early_warning": None})
            except ValidationError:
                summary.rejected += 1
                log.warning("exported loan is not a valid case", extra={"loan_id": loan_id})
                return
            try:
                async with gate:
                    judged = await watch(self.client, request.task_queue, case, model, self.config_dir)
            except (ValueError, OSError) as e:  # a policy that does not load, a score that fails: this loan only
                summary.rejected += 1
                log.warning("exported loan not judged", extra={"loan_id": loan_id, "reason": str(e)[:200]})
                return
            setattr(summary, judged.decision, getattr(summary, judged.decision) + 1)

        until = request.day + timedelta(days=request.look_ahead_days)
        while True:
            async with self.engine.connect() as conn:
                page = (await conn.execute(
                    select(loans.c.loan_id, loans.c.case)
                    .where(loans.c.overdue_since.is_(None), loans.c.due_date > request.day,
                           loans.c.due_date <= until, loans.c.loan_id > after)
                    .order_by(loans.c.loan_id).limit(PAGE))).all()
            if not page:
                break
            await asyncio.gather(*(judge(row.loan_id, row.case) for row in page))
            summary.considered += len(page)
            after = page[-1].loan_id
            activity.heartbeat(after)
        log.info("early warning done", extra={"status": f"{summary.warned} warned, {summary.control} control of "
                                                        f"{summary.considered}"})
        return summary

    def all(self) -> list:
        return [self.start_newly_overdue, self.watch_upcoming]
