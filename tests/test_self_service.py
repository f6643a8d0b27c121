"""The borrower's own channel, end to end on the time-skipping server, a real worker, real Postgres, the HTTP
service on a real port and a real SMTP server: a link by SMS, a one-time code, the page's actions through
the case's own updates (Chromium, both locales), the token attacks, an inbound 退订, a letter's PDF."""

from __future__ import annotations

import asyncio
import functools
import io
import re
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
import uvicorn
from pypdf import PdfReader
from sqlalchemy import text

from adapters.ledger import Ledger
from adapters.providers.sandbox import SandboxProvider
from domain.enums import ApprovalKind, Outcome, Stage
from domain.messages import ContactPreferences, DeliveryReceipt, DisputeRequest, DisputeResolution
from domain.policy import Window
from domain.self_service import numbers_with
from domain.state import PendingApproval, PromiseToPay
from domain.status import CaseStatus
from intake.__main__ import borrower_channels
from intake.selfservice.app import STRINGS, hide_link_tokens, next_steps, overview
from intake.service import create_app
from service.cases import Cases
from settings import IntakeSettings, SelfServiceSettings, Settings
from testkit import cases as synthetic
from testkit.servers import free_port
from testkit.smtp import MailCatcher
from tests.conftest import Cases as Driver
from worker import build_worker

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
TOKEN = "intake-token-" + "x" * 24
STATUS = {  # a running case's status, as the page reads it
    "case_id": "SS-1", "stage": "remote_contact", "segment": "low_risk", "currency": "CNY", "balance": "900.00",
    "total_paid": "0", "days_past_due": 20, "flags": [], "contact_counts": {}, "last_contacts": [],
    "pending_promise": None, "plan": None, "visit": None, "pending_approvals": [], "vulnerability": None,
    "next_action": {"what": "Robot call 3 of 6", "at": None}, "verification_missing": [], "policy": "standard@1",
    "rule_packs": ["cn@2026.1"], "run": 1}


@dataclass
class Stack:
    base: str
    driver: Driver
    cases: Cases
    mail: MailCatcher

    async def open_case(self, *, country: str = "CN", balance: str = "2400.00", email: str | None = None):
        case = synthetic.case(case_id=f"SS-{uuid.uuid4().hex[:8]}", policy="self-service", country=country,
                              balance=balance, timezone="America/New_York" if country == "US" else "Asia/Shanghai")
        if email:
            case = case.model_copy(update={"borrower": case.borrower.model_copy(update={"email": email})})
        assert (await self.cases.start(case)).status == "started"
        handle = self.driver.client.get_workflow_handle(case.workflow_id)
        self.driver.started.append(handle)
        await self.driver.until(handle, lambda s: s.contact_counts.get("sms", 0) >= 1, what="the link by SMS")
        return case, handle

    async def link(self, case_id: str) -> str:
        rows = await self.driver.rows("SELECT body FROM sandbox_messages WHERE channel = 'sms' AND "
                                      "position(:cid in idempotency_key) > 0 ORDER BY id", cid=case_id)
        found = [m.group(0) for r in rows if (m := re.search(r"https?://\S+/s/l/[A-Za-z0-9_-]+", r["body"]))]
        assert found, "the first SMS carries the self-service link"
        return found[0]

    async def code(self) -> str:
        rows = await self.driver.rows("SELECT body FROM sandbox_messages WHERE idempotency_key LIKE "
                                      "'self-service-code:%' ORDER BY id DESC LIMIT 1")
        found = re.search(r"\b(\d{6})\b", rows[0]["body"])
        assert found
        return found.group(1)

    async def journal(self, case_id: str, kind: str) -> list[dict]:
        rows = await self.driver.rows("SELECT data FROM case_events WHERE case_id = :c AND kind = :k ORDER BY seq",
                                      c=case_id, k=kind)
        return [r["data"] for r in rows]


