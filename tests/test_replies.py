"""Inbound replies: which replies are a stop (en/zh, full-width, punctuation; a long message that mentions
"stop" is not), address digests, routes and once-only claims on the real Postgres, the service against a
recording fake of the case calls, and the webhook (no text or address in its errors or logs)."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import yaml
from fastapi import Depends, FastAPI, HTTPException, Request
from pydantic import ValidationError

from adapters import replies as store
from adapters.config_files import CONFIG_DIR, ConfigError
from domain.enums import CeaseScope, Person, Stage
from domain.messages import BorrowerReply, CeaseContact, ThirdPartyRefusal, UpdateResult
from domain.replies import AddressError, ReplyChannel, ReplyKeywords, classify, matched, normalise_address, reply_body
from intake.replies import routes
from service.cases import CaseClosed, TemporalError
from service.replies import InboundReply, Replies

SECRET = b"test-reply-route-secret"
NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def keywords() -> ReplyKeywords:
    return store.load_keywords()


# --- classification ------------------------------------------------------------------------------

STOPS = [
    "STOP", "stop", "Stop.", "stop!", "  STOP \n", '"STOP"', "“STOP”", "STOP!!!", "stop stop", "STOP ALL", "stopall",
    "Quit", "END", "revoke", "opt out", "Opt-Out", "cancel", "UNSUBSCRIBE", "remove", "STOP 🙏",
    "stop please", "Please stop", "stop, thanks", "STOP texting me", "please stop texting me!", "unsubscribe me",
    "Don't text me", "do not contact me.", "Leave me alone",
    "退订", "“退订”", "退订。", "退订！", "请退订", "退订谢谢", "您好，退订",
    "TD", "td", "Td", "ＴＤ", "ｔｄ", "T", "t.",
    "取消", "不要再发", "不要再发了", "别再发了", "退 订", "请勿打扰", "不要再给我发短信",
]
MESSAGES = [
    "I will pay when the bank stops delaying",
    "Please don't stop the plan, I can pay 500 on Friday",
    "stop charging me fees and I will pay",
    "Can I cancel the late fee?",
    "I lost my job, can we talk?",
    "我下周五还款，可以吗？",
    "退订的话还要还钱吗",  # asks about unsubscribing: a person answers
    "TDK",
    "please",
    "thanks",
    "don't stop",
    "why do you keep texting me, stop or I will report you to the regulator",
]


@pytest.mark.parametrize("text", STOPS)
def test_a_whole_message_stop_word_or_phrase_is_a_stop(text, keywords):
    assert classify(text, keywords) == "stop"


@pytest.mark.parametrize("text", MESSAGES)
def test_anything_else_goes_to_a_person(text, keywords):
    assert classify(text, keywords) == "message"


def test_the_matched_term_is_the_lists_own(keywords):
    assert matched("ＴＤ", keywords) == "td"
    assert matched("“退订”", keywords) == "退订"
    assert matched("STOP texting me please", keywords) == "stop texting me"
    assert matched("I'll pay soon", keywords) is None


def test_an_e_mail_reply_is_read_without_the_history_it_quotes(keywords):
    reply = "STOP\n\nOn Mon, 30 Nov 2026 at 10:00, Lender <no-reply@lender.example> wrote:\n> Your payment is due"
    assert reply_body(reply) == "STOP"
    assert classify(reply_body(reply), keywords) == "stop"
    assert reply_body("Unsubscribe\n\nSent from my iPhone") == "Unsubscribe"
    assert reply_body("退订\n\n发件人: 某银行\n> 您的账单") == "退订"
    assert reply_body("> only a quote") == "> only a quote"


def test_empty_or_blank_replies_are_refused_by_the_model():
    base = {"provider": "sandbox", "message_id": "m-1", "channel": "sms", "from": "+8613800138050",
            "received_at": NOW.isoformat()}
    for text in ("", "   ", "\n\t"):
        with pytest.raises(ValidationError) as e:
            InboundReply.model_validate(base | {"text": text})
        assert "text" in str(e.value)
        with pytest.raises(ValidationError, match="no text and no subject"):
            InboundReply.model_validate(base | {"channel": "email", "from": "a@example.com", "text": text,
                                                "subject": " "})
    assert InboundReply.model_validate(base | {"channel": "email", "from": "a@example.com", "subject": "stop"})
    with pytest.raises(ValidationError):  # received_at needs its offset
        InboundReply.model_validate(base | {"text": "hi", "received_at": "2026-12-01T09:30:00"})


def test_the_keyword_file_names_its_sources_and_marks_the_unsourced():
    data = yaml.safe_load((CONFIG_DIR / "replies.yaml").read_text(encoding="utf-8"))
    groups = data["stop_words"] + data["stop_phrases"] + data["fillers"]
    assert all(g.get("sources") or g.get("unsourced") is True for g in groups)
    chinese = next(g for g in data["stop_words"] if "退订" in g["terms"])
    assert chinese["unsourced"] is True and not chinese.get("sources")
    fcc = next(g for g in data["stop_words"] if "revoke" in g["terms"])
    assert any("fcc-24-24" in s for s in fcc["sources"])
    with pytest.raises(ValidationError, match="unsourced"):
        ReplyKeywords.model_validate({"version": "x", "stop_words": [{"terms": ["stop"]}]})
    with pytest.raises(ValidationError, match="both a stop and a filler"):
        ReplyKeywords.model_validate({"version": "x", "stop_words": [{"terms": ["stop"], "unsourced": True}],
                                      "fillers": [{"terms": ["STOP!"], "unsourced": True}]})


def test_a_broken_keyword_file_names_the_field(tmp_path: Path):
    (tmp_path / "replies.yaml").write_text("version: '1'\nstop_words: []\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="stop_words"):
        store.load_keywords(tmp_path)
    with pytest.raises(ConfigError, match="no replies.yaml"):
        store.load_keywords(tmp_path / "nowhere")


# --- digests -------------------------------------------------------------------------------------


def test_a_number_digests_the_same_however_it_is_written():
    forms = ["+86 138-0013-8050", "+8613800138050", "13800138050", "138 0013 8050", "008613800138050"]
    digests = {store.address_digest(SECRET, "sms", n, "CN") for n in forms}
    assert len(digests) == 1
    assert store.address_digest(SECRET, "sms", "+8613800138050") in digests  # E.164 needs no country
    assert store.address_digest(b"another secret", "sms", "+8613800138050", "CN") not in digests
    assert normalise_address("sms", "13800138050", "CN") == "tel:+8613800138050"


def test_an_e_mail_address_digests_without_regard_to_case_or_its_name():
    forms = ["Ana.Li@Example.COM", " ana.li@example.com ", "Ana Li <ANA.LI@example.com>"]
    assert len({store.address_digest(SECRET, "email", a) for a in forms}) == 1
    assert store.address_digest(SECRET, "email", "ana.li@example.com") != store.address_digest(
        SECRET, "sms", "+8613800138050", "CN")


def test_an_address_that_cannot_be_read_says_so_without_repeating_it():
    for channel, address, country in (("sms", "13800138050", None), ("sms", "LENDER", "CN"),
                                      ("email", "not-an-address", None)):
        with pytest.raises(AddressError) as e:
            store.address_digest(SECRET, channel, address, country)
        assert address not in str(e.value)


# --- routes and claims on Postgres ---------------------------------------------------------------


def new_case() -> str:
    return f"R-{uuid.uuid4().hex[:10]}"


def new_number() -> str:
    return f"+86139{uuid.uuid4().int % 10**8:08d}"


async def test_a_route_finds_the_case_that_messaged_the_address_most_recently(engine):
    old, new, number = new_case(), new_case(), new_number()
    national = number.removeprefix("+86")
    await store.record_route(engine, SECRET, old, "sms", Person.BORROWER, "ref-old", number, "CN", NOW)
    digest = await store.record_route(engine, SECRET, new, "sms", Person.BORROWER, "ref-new", national, "CN",
                                      NOW + timedelta(hours=1))
    route = await store.find_route(engine, digest, "sms")
    assert route is not None and (route.case_id, route.person, route.contact_ref) == (new, Person.BORROWER, "ref-new")
    assert [r.case_id for r in await store.find_routes(engine, digest, "sms")] == [new, old]
    assert await store.find_route(engine, digest, "email") is None
    # a retried send of an older message does not move the route back
    await store.record_route(engine, SECRET, old, "sms", Person.BORROWER, "ref-old", number, "CN",
                             NOW + timedelta(hours=2))
    await store.record_route(engine, SECRET, old, "sms", Person.BORROWER, "ref-old", number, "CN", NOW)
    route = await store.find_route(engine, digest, "sms")
    assert route is not None and route.case_id == old and route.last_sent_at == NOW + timedelta(hours=2)


async def test_a_route_holds_a_digest_never_the_address(engine):
    from sqlalchemy import text

    case_id, number = new_case(), new_number()
    async with engine.begin() as conn:  # inside the caller's transaction
        await store.record_route(conn, SECRET, case_id, "sms", Person.EMERGENCY_CONTACT, "ref-ec", number, "CN", NOW)
    async with engine.connect() as conn:
        row = (await conn.execute(text("SELECT * FROM reply_routes WHERE case_id = :c"), {"c": case_id})).one()
    assert number not in str(tuple(row)) and number[3:] not in str(tuple(row))
    assert row.person == "emergency_contact" and row.contact_ref == "ref-ec"
    with pytest.raises(ValueError, match="by number only"):
        await store.record_route(engine, SECRET, case_id, "email", Person.EMERGENCY_CONTACT, None, "x@example.com",
                                 None, NOW)


async def test_an_inbound_reply_is_claimed_once_and_settled(engine):
    message_id = f"m-{uuid.uuid4().hex}"
    assert await store.claim_inbound(engine, "sandbox", message_id, "sms", NOW)
    assert not await store.claim_inbound(engine, "sandbox", message_id, "sms", NOW)
    assert await store.claim_inbound(engine, "other", message_id, "sms", NOW)  # another provider's id
    assert (await store.inbound(engine, "sandbox", message_id)).action == store.PENDING
    await store.settle_inbound(engine, "sandbox", message_id, "C-1", "stop")
    seen = await store.inbound(engine, "sandbox", message_id)
    assert seen is not None and (seen.action, seen.case_id) == ("stop", "C-1")
    await store.release_inbound(engine, "sandbox", message_id)  # settled: not given back
    assert not await store.claim_inbound(engine, "sandbox", message_id, "sms", NOW)


async def test_a_claim_never_settled_is_taken_over_once_stale(engine):
    message_id = f"m-{uuid.uuid4().hex}"
    assert await store.claim_inbound(engine, "sandbox", message_id, "sms", NOW)
    assert not await store.claim_inbound(engine, "sandbox", message_id, "sms", NOW)  # fresh: someone is on it
    assert await store.claim_inbound(engine, "sandbox", message_id, "sms", NOW, stale_after=timedelta(0))
    await store.release_inbound(engine, "sandbox", message_id)
    assert await store.inbound(engine, "sandbox", message_id) is None


# --- the service ---------------------------------------------------------------------------------


class FakeCases:
    """The three `Cases` calls a reply makes, recorded; `closed` cases refuse as a closed case does,
    and `down` makes every call fail as an unreachable Temporal does."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, object]] = []
        self.closed: set[str] = set()
        self.down = False

    def _check(self, case_id: str) -> None:
        if self.down:
            raise TemporalError("connection refused")
        if case_id in self.closed:
            raise CaseClosed(case_id, "completed")

    async def cease(self, case_id: str, request: CeaseContact) -> None:
        self._check(case_id)
        self.calls.append(("cease", case_id, request))

    async def third_party_refused(self, case_id: str, refusal: ThirdPartyRefusal) -> None:
        self._check(case_id)
        self.calls.append(("third_party_refused", case_id, refusal))

    async def borrower_reply(self, case_id: str, reply: BorrowerReply) -> UpdateResult:
        self._check(case_id)
        self.calls.append(("borrower_reply", case_id, reply))
        return UpdateResult(message="task opened", stage=Stage.REMOTE_CONTACT, balance=Decimal("100"), ref="t-1")


