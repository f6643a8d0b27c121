"""The portfolio report over HTTP, behind the intake's authentication (a bearer token or a signature):

    GET /reports/portfolio?from=2026-10-01&to=2026-12-01&by=segment&by=arm   the page (text/html)
    GET /reports/portfolio.csv?table=arms&from=...&to=...                     one table as CSV

The same page as `duecourse report` (analytics/report.py). The ledger is DATABASE_URL's, opened on the
first request; the newest trained model's card in MODEL_DIR (train.py's folder) is shown when there is one.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import HTMLResponse, PlainTextResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.db import make_engine
from analytics import report as portfolio
from analytics.tables import GROUPS, group_names
from settings import Settings

EARLIEST, LATEST = date(1970, 1, 1), date(2999, 12, 31)


class ReportQuery(BaseModel):
    """What a report is for: its period (UTC days, `to` excluded), groupings and comparisons."""

    first: date | None = Field(default=None, alias="from", ge=EARLIEST, le=LATEST,
                               description="first day (default: 90 days before `to`)")
    to: date | None = Field(default=None, ge=EARLIEST, le=LATEST,
                            description="the day after the last (default: tomorrow, UTC)")
    by: list[str] = Field(default_factory=list, description=f"any of: {', '.join(GROUPS)}")
    horizon: int = Field(default=30, ge=1, le=3660, description="cohort horizon in days")
    champion: str = Field(default="champion", max_length=40)
    simulated: bool = Field(default=False, description="the figures come from the borrower simulator")

    def options(self, model_dir: Path | None) -> portfolio.Options:
        end = self.to or datetime.now(UTC).date() + timedelta(days=1)
        try:
            options = portfolio.Options(first=self.first or end - timedelta(days=90), end=end,
                                        by=group_names(self.by), horizon_days=self.horizon, champion=self.champion,
                                        model_dir=model_dir, simulated=self.simulated)
            options.period  # noqa: B018  (checks that the period ends after it starts)
        except (ValueError, OverflowError) as e:
            raise HTTPException(422, str(e)) from None
        return options

    def query_string(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump(by_alias=True, mode="json").items() if v not in (None, [], False)}


def routes(authenticated: list[Any], problems: dict[int | str, dict[str, Any]] | None = None,
           engine: AsyncEngine | None = None, model_dir: Path | None = None) -> APIRouter:
    """The report's routes; without `engine`, DATABASE_URL's ledger, and MODEL_DIR's model when set."""
    router = APIRouter(prefix="/reports", dependencies=authenticated, responses=problems or {}, tags=["reports"])
    ledger: dict[str, AsyncEngine] = {"engine": engine} if engine is not None else {}

    def the_ledger() -> AsyncEngine:
        if "engine" not in ledger:
            url = Settings().database_url
            if not url:  # not a fault of the moment: this service has no report to give
                raise HTTPException(404, "no report here: DATABASE_URL is not set, so there is no ledger to read")
            ledger["engine"] = make_engine(url, pool_size=2)
        return ledger["engine"]

    async def build(query: ReportQuery) -> portfolio.Report:
        models = model_dir or Settings().model_dir
        folder = portfolio.model_folder(models) if models is not None else None  # none trained yet: no section
        try:
            return await portfolio.build(the_ledger(), query.options(folder))
        except (OSError, DBAPIError) as e:
            raise HTTPException(503, "the ledger cannot be read now: retry later") from e

    @router.get("/portfolio", response_class=HTMLResponse,
                responses={404: {"description": "no ledger configured (DATABASE_URL unset)"}})
    async def page(query: Annotated[ReportQuery, Query()]) -> HTMLResponse:
        """The portfolio report as one self-contained page (inline CSS and SVG, no script)."""
        report = await build(query)

        def csv_href(name: str) -> str:
            return "portfolio.csv?" + urlencode({**query.query_string(), "table": name}, doseq=True)

        return HTMLResponse(portfolio.html(report, csv_href))

    @router.get("/portfolio.csv", response_class=PlainTextResponse,
                responses={404: {"description": "no such table, or no ledger configured"}})
    async def table(query: Annotated[ReportQuery, Query()],
                    name: Annotated[str, Query(alias="table", max_length=64, pattern=r"^[a-z_]+$")],
                    ) -> PlainTextResponse:
        """One of the page's tables, as CSV."""
        report = await build(query)
        found = report.table(name)
        if found is None:
            raise HTTPException(404, f"no table {name!r}: one of {', '.join(portfolio.table_names(report))}")
        return PlainTextResponse(found.csv(), media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})

    return router