@pytest_asyncio.fixture
async def stack(env, engine, config_dir, request, tmp_path) -> AsyncIterator[Stack]:
    # a policy whose schedule sends links: only workers with a secret to sign them may load it
    config_dir = Path(shutil.copytree(config_dir, tmp_path / "config"))
    shutil.copy(Path(__file__).parent / "policies" / "links" / "self-service.yaml", config_dir / "policies")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with MailCatcher() as mail:
        ss = SelfServiceSettings(secret="self-service-secret-" + "y" * 24, url=f"{base}/s", smtp_host=mail.host,
                                 smtp_port=mail.port, smtp_from="care@lender.example", print_vendor_url=None,
                                 checkout="sandbox")
        queue = f"ss-{uuid.uuid4().hex[:6]}"
        async with build_worker(env.client, engine, SandboxProvider(engine), queue, config_dir, self_service=ss):
            cases = Cases(env.client, queue, Ledger(engine))
            intake = IntakeSettings(token=TOKEN, hmac_secret=None, host="127.0.0.1", port=port, schedule=False)
            replies, page = borrower_channels(cases, intake, ss, Settings(config_dir=config_dir))
            app = create_app(cases, intake, replies=replies, self_service=page)
            server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
            serving = asyncio.create_task(server.serve())
            while not server.started:
                await asyncio.sleep(0.05)
            driver = Driver(env, queue, engine)
            try:
                yield Stack(base, driver, cases, mail)
            finally:
                await driver.close(request.node.name)
                server.should_exit = True
                await asyncio.wait_for(serving, 10)


async def signed_in(http: httpx.AsyncClient, stack: Stack, link: str) -> str:
    """Follow the link, ask for a code, enter it: the verified session's cookie."""
    opened = await http.get(link)
    assert opened.status_code == 303 and "/s/verify" in opened.headers["location"]
    page = await http.get(stack.base + opened.headers["location"])
    sent = await http.post(f"{stack.base}/s/verify/send", data={"csrf": csrf(page.text, "verify/send")})
    assert sent.status_code == 200, sent.text
    page = await http.get(f"{stack.base}/s/verify")
    verified = await http.post(f"{stack.base}/s/verify", data={"csrf": csrf(page.text, 'verify"'),
                                                               "code": await stack.code()})
    assert verified.status_code == 303 and verified.headers["location"].endswith("/s/home")
    return http.cookies["dc_session"]