@pytest.fixture
def fake() -> FakeCases:
    return FakeCases()


@pytest.fixture
def service(fake, engine, keywords) -> Replies:
    return Replies(fake, engine, SECRET, keywords, country="CN")


def reply(text: str, from_: str, channel: str = "sms", **extra) -> InboundReply:
    return InboundReply.model_validate({"provider": "sandbox", "message_id": f"m-{uuid.uuid4().hex}",
                                        "channel": channel, "from": from_, "text": text,
                                        "received_at": NOW.isoformat()} | extra)


async def borrower(engine, channel: ReplyChannel = "sms", address: str | None = None) -> tuple[str, str]:
    case_id, address = new_case(), address or new_number()
    await store.record_route(engine, SECRET, case_id, channel, Person.BORROWER, None, address, "CN", NOW)
    return case_id, address


async def test_a_borrowers_stop_ceases_that_channel(service, fake, engine):
    case_id, number = await borrower(engine)
    outcome = await service.receive(reply("STOP.", number))
    assert (outcome.action, outcome.case_found, outcome.case_id) == ("stop", True, case_id)
    [(kind, to, request)] = fake.calls
    assert (kind, to) == ("cease", case_id)
    assert request == CeaseContact(scope=CeaseScope.CHANNEL, channel="sms", reason="replied stop")


