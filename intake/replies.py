"""Inbound replies over HTTP, behind the intake's authentication (a bearer token or a signed webhook):

    POST /webhooks/replies   one SMS or e-mail reply (`service.replies.InboundReply`): a stop ceases that
                             channel, other text becomes a task; answers what it came to

The body is validated here rather than by FastAPI, whose 422 echoes the input: a reply's text and address
must appear in no error and no log. A provider retries on 503 (Temporal or the ledger unavailable, or the
same reply being acted on by another delivery); a retried reply acts once.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import SQLAlchemyError

from domain.errors import explain
from service.cases import TemporalError
from service.replies import Action, InboundReply, Replies, ReplyInProgress

RETRY_AFTER = {"Retry-After": "30"}


class ReplyAnswer(BaseModel):
    action: Action
    case_found: bool


def routes(replies: Replies, authenticated: list[Any], problems: dict[int | str, dict[str, Any]]) -> APIRouter:
    router = APIRouter(dependencies=authenticated, responses=problems, tags=["replies"])
    schema = InboundReply.model_json_schema(by_alias=True)

    @router.post("/webhooks/replies", response_model=ReplyAnswer, openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}},
        responses={422: {"description": "not an InboundReply: which field, and why (never its value)"}})
    async def receive_reply(request: Request) -> ReplyAnswer:
        """An inbound SMS or e-mail reply. STOP, 退订, TD and their variants cease that channel at once (an
        emergency contact's refusal is recorded against its number); other text becomes a task for the team.
        `case_found`: false when no case messaged the address."""
        try:
            reply = InboundReply.model_validate_json(await request.body())
        except ValidationError as e:
            raise HTTPException(422, f"not an inbound reply: {explain(e)}") from None
        try:
            outcome = await replies.receive(reply)
        except (TemporalError, ReplyInProgress) as e:
            raise HTTPException(503, str(e), headers=RETRY_AFTER) from None
        except (SQLAlchemyError, OSError):
            raise HTTPException(503, "the ledger cannot be reached: retry later", headers=RETRY_AFTER) from None
        return ReplyAnswer(action=outcome.action, case_found=outcome.case_found)

    return router