def csrf(html: str, action: str) -> str:
    """The CSRF field of the form whose action ends with `action`."""
    form = html[html.index(action):]
    return re.search(r'name="csrf" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]


# --- the page in a browser, both locales --------------------------------------------------------------


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (.ci/run installs it)")
@pytest.mark.parametrize(("country", "locale", "done"), [("CN", "zh-CN", "已完成"), ("US", "en", "Done")])
async def test_a_borrower_walks_from_the_sms_link_to_a_promise_a_plan_and_an_opt_out(stack, country, locale, done):
    from playwright.async_api import async_playwright

    case, handle = await stack.open_case(country=country)
    link = await stack.link(case.case_id)
    assert case.case_id not in link and case.borrower.name not in link  # nothing personal in the URL
    SHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        page = await browser.new_page(viewport={"width": 412, "height": 915}, locale=locale)
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        await page.goto(link)
        assert page.url.endswith("/s/verify?lang=" + locale)
        line = "12356" if country == "CN" else "988"  # the case's crisis line, before the code too
        assert [line in text for text in await page.locator(".crisis").all_inner_texts()] == [True]
        await page.locator("form[action$='/verify/send'] button").click()
        await page.locator(".notice").wait_for(timeout=5000)  # "we sent a code to *** 8050"
        await page.locator("#code").fill(await stack.code())
        await page.screenshot(path=str(SHOTS / f"self-service-code-{locale}.png"), full_page=True)
        await page.locator("form[action$='/verify'] button").click()
        await page.wait_for_url("**/s/home")
        crisis = page.locator(".crisis")
        assert line in await crisis.inner_text()  # on every page
        t = STRINGS[locale]  # the next step in the borrower's words and language, not the operators' step
        assert await page.locator("#next p").first.inner_text() == t["next_reminders"]
        await page.screenshot(path=str(SHOTS / f"self-service-home-{locale}.png"), full_page=True)

        status = await stack.driver.status(handle)
        promise_day = (status.statement.as_of if status.statement else date.today()) + timedelta(days=7)
        await page.locator("#options details").nth(1).locator("summary").click()
        await page.locator("#promise-amount").fill("500.00")
        await page.locator("#promise-date").fill(promise_day.isoformat())
        await page.locator("form[action$='/act/promise'] button").click()
        await page.wait_for_url("**/s/home?done=promise")
        assert done in await page.locator(".notice").inner_text()

        await page.locator("#options details").nth(2).locator("summary").click()
        await page.locator("form[action$='/act/plan'] button").click()
        await page.wait_for_url("**/s/home?done=plan")
        plan = (await stack.driver.status(handle)).plan
        assert plan is not None
        first = plan.instalments[0]
        assert t["next_instalment"].format(n=1, of=3, amount=first.amount, currency=case.loan.currency,
                                           date=first.due_date.isoformat()) in await page.locator("#next").inner_text()

        await page.locator("#options details").last.locator("summary").click()
        await page.locator("#stop-channel").select_option("sms")
        await page.locator("form[action$='/act/stop'] button").click()
        await page.wait_for_url("**/s/home?done=stop")
        await page.screenshot(path=str(SHOTS / f"self-service-done-{locale}.png"), full_page=True)
        assert not errors, errors  # the strict CSP refused nothing the page needs
        await browser.close()

    status = await stack.driver.status(handle)
    assert status.plan is not None and len(status.plan.instalments) == 3
    assert "cease:sms" in status.flags
    actions = await stack.journal(case.case_id, "self_service")
    assert [a["action"] for a in actions] == ["promise", "plan", "stop"]
    assert {a["channel"] for a in actions} == {"self_service"}
    if country == "US":  # a validation notice in writing first: the sandbox vendor keeps its PDF
        rows = await stack.driver.rows("SELECT document FROM sandbox_messages WHERE channel = 'letter' AND "
                                       "position(:cid in idempotency_key) > 0", cid=case.case_id)
        pdf_text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(rows[0]["document"])).pages)
        assert "dispute" in pdf_text and case.borrower.name in pdf_text and "2400" in pdf_text


def test_the_next_step_says_what_the_borrower_can_expect_and_never_the_operators_step():
    status = CaseStatus.model_validate(STATUS)
    now = datetime(2026, 12, 1, tzinfo=UTC)
    for t in STRINGS.values():
        steps = functools.partial(lambda t, **changes: next_steps(status.model_copy(update=changes), t), t)
        assert steps() == [t["next_reminders"]]
        assert steps(flags=["dispute", "complaint"]) == [t["next_dispute"]]  # nothing else while disputed
        assert steps(flags=["moratorium"]) == steps(stage=Stage.WELLBEING_HOLD) == [t["next_paused"]]
        assert steps(balance=Decimal(0)) == steps(stage=Stage.SETTLED) == [t["next_done"]]
        review = PendingApproval(approval_id="a1", kind=ApprovalKind.HARDSHIP_PLAN, requested_at=now, summary="x")
        promise = PromiseToPay(promise_id="p1", amount=Decimal("300.00"), due_date=date(2026, 12, 8), deadline=now,
                               paid_at_start=Decimal(0), taken_by="self_service")
        assert steps(flags=["complaint"], pending_approvals=[review], pending_promise=promise) == [
            t["next_complaint"], t["next_review"],
            t["promise_open"].format(amount="300.00", currency="CNY", date="2026-12-08")]
        assert all("Robot" not in line for line in steps(pending_promise=promise))