async def test_an_inbound_tuiding_by_sms_stops_sms(service, fake, engine):
    case_id, number = await borrower(engine)
    await service.receive(reply("退订", number.removeprefix("+86")))  # a national number, read in CN
    assert [(k, c, r.channel, r.scope) for k, c, r in fake.calls] == [("cease", case_id, "sms", CeaseScope.CHANNEL)]


async def test_an_e_mail_unsubscribe_ceases_e_mail(service, fake, engine):
    address = f"ana.{uuid.uuid4().hex[:8]}@example.com"
    case_id, _ = await borrower(engine, "email", address)
    text = "Unsubscribe\n\nOn Mon, 30 Nov 2026, Lender wrote:\n> Your instalment is due"
    outcome = await service.receive(reply(text, f"Ana <{address.upper()}>", "email"))
    assert (outcome.action, outcome.case_id) == ("stop", case_id)
    assert [(k, c, r.channel) for k, c, r in fake.calls] == [("cease", case_id, "email")]


async def test_the_list_unsubscribe_mail_a_subject_of_stop_and_no_body_ceases_e_mail(service, fake, engine):
    address = f"li.{uuid.uuid4().hex[:8]}@example.com"
    case_id, _ = await borrower(engine, "email", address)
    outcome = await service.receive(reply("", address, "email", subject="stop"))  # what the mailto link sends
    assert (outcome.action, outcome.case_id) == ("stop", case_id)
    assert [(k, c, r.channel) for k, c, r in fake.calls] == [("cease", case_id, "email")]
    fake.calls.clear()  # a subject that is not a stop, and no body: the subject is the message
    outcome = await service.receive(reply(" ", address, "email", subject="Re: when can I pay?"))
    assert outcome.action == "task" and fake.calls[0][2].text == "Re: when can I pay?"


