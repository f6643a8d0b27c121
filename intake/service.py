"""The HTTP service for the loan system's and the payment processor's webhooks.

    POST /cases                      start a case (idempotent: the case id names its workflow)
    POST /cases/{case_id}/payments   the `record_payment` update (the payment reference makes it idempotent)
    GET  /cases/{case_id}            the `status` query
    GET  /cases/{case_id}/statement  the account today (the balance engine's statement)
    POST /cases/{case_id}/relief-offers       the `offer_relief` update (the approval matrix decides who approves)
    POST /cases/{case_id}/relief-acceptances  the `accept_relief` update (before the offer expires)
    POST /webhooks/replies           an SMS or e-mail reply: a stop ceases the channel, other text is a task
    /s/...                           the borrower's self-service page (`selfservice.app`, its own sessions)
    GET  /healthz                    for load balancers and compose (no authentication)
    ... and the desk's routes (contact outcomes, assignments, tasks, worklists): `intake.desk`

Every call but /healthz is authenticated by a bearer token (INTAKE_TOKEN) or a signed webhook
(INTAKE_HMAC_SECRET): `X-DueCourse-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>`,
accepted within INTAKE_SIGNATURE_WINDOW seconds (default 300) and only once (`settings.IntakeSettings`).
Cases are started and driven through the service layer (`service.cases.Cases`), whose errors map to
HTTP statuses in one place. OpenAPI at /docs.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, HTTPException, Path, Request, status
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from pydantic.json_schema import SkipJsonSchema

from adapters.signatures import SIGNATURE_HEADER, sign
from domain.case_input import CaseInput
from domain.messages import DialPermission, DialRequest, Payment, UpdateResult
from domain.money import strict_amounts
from domain.relief import ReliefAcceptance, ReliefRequest
from domain.statement import Statement
from domain.status import CaseStatus
from domain.values import CASE_ID_PATTERN
from intake.desk import routes as desk_routes
from intake.replies import routes as reply_routes
from intake.reports import routes as report_routes
from service.backpressure import Backpressure, Busy
from service.cases import CaseClosed, CaseNotFound, Cases, NoStatement, TemporalError, UpdateRejected
from service.desk import Desk
from service.replies import Replies
from settings import IntakeSettings

__all__ = ["SIGNATURE_HEADER", "create_app", "sign"]


class NewCase(CaseInput):
    """A case as the loan system sends it (its state belongs to the workflow alone)."""

    state: SkipJsonSchema[None] = None


class Started(BaseModel):
    case_id: str
    workflow_id: str
    run_id: str | None
    status: Literal["started", "already_running", "already_closed"]


class Problem(BaseModel):
    detail: str


PROBLEMS = {401: {"model": Problem, "description": "no valid token or signature"},
            404: {"model": Problem, "description": "no such case"},
            503: {"model": Problem, "description": "Temporal is unavailable: retry later"}}
CaseId = Annotated[str, Path(pattern=CASE_ID_PATTERN.pattern, max_length=64, description="the lender's case id")]


class Authenticator:
    def __init__(self, settings: IntakeSettings):
        self.settings = settings
        self._seen: dict[str, float] = {}  # signatures already used, until their window closes

    async def __call__(self, request: Request) -> None:
        s = self.settings
        auth = request.headers.get("authorization", "")
        if s.token and auth.startswith("Bearer ") and hmac.compare_digest(auth[7:].encode(), s.token.encode()):
            return
        header = request.headers.get(SIGNATURE_HEADER)
        if s.hmac_secret and header:
            self._verify(header, await request.body(), s.hmac_secret)
            return
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "a bearer token or a signature is required",
                            headers={"WWW-Authenticate": "Bearer"})

    def _verify(self, header: str, body: bytes, secret: str) -> None:
        parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
        try:
            at = int(parts["t"])
            given = parts["v1"]
        except (KeyError, ValueError):
            raise HTTPException(401, f"{SIGNATURE_HEADER} must be t=<unix seconds>,v1=<hex digest>") from None
        now = time.time()
        if abs(now - at) > self.settings.signature_window:
            raise HTTPException(401, "signature timestamp outside the accepted window (check the clock)")
        expected = sign(secret, body, at).split("v1=")[1]
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise HTTPException(401, "signature does not match the body")
        self._seen = {k: v for k, v in self._seen.items() if v > now}
        if given in self._seen:
            raise HTTPException(401, "signature already used (a replayed request)")
        self._seen[given] = at + self.settings.signature_window


def create_app(cases: Cases, settings: IntakeSettings | None = None, pressure: Backpressure | None = None,
               admit_within: float = 10.0, desk: Desk | None = None, replies: Replies | None = None,
               self_service: FastAPI | None = None) -> FastAPI:
    """The service for `cases` (which names the task queue cases start on). With `pressure`, a start
    waits up to `admit_within` seconds for the workers to catch up, then answers 503 with Retry-After.
    With `replies`, the inbound replies webhook; with `self_service`, the borrower's page at /s."""
    settings = settings or IntakeSettings()
    settings.check()
    app = FastAPI(title="DueCourse intake", version="1", description=__doc__.split("\n\n")[0],
                  responses={401: PROBLEMS[401], 503: PROBLEMS[503]})
    authenticated = [Depends(Authenticator(settings))]

    @app.middleware("http")
    async def input_from_outside(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        with strict_amounts():  # bodies are decoded in this request's context: decimal strings only
            return await call_next(request)

    @app.exception_handler(CaseNotFound)
    async def not_found(_: Request, e: CaseNotFound) -> JSONResponse:
        return JSONResponse({"detail": "no such case"}, status_code=404)

    @app.exception_handler(NoStatement)
    async def no_statement(_: Request, e: NoStatement) -> JSONResponse:
        return JSONResponse({"detail": str(e)}, status_code=404)

    @app.exception_handler(CaseClosed)
    @app.exception_handler(UpdateRejected)
    async def refused(_: Request, e: CaseClosed | UpdateRejected) -> JSONResponse:
        return JSONResponse({"detail": str(e)}, status_code=409)

    @app.exception_handler(Busy)
    async def busy(_: Request, e: Busy) -> JSONResponse:
        return JSONResponse({"detail": str(e)}, status_code=503, headers={"Retry-After": f"{e.retry_after:.0f}"})

    @app.exception_handler(TemporalError)
    async def unavailable(_: Request, e: TemporalError) -> JSONResponse:
        return JSONResponse({"detail": str(e)}, status_code=503)

    @app.post("/cases", status_code=201, response_model=Started, dependencies=authenticated,
              responses={200: {"model": Started, "description": "the case exists already: nothing started"}})
    async def start(case: NewCase) -> JSONResponse:
        if pressure is not None:
            await pressure.admit(timeout=admit_within)
        report = await cases.start(case)
        if report.status == "rejected":  # validated above already; kept for rules the service adds
            raise HTTPException(422, report.detail)
        body = Started(case_id=case.case_id, workflow_id=case.workflow_id, run_id=report.run_id, status=report.status)
        return JSONResponse(body.model_dump(), status_code=201 if report.status == "started" else 200)

    @app.post("/cases/{case_id}/payments", response_model=UpdateResult, dependencies=authenticated,
              responses={404: PROBLEMS[404], 409: {"model": Problem, "description": "the case refused it"}})
    async def record_payment(case_id: CaseId, payment: Payment) -> UpdateResult:
        return await cases.pay(case_id, payment)

    @app.post("/cases/{case_id}/dials", response_model=DialPermission, dependencies=authenticated,
              responses={404: PROBLEMS[404], 409: {"model": Problem, "description": "no such task, or dialled"}})
    async def may_dial(case_id: CaseId, request: DialRequest) -> DialPermission:
        """For dialers, as an agent dials a call task: the guard's word now (allowed, or why not and
        until when). An allowed dial is the call: recorded and counted toward the caps."""
        return await cases.may_dial(case_id, request)

    @app.get("/cases/{case_id}", response_model=CaseStatus, dependencies=authenticated,
             responses={404: PROBLEMS[404]})
    async def case_status(case_id: CaseId) -> CaseStatus:
        return await cases.status(case_id)

    @app.get("/cases/{case_id}/statement", response_model=Statement, dependencies=authenticated,
             responses={404: PROBLEMS[404]})
    async def statement(case_id: CaseId) -> Statement:
        """The account today: owed by component, accrued this period, every payment as applied, every relief
        and freeze, with lines in the borrower's language and number format."""
        return await cases.statement(case_id)

    @app.post("/cases/{case_id}/relief-offers", response_model=UpdateResult, dependencies=authenticated,
              responses={404: PROBLEMS[404], 409: {"model": Problem, "description": "outside the policy's limits, "
                                                   "or the case refused it"}})
    async def offer_relief(case_id: CaseId, request: ReliefRequest) -> UpdateResult:
        """Relief for the borrower, priced on today's balance: open at once within the offerer's role (the
        policy's approval matrix), else awaiting an approver; `ref` is the offer's id."""
        return await cases.offer_relief(case_id, request)

    @app.post("/cases/{case_id}/relief-acceptances", response_model=UpdateResult, dependencies=authenticated,
              responses={404: PROBLEMS[404], 409: {"model": Problem, "description": "no such offer, or it "
                                                   "expired"}})
    async def accept_relief(case_id: CaseId, acceptance: ReliefAcceptance) -> UpdateResult:
        """The borrower accepts an offer before it expires."""
        return await cases.accept_relief(case_id, acceptance)

    app.include_router(desk_routes(desk or Desk(cases, cases.client), authenticated, {
        404: PROBLEMS[404], 409: {"model": Problem, "description": "the case refused it, and why"}}))
    app.include_router(report_routes(authenticated, {503: PROBLEMS[503]}))
    if replies is not None:
        app.include_router(reply_routes(replies, authenticated, {503: PROBLEMS[503]}))
    if self_service is not None:
        app.mount("/s", self_service)  # the borrower's page: its own sessions, never the intake's tokens

    @app.get("/healthz", responses={503: PROBLEMS[503]})
    async def health() -> dict[str, str]:
        await cases.ping()
        return {"status": "ok"}

    return app