async def test_pay_goes_through_the_checkout_and_arrives_by_the_payments_webhook(stack):
    case, handle = await stack.open_case(balance="900.00")
    async with httpx.AsyncClient() as borrower:
        await signed_in(borrower, stack, await stack.link(case.case_id))
        home = await borrower.get(f"{stack.base}/s/home")
        assert 'action="/s/act/pay"' in home.text
        bad = await borrower.post(f"{stack.base}/s/act/pay", data={"csrf": csrf(home.text, "/act/pay"), "amount": "x"})
        assert bad.status_code == 422  # a clear error, nothing started
        started = await borrower.post(f"{stack.base}/s/act/pay", data={"csrf": csrf(home.text, "/act/pay"),
                                                                        "amount": "250.00"})
        checkout = started.headers["location"]
        assert started.status_code == 303 and checkout.startswith(f"{stack.base}/s/checkout/")
        page = await borrower.get(checkout)
        assert page.status_code == 200 and "250.00" in page.text
        async with httpx.AsyncClient() as stranger:  # another's checkout opens nothing without the session
            assert (await stranger.get(checkout)).status_code == 403
        paid = await borrower.post(checkout, data={"csrf": csrf(page.text, "/checkout/")})
        assert paid.status_code == 303 and paid.headers["location"].endswith("/s/home?done=pay")
        again = await borrower.post(checkout, data={"csrf": csrf(page.text, "/checkout/")})
        assert again.status_code == 403  # a checkout pays once
    status = await stack.driver.until(handle, lambda s: s.total_paid > 0, what="the payment")
    assert status.total_paid == Decimal("250.00") and status.balance == Decimal("650.00")


async def test_a_link_sends_a_few_codes_a_day_however_many_sessions_open_it_and_a_closed_case_none(stack):
    case, handle = await stack.open_case()
    link = await stack.link(case.case_id)
    for _ in range(3):  # the borrower signs in three times: a code each
        async with httpx.AsyncClient() as borrower:
            await signed_in(borrower, stack, link)
    answers = []
    for _ in range(2):  # then two sessions, each asking for three codes: two more go, then none
        async with httpx.AsyncClient() as flooder:
            opened = await flooder.get(link)
            page = await flooder.get(stack.base + opened.headers["location"])
            for _ in range(3):
                sent = await flooder.post(f"{stack.base}/s/verify/send", data={"csrf": csrf(page.text, "verify/send")})
                answers.append(sent.status_code)
    assert answers == [200, 200, 429, 429, 429, 429]
    codes = await stack.driver.rows("SELECT count(*) AS n FROM sandbox_messages m JOIN self_service_sessions s ON "
                                    "m.idempotency_key LIKE 'self-service-code:' || left(s.session_digest, 12) || "
                                    "':%' WHERE s.case_id = :c", c=case.case_id)
    assert codes[0]["n"] == 5
    # the borrower was right: the case is withdrawn, and its link opens nothing any more
    await stack.cases.open_dispute(case.case_id, DisputeRequest(reason="not my loan", written=True))
    await stack.cases.resolve_dispute(case.case_id, DisputeResolution(upheld=True, note="identity theft",
                                                                      decided_by="ops-1"))
    assert (await stack.driver.until(handle, lambda s: s.stage.terminal, what="withdrawn")).stage is Stage.WITHDRAWN
    async with httpx.AsyncClient() as late:
        assert (await late.get(link)).status_code == 404
    revoked = await stack.driver.rows("SELECT revoked_at FROM self_service_links WHERE case_id = :c", c=case.case_id)
    assert revoked and all(r["revoked_at"] is not None for r in revoked)


async def test_the_page_shows_the_preferences_in_force_and_a_change_to_one_keeps_the_rest(stack):
    case, handle = await stack.open_case()
    await stack.cases.set_contact_preferences(case.case_id, ContactPreferences(  # as an agent recorded them
        window=Window(start=time(9), end=time(18)), quiet_weekdays=[6], no_home_visits=True, recorded_by="agent-7"))
    async with httpx.AsyncClient() as borrower:
        await signed_in(borrower, stack, await stack.link(case.case_id))
        home = await borrower.get(f"{stack.base}/s/home")
        assert 'name="window_start" type="time" value="09:00"' in home.text
        assert 'name="window_end" type="time" value="18:00"' in home.text
        changed = await borrower.post(f"{stack.base}/s/act/preferences", data={
            "csrf": csrf(home.text, "/act/preferences"), "window_start": "09:00", "window_end": "18:00",
            "medium": "sms", "locale": "en"})  # the borrower changes only the medium
        assert changed.status_code == 303
        home = await borrower.get(f"{stack.base}/s/home")
        assert '<option value="sms" selected>' in home.text
    prefs = (await stack.driver.status(handle)).preferences
    assert prefs is not None
    assert (prefs.window, prefs.quiet_weekdays, prefs.no_home_visits, prefs.medium) == (
        Window(start=time(9), end=time(18)), [6], True, "sms")