async def test_an_emergency_contacts_stop_records_their_refusal_with_the_number(service, fake, engine):
    case_id, number = new_case(), new_number()
    await store.record_route(engine, SECRET, case_id, "sms", Person.EMERGENCY_CONTACT, "ref-ec", number, "CN", NOW)
    outcome = await service.receive(reply("“退订”", number.removeprefix("+86")))
    assert (outcome.action, outcome.case_id) == ("third_party_refused", case_id)
    assert fake.calls == [("third_party_refused", case_id, ThirdPartyRefusal(number=number))]


async def test_an_emergency_contacts_other_text_changes_nothing_on_the_case(service, fake, engine):
    case_id, number = new_case(), new_number()
    await store.record_route(engine, SECRET, case_id, "sms", Person.EMERGENCY_CONTACT, "ref-ec", number, "CN", NOW)
    outcome = await service.receive(reply("Who is this?", number))
    assert (outcome.action, outcome.case_id, fake.calls) == ("third_party_message", case_id, [])


async def test_other_text_becomes_a_task_with_the_message(service, fake, engine):
    case_id, number = await borrower(engine)
    inbound = reply("I lost my job, can I pay 200 a month?", number)
    outcome = await service.receive(inbound)
    assert (outcome.action, outcome.case_id) == ("task", case_id)
    assert fake.calls == [("borrower_reply", case_id, BorrowerReply(
        channel="sms", text=inbound.text, received_at=NOW, message_id=inbound.message_id))]
    long = await service.receive(reply("x" * 5000, number))
    assert long.action == "task" and len(fake.calls[-1][2].text) == 2000


