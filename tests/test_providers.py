"""Channel providers behind one interface, and the contact activity that sends at most once."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from sqlalchemy import text

from activities.contact import ContactActivities
from activities.contracts import ContactRequest
from adapters.ledger import Ledger
from adapters.providers import CallScript, OutboundRequest, ProviderError
from adapters.providers.http import HttpProvider
from adapters.providers.sandbox import SandboxProvider, simulated_outcome
from adapters.replies import address_digest, find_routes
from adapters.templates import TemplateLibrary
from domain.enums import Channel, Outcome
from domain.guard import GuardDecision


class Gateway(BaseHTTPRequestHandler):
    """A local SMS/voice gateway: remembers each Idempotency-Key and answers it the same way."""

    seen: dict[str, dict] = {}
    requests: list[dict] = []
    status_for: dict[str, int] = {}

    def do_POST(self):  # noqa: N802 - the http.server API
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        key = self.headers["Idempotency-Key"]
        Gateway.requests.append({"path": self.path, "key": key, "auth": self.headers.get("Authorization"),
                                 "body": body})
        status = Gateway.status_for.get(body["to"], 200)
        answer = Gateway.seen.setdefault(key, {"message_id": f"gw-{len(Gateway.seen) + 1}", "status": "sent"})
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps(answer if status == 200 else {"error": "nope"}).encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def gateway():
    Gateway.seen, Gateway.requests, Gateway.status_for = {}, [], {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def request(key: str, to: str = "+8613800138050", channel=Channel.SMS) -> ContactRequest:
    return ContactRequest(
        case_id="P-1", key=key, channel=channel, phone_ref="ref-1", to=to, template="reminder_due", locale="en",
        variables={"sender_name": "Lender", "sender_number": "400-1", "amount": "10.00", "currency": "CNY",
                   "due_date": "2026-12-01"},
        with_opt_out=True, step=0, robot=False, planned_at=datetime.now(UTC),
        guard=GuardDecision(verdict="allow", rule="ok", reason="test", packs=["cn@2026.1"]),
    )


@pytest.mark.parametrize("channel, to, outcome, distress", [
    (Channel.SMS, "+8613800138000", Outcome.FAILED, False),
    (Channel.ROBOT_CALL, "+8613800138005", Outcome.NO_ANSWER, False),
    (Channel.SMS, "+8613800138050", Outcome.DELIVERED, False),
    (Channel.ROBOT_CALL, "+8613800138050", Outcome.ANSWERED, False),
    (Channel.AGENT_CALL, "+8613800138050", Outcome.NO_ANSWER, False),
    (Channel.AGENT_CALL, "+8613800138091", Outcome.CONVERSATION, False),
    (Channel.ROBOT_CALL, "+8613800138099", Outcome.CONVERSATION, True),
    (Channel.ROBOT_CALL, "+8613800138065", Outcome.VOICEMAIL, False),
    (Channel.ROBOT_CALL, "+8613800138072", Outcome.WRONG_PARTY, False),
    (Channel.ROBOT_CALL, "+8613800138077", Outcome.THIRD_PARTY, False),
    (Channel.AGENT_CALL, "+8613800138085", Outcome.TASK_CREATED, False),  # waits for an agent to dial
    (Channel.VISIT, "1 Test Road", Outcome.TASK_CREATED, False),
])
def test_sandbox_outcomes_follow_the_documented_number_plan(channel, to, outcome, distress):
    assert simulated_outcome(channel, to) == (outcome, distress)


@pytest.mark.parametrize("to, voicemail, played, heard", [
    ("+8613800138050", True, "message", "10.00 CNY is overdue"),  # the borrower confirmed: the message
    ("+8613800138072", True, "identify", "Are you Wei?"),         # a stranger: only the question
    ("+8613800138077", True, "identify", "Are you Wei?"),         # a relative: only the question
    ("+8613800138065", True, "voicemail", "Call Neutral Co"),      # a machine: the limited-content message
    ("+8613800138066", False, "none", ""),                         # a machine where the packs allow none
])
async def test_a_robot_call_plays_its_message_only_to_the_confirmed_borrower(engine, to, voicemail, played, heard):
    script = CallScript(identify="Are you Wei?", message="10.00 CNY is overdue", voicemail="Call Neutral Co"
                        if voicemail else None)
    key = f"rpc-{to[-2:]}-{voicemail}"
    response = await SandboxProvider(engine).deliver(OutboundRequest(
        idempotency_key=key, channel=Channel.ROBOT_CALL, to=to, body=script.message, script=script))
    assert response.played == played
    async with engine.connect() as conn:
        said = (await conn.execute(text("SELECT body FROM sandbox_messages WHERE idempotency_key = :k"),
                                   {"k": key})).scalar_one()
    assert (heard in said) if heard else said == ""
    if played != "message":
        assert "overdue" not in said


async def test_sandbox_sends_each_key_once(engine):
    provider = SandboxProvider(engine)
    message = OutboundRequest(idempotency_key="sbx-once-1", channel=Channel.SMS, to="+8613800138050", body="hi")
    first, again = await provider.deliver(message), await provider.deliver(message)
    assert first == again
    async with engine.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT to_masked FROM sandbox_messages WHERE idempotency_key = 'sbx-once-1'"))).all()
    assert [r.to_masked for r in rows] == ["****8050"]


async def test_http_provider_posts_with_key_and_token_and_maps_errors(gateway):
    provider = HttpProvider(gateway, token="s3cret")
    response = await provider.deliver(OutboundRequest(idempotency_key="k1", channel=Channel.ROBOT_CALL,
                                                      to="+8613800138050", body="script"))
    assert response.outcome is Outcome.SENT and response.message_id == "gw-1"
    [sent] = Gateway.requests
    assert sent == {"path": "/v1/robot_call", "key": "k1", "auth": "Bearer s3cret",
                    "body": {"idempotency_key": "k1", "channel": "robot_call", "to": "+8613800138050",
                             "body": "script", "locale": "en"}}
    Gateway.status_for = {"+1bad": 400, "+1down": 503}
    with pytest.raises(ProviderError, match="HTTP 400"):
        await provider.deliver(OutboundRequest(idempotency_key="k2", channel=Channel.SMS, to="+1bad", body="x"))
    with pytest.raises(httpx.HTTPStatusError):  # retryable: the activity's retry policy takes it
        await provider.deliver(OutboundRequest(idempotency_key="k3", channel=Channel.SMS, to="+1down", body="x"))
    await provider.aclose()


async def test_a_retried_contact_never_sends_twice(engine, gateway):
    ledger = Ledger(engine)
    provider = HttpProvider(gateway)
    activities = ContactActivities({c: provider for c in Channel}, ledger, TemplateLibrary())
    first = await activities.send_sms(request("retry-1"))
    again = await activities.send_sms(request("retry-1"))  # a retry after the result was lost
    assert first == again and len(Gateway.requests) == 1
    assert "Reply STOP" in Gateway.requests[0]["body"]["body"] and "Lender" in Gateway.requests[0]["body"]["body"]

    # A crash after the provider was called but before the ledger was updated: the retry calls the
    # gateway again with the same key, and the gateway answers from its memory of that key.
    await ledger.begin_attempt(case_id="P-1", idempotency_key="retry-2", channel="sms", person="borrower",
                               phone_ref="ref-1", template="reminder_due", step=0, robot=False, guard_rule="ok",
                               guard_packs=[], planned_at=datetime.now(UTC))
    Gateway.seen["retry-2"] = {"message_id": "gw-earlier", "status": "delivered"}
    result = await activities.send_sms(request("retry-2"))
    assert result.message_id == "gw-earlier" and result.outcome is Outcome.DELIVERED
    async with engine.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT idempotency_key, outcome FROM contact_attempts WHERE case_id = 'P-1' ORDER BY id"))).all()
    assert [tuple(r) for r in rows] == [("retry-1", "sent"), ("retry-2", "delivered")]


async def test_a_retry_after_the_send_still_records_where_a_reply_comes_from(engine, gateway):
    """The first try sent and stopped before the reply route: the retry (settled, nothing sent) records it."""
    secret, ledger, number = b"r" * 32, Ledger(engine), f"+86138{uuid.uuid4().int % 10**8:08d}"
    await ledger.begin_attempt(case_id="P-9", idempotency_key="routed-1", channel="sms", person="borrower",
                               phone_ref="ref-1", template="reminder_due", step=0, robot=False, guard_rule="ok",
                               guard_packs=[], planned_at=datetime.now(UTC))
    await ledger.finish_attempt("routed-1", outcome="delivered", provider="http", provider_message_id="gw-9",
                                distress=False, played="none")
    activities = ContactActivities({c: HttpProvider(gateway) for c in Channel}, ledger, TemplateLibrary(),
                                   route_secret=secret)
    retried = request("routed-1", to=number).model_copy(update={"case_id": "P-9", "country": "CN"})
    assert (await activities.send_sms(retried)).outcome is Outcome.DELIVERED and Gateway.requests == []
    [route] = await find_routes(engine, address_digest(secret, "sms", number, "CN"), "sms")
    assert route.case_id == "P-9"


async def test_a_refusing_gateway_fails_the_attempt_without_retrying(engine, gateway):
    Gateway.status_for = {"+1bad": 422}
    activities = ContactActivities({c: HttpProvider(gateway) for c in Channel}, Ledger(engine), TemplateLibrary())
    with pytest.raises(Exception) as failure:
        await activities.send_sms(request("refused-1", to="+1bad"))
    assert getattr(failure.value, "non_retryable", False) and "HTTP 422" in str(failure.value)
    async with engine.connect() as conn:
        outcome = (await conn.execute(text(
            "SELECT outcome FROM contact_attempts WHERE idempotency_key = 'refused-1'"))).scalar_one()
    assert outcome == "failed"