async def test_a_letter_of_the_schedule_carries_the_link_and_its_code_goes_to_the_borrowers_mobile(stack):
    case, handle = await stack.open_case()
    await stack.driver.until(handle, lambda s: s.contact_counts.get("letter", 0) >= 1, what="the letter")
    rows = await stack.driver.rows("SELECT document FROM sandbox_messages WHERE channel = 'letter' AND "
                                   "position(:cid in idempotency_key) > 0", cid=case.case_id)
    assert len(rows) == 1  # the letter of the schedule (a CN case needs no statutory notice yet)
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(rows[0]["document"])).pages)
    assert case.borrower.name in text and "在线查看您的账户" in text  # the zh-CN borrower's letter, with its title
    assert "Example Lending" in text and "Example Care" in text  # the case's policy's sender, inside and outside
    found = re.search(r"https?://\S+?/s/l/[A-Za-z0-9_-]{43}", re.sub(r"\s+", "", text))
    assert found, text
    async with httpx.AsyncClient() as borrower:
        await signed_in(borrower, stack, found.group(0))  # the code came by SMS: `stack.code` reads the SMS
        assert (await borrower.get(f"{stack.base}/s/home")).status_code == 200
    [code] = await stack.driver.rows("SELECT channel, to_masked FROM sandbox_messages WHERE idempotency_key LIKE "
                                     "'self-service-code:%' ORDER BY id DESC LIMIT 1")
    assert code["channel"] == "sms" and code["to_masked"].endswith(case.borrower.mobile_numbers[0][-4:])
    [attempt] = [a for a in await stack.journal(case.case_id, "contact_attempt") if a["channel"] == "letter"]
    assert attempt["step"] is not None and attempt["guard_rule"] == "ok"  # a step, judged as any message


async def test_a_link_whose_number_a_stranger_answered_opens_nothing(stack):
    case, handle = await stack.open_case()
    link = await stack.link(case.case_id)
    signed = httpx.AsyncClient()  # whoever holds the phone signed in before anyone knew
    await signed_in(signed, stack, link)
    async with httpx.AsyncClient() as early:  # opened before anyone knew: the code is refused once they do
        opened = await early.get(link)
        page = await early.get(stack.base + opened.headers["location"])
        status = await stack.driver.status(handle)
        [sms] = [a for a in status.last_contacts if a.channel.value == "sms"]
        await stack.cases.receipt(case.case_id, DeliveryReceipt(attempt_key=sms.key, outcome=Outcome.WRONG_PARTY))
        for _ in range(100):  # the journal is written with the case's next ledger write
            if await stack.journal(case.case_id, "wrong_number"):
                break
            await asyncio.sleep(0.05)
        sent = await early.post(f"{stack.base}/s/verify/send", data={"csrf": csrf(page.text, "verify/send")})
        assert sent.status_code == 403
    assert (await signed.get(f"{stack.base}/s/home")).status_code == 403  # signed in, and now out: not theirs
    await signed.aclose()
    async with httpx.AsyncClient() as later:
        assert (await later.get(link)).status_code == 404


def test_a_number_given_on_the_page_is_added_before_those_on_file_and_none_is_lost():
    on_file = ["+8613800138050", "+8613900139050"]
    assert numbers_with(on_file, ["13700137050"], "CN") == ["13700137050", *on_file]
    assert numbers_with(on_file, ["139 0013 9050"], "CN") == ["+8613900139050", "+8613800138050"]  # as filed
    full = [f"+86138001380{n:02d}" for n in range(5)]
    with pytest.raises(ValueError, match="5 numbers are on file already"):
        numbers_with(full, ["13700137050"], "CN")
    assert numbers_with(full, [full[3]], "CN") == [full[3], *full[:3], full[4]]