async def test_a_duplicate_delivery_acts_once_and_answers_the_same(service, fake, engine):
    case_id, number = await borrower(engine)
    inbound = reply("STOP", number)
    first = await service.receive(inbound)
    again = await service.receive(inbound)
    assert len(fake.calls) == 1
    assert (again.action, again.case_id, again.duplicate) == (first.action, first.case_id, True)


async def test_an_unmatched_address_is_recorded_and_nothing_else(service, fake, engine):
    inbound = reply("STOP", new_number())
    outcome = await service.receive(inbound)
    assert (outcome.action, outcome.case_found, fake.calls) == ("unmatched", False, [])
    assert (await store.inbound(engine, "sandbox", inbound.message_id)).action == "unmatched"
    short_code = await service.receive(reply("STOP", "LENDER"))
    assert short_code.action == "unmatched"


async def test_a_closed_case_is_recorded_not_an_error(service, fake, engine):
    case_id, number = await borrower(engine)
    fake.closed.add(case_id)
    assert (await service.receive(reply("STOP", number))).action == "case_closed"
    assert (await service.receive(reply("can we talk?", number))).action == "case_closed"
    assert fake.calls == []


async def test_a_stop_binds_every_case_that_messaged_the_address(service, fake, engine):
    number = new_number()
    older, newer, closed = new_case(), new_case(), new_case()
    await store.record_route(engine, SECRET, older, "sms", Person.EMERGENCY_CONTACT, "ref", number, "CN", NOW)
    await store.record_route(engine, SECRET, closed, "sms", Person.BORROWER, None, number, "CN",
                             NOW + timedelta(hours=2))
    await store.record_route(engine, SECRET, newer, "sms", Person.BORROWER, None, number, "CN",
                             NOW + timedelta(hours=1))
    fake.closed.add(closed)
    outcome = await service.receive(reply("stop", number))
    assert (outcome.action, outcome.case_id) == ("stop", newer)  # the most recent running case
    assert sorted((k, c) for k, c, _ in fake.calls) == sorted(
        [("cease", newer), ("third_party_refused", older)])
    # other text: one task, on the most recently messaged borrower's case still running
    fake.calls.clear()
    assert (await service.receive(reply("I paid yesterday", number))).case_id == newer
    assert [(k, c) for k, c, _ in fake.calls] == [("borrower_reply", newer)]


async def test_temporal_down_gives_the_claim_back_so_the_retry_acts(service, fake, engine):
    case_id, number = await borrower(engine)
    inbound = reply("TD", number)
    fake.down = True
    with pytest.raises(TemporalError):
        await service.receive(inbound)
    assert await store.inbound(engine, "sandbox", inbound.message_id) is None
    fake.down = False
    assert (await service.receive(inbound)).action == "stop"
    assert [(k, c) for k, c, _ in fake.calls] == [("cease", case_id)]