def test_a_links_token_never_reaches_the_access_log(caplog):
    import logging

    hide_link_tokens()
    token = "lDrCEpVaa0sJl8u1VijQi4QS5Oxp9DwvBHT2YJnPLXo"
    with caplog.at_level(logging.INFO, logger="uvicorn.access"):  # as uvicorn's access logger writes a request
        logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", f"/s/l/{token}",
                                                 "1.1", 303)
    [record] = caplog.records
    assert token not in record.getMessage() and "/s/l/…" in record.getMessage()


def test_the_sandbox_checkout_is_only_where_named_and_never_on_https():
    assert not SelfServiceSettings(secret=None, checkout=None).sandbox_checkout()
    assert SelfServiceSettings(secret=None, checkout="sandbox", url="http://127.0.0.1:8090/s").sandbox_checkout()
    with pytest.raises(SystemExit, match="HTTPS"):
        SelfServiceSettings(secret=None, checkout="sandbox", url="https://pay.lender.example/s").sandbox_checkout()
    with pytest.raises(SystemExit, match="only checkout"):
        SelfServiceSettings(secret=None, checkout="stripe").sandbox_checkout()
    shown = overview(CaseStatus.model_validate(STATUS), "en", can_pay=False)  # no checkout: no "Pay now"
    assert shown["pay_elsewhere"] and not shown["can_pay"]


# --- the token attacks ------------------------------------------------------------------------------


async def test_replayed_expired_forged_and_other_cases_tokens_are_refused(stack):
    case_a, _ = await stack.open_case(balance="1111.00")
    case_b, handle_b = await stack.open_case(balance="2222.00")
    link_a, link_b = await stack.link(case_a.case_id), await stack.link(case_b.case_id)
    async with httpx.AsyncClient() as attacker:
        forged = link_a[:-6] + ("AAAAAA" if not link_a.endswith("AAAAAA") else "BBBBBB")
        for bad in (forged, f"{stack.base}/s/l/short", f"{stack.base}/s/l/{'A' * 43}"):
            answer = await attacker.get(bad)
            assert answer.status_code == 404 and "dc_session" not in answer.cookies
            assert all(n in answer.text for n in ("12356", "988", "116 123"))  # no case known: every pack's line
            assert answer.headers["content-security-policy"].startswith("default-src 'none'")
        assert (await attacker.get(f"{stack.base}/s/home")).status_code == 403  # no session, nothing shown

    async with httpx.AsyncClient() as borrower_b:
        opened = await borrower_b.get(link_b)
        unverified = borrower_b.cookies["dc_session"]
        cookie_b = await signed_in(borrower_b, stack, link_b)
        home = await borrower_b.get(f"{stack.base}/s/home")
        assert home.status_code == 200 and "2222.00" in home.text and "1111.00" not in home.text
        assert "Secure" not in home.headers.get("set-cookie", "")  # plain HTTP in tests; HTTPS sets __Host-
        # the pre-verification cookie is spent: the verified session has a new id
        async with httpx.AsyncClient(cookies={"dc_session": unverified}) as replay:
            assert (await replay.get(f"{stack.base}/s/home")).status_code == 403
        # a form token from another session, a missing one, and a cross-site post all fail
        async with httpx.AsyncClient() as borrower_a:
            await signed_in(borrower_a, stack, link_a)
            home_a = await borrower_a.get(f"{stack.base}/s/home")
            stolen = csrf(home_a.text, "/act/talk_to_person")
        refused = await borrower_b.post(f"{stack.base}/s/act/talk_to_person", data={"csrf": stolen})
        assert refused.status_code == 403
        assert (await borrower_b.post(f"{stack.base}/s/act/talk_to_person", data={})).status_code == 403
        cross = await borrower_b.post(f"{stack.base}/s/act/talk_to_person", data={"csrf": stolen},
                                      headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
        assert cross.status_code == 403
        # signed out, the cookie opens nothing
        home = await borrower_b.get(f"{stack.base}/s/home")
        await borrower_b.post(f"{stack.base}/s/signout", data={"csrf": csrf(home.text, "/signout")})
        async with httpx.AsyncClient(cookies={"dc_session": cookie_b}) as replay:
            assert (await replay.get(f"{stack.base}/s/home")).status_code == 403
    assert opened.status_code == 303
    assert not await stack.journal(case_b.case_id, "self_service")  # none of the refused posts reached the case

    # expired: the same link a moment after its life ends
    async with stack.driver.engine.begin() as conn:
        await conn.execute(text("UPDATE self_service_links SET expires_at = now() - interval '1 second' "
                                "WHERE case_id = :c"), {"c": case_a.case_id})
    async with httpx.AsyncClient() as late:
        assert (await late.get(link_a)).status_code == 404

    # ten wrong codes lock the link for a day and ask the care team to call
    for _ in range(4):
        async with httpx.AsyncClient() as guesser:
            opened = await guesser.get(link_b)
            if opened.status_code == 404:
                break
            page = await guesser.get(stack.base + opened.headers["location"])
            await guesser.post(f"{stack.base}/s/verify/send", data={"csrf": csrf(page.text, "verify/send")})
            for _ in range(5):
                page = await guesser.get(f"{stack.base}/s/verify")
                if page.status_code != 200:
                    break
                await guesser.post(f"{stack.base}/s/verify", data={"csrf": csrf(page.text, 'verify"'),
                                                                   "code": "000000"})
    async with httpx.AsyncClient() as owner:
        assert (await owner.get(link_b)).status_code == 404  # locked, even for the borrower: a person calls
    status = await stack.driver.status(handle_b)
    assert status.desk is not None and any(t.kind.value == "talk_to_person" for t in status.desk.tasks)


# --- inbound replies and e-mail -----------------------------------------------------------------------


async def test_an_inbound_stop_ceases_sms_and_other_text_becomes_a_task_and_email_goes_by_smtp(stack):
    case, handle = await stack.open_case(email="borrower@example.com")
    await stack.driver.until(handle, lambda s: s.contact_counts.get("email", 0) >= 1, what="the e-mail step")
    mail = (await stack.mail.wait_for_async(1))[0]
    assert list(mail.rcpt_tos) == ["borrower@example.com"] and "Example Lending" in (mail.text or "")
    assert mail.message["From"].addresses[0].display_name == "Example Lending"  # the case's policy's sender
    assert mail.html and "<html" in mail.html.lower()

    async def reply(message_id: str, body: str) -> dict:
        answer = await httpx.AsyncClient().post(f"{stack.base}/webhooks/replies", json={
            "provider": "sandbox", "message_id": message_id, "channel": "sms", "from": synthetic.ANSWERS,
            "text": body, "received_at": datetime.now(UTC).isoformat()}, headers={"Authorization": f"Bearer {TOKEN}"})
        assert answer.status_code == 200, answer.text
        return answer.json()

    assert (await reply("in-1", "我下周发工资后还，可以吗？"))["action"] == "task"
    status = await stack.driver.status(handle)
    assert "cease:sms" not in status.flags
    assert status.desk is not None and any(t.kind.value == "borrower_message" for t in status.desk.tasks)
    sealed: list[dict] = []
    for _ in range(100):  # the case writes its journal with its next ledger write
        sealed = await stack.journal(case.case_id, "borrower_replied")
        if sealed:
            break
        await asyncio.sleep(0.1)
    assert sealed and "下周" not in str(sealed[0]["text"])  # encrypted at rest under the case's key

    assert (await reply("in-2", " 退订 "))["action"] == "stop"
    assert (await reply("in-2", " 退订 "))["action"] == "stop"  # delivered twice: acted on once
    status = await stack.driver.until(handle, lambda s: "cease:sms" in s.flags, what="SMS ceased", max_steps=5)
    assert "cease:email" not in status.flags