# --- the webhook ---------------------------------------------------------------------------------

TOKEN = "reply-test-token"


async def bearer(request: Request) -> None:
    if request.headers.get("authorization") != f"Bearer {TOKEN}":
        raise HTTPException(401, "a bearer token is required")


@pytest.fixture
def api(service):
    app = FastAPI()
    app.include_router(routes(service, [Depends(bearer)], {401: {"description": "no token"}}))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake",
                             headers={"authorization": f"Bearer {TOKEN}"})


def body(text: str, from_: str, **extra) -> dict:
    return {"provider": "sandbox", "message_id": f"m-{uuid.uuid4().hex}", "channel": "sms", "from": from_,
            "text": text, "received_at": NOW.isoformat()} | extra


async def test_the_webhook_answers_what_a_reply_came_to(api, fake, engine, caplog):
    case_id, number = await borrower(engine)
    caplog.set_level(logging.DEBUG)
    async with api:
        stop = await api.post("/webhooks/replies", json=body("退订", number))
        task = await api.post("/webhooks/replies", json=body("my salary comes on the 15th", number))
        nobody = await api.post("/webhooks/replies", json=body("STOP", new_number()))
        unauthenticated = await api.post("/webhooks/replies", json=body("STOP", number), headers={"authorization": ""})
    assert (stop.status_code, stop.json()) == (200, {"action": "stop", "case_found": True})
    assert (task.status_code, task.json()) == (200, {"action": "task", "case_found": True})
    assert (nobody.status_code, nobody.json()) == (200, {"action": "unmatched", "case_found": False})
    assert unauthenticated.status_code == 401
    assert [k for k, _, _ in fake.calls] == ["cease", "borrower_reply"]
    logged = "\n".join(r.getMessage() + str(r.__dict__) for r in caplog.records)
    assert number not in logged and "salary" not in logged and "退订" not in logged


async def test_bad_input_is_422_and_never_repeats_the_text_or_the_address(api):
    secret_text, address = "my account number is 6222 0000 1111", "+8613800138050"
    async with api:
        answers = [
            await api.post("/webhooks/replies", json=body(secret_text, address, channel="fax")),
            await api.post("/webhooks/replies", json=body(secret_text, address, received_at="2026-12-01T09:30")),
            await api.post("/webhooks/replies", json=body("   ", address)),
            await api.post("/webhooks/replies", json=body(secret_text, address, received_at="0001-01-01T00:00+01:00")),
            await api.post("/webhooks/replies", json=body(secret_text, address, message_id="m\u0000")),
            await api.post("/webhooks/replies", json=body(secret_text, address, extra=address)),
            await api.post("/webhooks/replies", content=f'{{"text": "{secret_text}", "from": "{address}"',
                           headers={"content-type": "application/json"}),
        ]
    for answer in answers:
        assert answer.status_code == 422
        assert answer.json()["detail"].startswith("not an inbound reply")
        assert secret_text not in answer.text and address not in answer.text and "8613800138050" not in answer.text
    assert "channel" in answers[0].json()["detail"] and "received_at" in answers[1].json()["detail"]


async def test_temporal_down_is_503_so_the_provider_retries(api, fake, engine):
    _, number = await borrower(engine)
    fake.down = True
    async with api:
        answer = await api.post("/webhooks/replies", json=body("STOP", number))
    assert answer.status_code == 503 and answer.headers["retry-after"]
    assert number not in answer.text


async def test_the_webhook_documents_its_body(api):
    async with api:
        schema = (await api.get("/openapi.json")).json()
    operation = schema["paths"]["/webhooks/replies"]["post"]
    assert "from" in operation["requestBody"]["content"]["application/json"]["schema"]["properties"]
