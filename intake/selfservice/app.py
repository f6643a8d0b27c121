"""The borrower's self-service page: server-rendered, mobile first, no scripts, in the borrower's language.

    GET  /l/{token}        a link from an SMS, e-mail or letter: opens a session, then asks who you are
    GET  /verify           send a one-time code, enter it
    GET  /home             balance, statement, next step, the options the policy allows, the crisis line
    POST /act/{kind}       promise, plan, hardship, dispute, complaint, preferences, contact_data, stop,
                           talk_to_person, pay: each through the case's own `self_service` update
    GET  /checkout/{id}    the sandbox payment page (the lender's payment page in production)

Every POST carries a CSRF token bound to the session and the form (itsdangerous, signed and dated) and must
come from this origin; every answer carries a strict Content-Security-Policy, no-referrer and no-store; the
session cookie is HttpOnly, SameSite=Strict and (over HTTPS) Secure with the `__Host-` prefix. Nothing
personal is logged: the access log shows no token (it leaves the URL at once) and no form field.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from datetime import date
from decimal import ROUND_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml
from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from itsdangerous import BadSignature, URLSafeTimedSerializer
from pydantic import ValidationError

from adapters.config_files import CONFIG_DIR, ConfigError, load_policy, load_rule_pack
from adapters.payments import Checkout, CheckoutRefused
from adapters.self_service import Session
from domain.enums import HoldKind, InstalmentStatus, PlanStatus, Stage
from domain.errors import explain
from domain.policy import CrisisLine
from domain.self_service import SelfServiceRequest
from domain.status import BorrowerPreferences, CaseStatus
from service.cases import CaseServiceError, UpdateRejected
from service.self_service import Portal, PortalRefused

HERE = Path(__file__).resolve().parent
STRINGS: dict[str, dict[str, Any]] = yaml.safe_load((HERE / "strings.yaml").read_text(encoding="utf-8"))
LANGUAGES = [(code, STRINGS[code]["lang_name"]) for code in STRINGS]
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")
HEADERS = {"Content-Security-Policy": CSP, "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff",
           "X-Frame-Options": "DENY", "Cache-Control": "no-store", "Permissions-Policy": "interest-cohort=()"}
FORMS = ("promise", "plan", "hardship", "dispute", "complaint", "preferences", "contact_data", "stop",
         "talk_to_person", "pay")
LINK_PATH = re.compile(r"(/l/)[A-Za-z0-9_-]+")  # a link's token: a credential, never in a log or a trace
log = logging.getLogger(__name__)


class HideLinkTokens(logging.Filter):
    """The HTTP server's access log names each request's path; a link's token is shown as `…`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(LINK_PATH.sub(r"\1…", a) if isinstance(a, str) else a for a in record.args)
        return True


def hide_link_tokens() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, HideLinkTokens) for f in access.filters):
        access.addFilter(HideLinkTokens())


def locale_of(request: Request, fallback: str) -> str:
    chosen = request.query_params.get("lang") or request.cookies.get("dc_lang") or fallback
    return chosen if chosen in STRINGS else ("zh-CN" if chosen.startswith("zh") else "en")


def create_app(portal: Portal, checkout: Checkout | None, secret: bytes, secure_cookies: bool = True,
               root: str = "/s", config_dir: Path = CONFIG_DIR) -> FastAPI:
    """The page, mounted at `root` of the HTTP service. `secure_cookies` off only for plain-HTTP tests."""
    app = FastAPI(title="DueCourse self-service", docs_url=None, redoc_url=None, openapi_url=None)
    hide_link_tokens()
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    pages = Jinja2Templates(directory=HERE / "templates")
    forms = URLSafeTimedSerializer(secret, salt="duecourse-self-service-form")
    cookie_name = "__Host-dc_session" if secure_cookies else "dc_session"
    life = int(portal.security.session_life.total_seconds())

    @app.middleware("http")
    async def guarded(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if request.method == "POST" and not same_origin(request):
            response: Response = HTMLResponse("cross-site request refused", status_code=403)
        else:
            response = await call_next(request)
        response.headers.update(HEADERS)
        return response

    def same_origin(request: Request) -> bool:
        """The browser's word (Sec-Fetch-Site) where it gives one; else the Origin. With no-referrer a
        browser sends `Origin: null` even from this page, so the fetch metadata decides first."""
        site = request.headers.get("sec-fetch-site")
        if site is not None:
            return site in ("same-origin", "none")
        origin = request.headers.get("origin")
        return origin is None or origin == f"{request.url.scheme}://{request.url.netloc}"

    every_crisis_line = list({pack.crisis_line.number: pack.crisis_line for pack in (
        load_rule_pack(f.stem, config_dir) for f in sorted((config_dir / "rulepacks").glob("*.yaml")))}.values())

    def lines_of(packs: list[str]) -> list[CrisisLine]:
        return [load_rule_pack(packs[0].split("@")[0], config_dir).crisis_line] if packs else every_crisis_line

    async def crisis_lines(session: Session | None) -> list[CrisisLine]:
        """The case's own packs' line once the page knows the case (even before the code); else every pack's."""
        return lines_of(await portal.rule_packs(session) if session is not None else [])

    async def render(request: Request, page: str, locale: str, session: Session | None = None, status: int = 200,
                     **values: Any) -> HTMLResponse:
        def csrf(form: str) -> str:
            return forms.dumps([session.ref if session else "", form])
        response = pages.TemplateResponse(request, page, {
            "t": STRINGS[locale], "locale": locale, "languages": LANGUAGES, "root": root, "csrf": csrf,
            **values, "crisis_lines": values.get("crisis_lines") or await crisis_lines(session),
        }, status_code=status)
        if "lang" in request.query_params:
            response.set_cookie("dc_lang", locale, httponly=True, samesite="strict", secure=secure_cookies, path="/")
        return response

    async def refused(request: Request, e: PortalRefused) -> HTMLResponse:
        locale = locale_of(request, "en")
        key = e.reason if e.reason in STRINGS[locale] else "session_refused"
        message = STRINGS[locale][key]
        if e.reason == "session":
            message = STRINGS[locale]["session_refused"]
        elif e.reason == "link":
            message = STRINGS[locale]["link_refused"]
        page = await render(request, "message.html", locale, status=404 if e.reason == "link" else 403, message=message)
        page.delete_cookie(cookie_name, path="/")
        return page

    def shown(status: CaseStatus, locale: str) -> dict[str, Any]:
        return overview(status, locale, config_dir, can_pay=checkout is not None) | {
            "crisis_lines": lines_of(status.rule_packs)}  # the case is read already: not again for its line

    def checked(session: Session, form: str, token: str) -> bool:
        try:
            ref, name = forms.loads(token, max_age=life)
        except (BadSignature, ValueError):
            return False
        return bool(ref == session.ref and name == form)

    @app.exception_handler(PortalRefused)
    async def on_refused(request: Request, e: PortalRefused) -> HTMLResponse:
        return await refused(request, e)

    # --- getting in ------------------------------------------------------------------------------

    @app.get("/l/{token}")
    async def open_link(request: Request, token: str) -> Response:
        cookie, link = await portal.open(token)
        response = RedirectResponse(f"{root}/verify?lang={locale_of(request, link.locale)}", status_code=303)
        response.set_cookie(cookie_name, cookie, httponly=True, samesite="strict", secure=secure_cookies, path="/")
        return response

    @app.get("/verify")
    async def verify_page(request: Request, sent: str = "") -> HTMLResponse:
        session = await portal.session(request.cookies.get(cookie_name), verified=False)
        locale = locale_of(request, "en")
        notice = STRINGS[locale]["code_sent"].format(where=sent) if sent else None
        return await render(request, "verify.html", locale, session, where=sent or "…", notice=notice)

    @app.post("/verify/send")
    async def send_code(request: Request, csrf: str = Form("")) -> Response:
        session = await portal.session(request.cookies.get(cookie_name), verified=False)
        locale = locale_of(request, "en")
        if not checked(session, "send_code", csrf):
            return await render(request, "verify.html", locale, session, status=403, where="…",
                                error=STRINGS[locale]["forged"])
        try:
            where = await portal.send_code(session, locale)
        except PortalRefused as e:
            if e.reason not in ("too_many_codes", "no_destination"):
                raise  # the session or its link no longer holds: the refusal page
            return await render(request, "verify.html", locale, session, status=429, where="…",
                                error=STRINGS[locale][e.reason])
        return await render(request, "verify.html", locale, session, where=where,
                            notice=STRINGS[locale]["code_sent"].format(where=where))

    @app.post("/verify")
    async def verify(request: Request, code: str = Form(""), csrf: str = Form("")) -> Response:
        session = await portal.session(request.cookies.get(cookie_name), verified=False)
        locale = locale_of(request, "en")
        if not checked(session, "verify", csrf):
            return await render(request, "verify.html", locale, session, status=403, where="…",
                                error=STRINGS[locale]["forged"])
        try:
            verified = await portal.verify(session, code)
        except PortalRefused as e:
            if e.reason in ("locked", "session"):
                raise
            error = STRINGS[locale][e.reason].format(left=e.detail)
            return await render(request, "verify.html", locale, session, status=403, where="…", error=error)
        response = RedirectResponse(f"{root}/home", status_code=303)
        response.set_cookie(cookie_name, verified.cookie, httponly=True, samesite="strict", secure=secure_cookies,
                            path="/")
        return response

    @app.post("/signout")
    async def sign_out(request: Request, csrf: str = Form("")) -> Response:
        session = await portal.session(request.cookies.get(cookie_name))
        if checked(session, "signout", csrf):
            await portal.sign_out(session)
        response = RedirectResponse(f"{root}/bye", status_code=303)
        response.delete_cookie(cookie_name, path="/")
        return response

    @app.get("/bye")
    async def bye(request: Request) -> HTMLResponse:
        locale = locale_of(request, "en")
        return await render(request, "message.html", locale, message=STRINGS[locale]["session_refused"])

    # --- the case --------------------------------------------------------------------------------

    @app.get("/home")
    async def home(request: Request, done: str = "") -> HTMLResponse:
        session = await portal.session(request.cookies.get(cookie_name))
        status = await portal.view(session)
        locale = locale_of(request, status.statement.locale if status.statement else "en")
        return await render(request, "home.html", locale, session, **shown(status, locale),
                            notice=STRINGS[locale]["done"] if done else None)

    @app.post("/act/{kind}")
    async def act(request: Request, kind: str) -> Response:
        session = await portal.session(request.cookies.get(cookie_name))
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        status = await portal.view(session)
        locale = locale_of(request, status.statement.locale if status.statement else "en")
        t = STRINGS[locale]
        if kind not in FORMS or not checked(session, kind, form.get("csrf", "")):
            return await render(request, "home.html", locale, session, status=403, error=t["forged"],
                                **shown(status, locale))
        try:
            if kind == "pay":
                if checkout is None:
                    raise ValueError(t["pay_elsewhere"])
                amount = Decimal(form.get("amount", "").strip())
                url = await checkout.start(session.case_id, amount, status.currency, f"{root}/home?done=pay")
                return RedirectResponse(url, status_code=303)
            await portal.act(session, borrower_request(kind, form, locale, status.preferences))
        except (ValidationError, InvalidOperation, ValueError) as e:
            reason = explain(e) if isinstance(e, ValidationError) else str(e) or "invalid input"
            return await render(request, "home.html", locale, session, status=422,
                                error=t["refused"].format(reason=reason), **shown(status, locale))
        except UpdateRejected as e:
            return await render(request, "home.html", locale, session, status=409,
                                error=t["refused"].format(reason=e.reason), **shown(status, locale))
        except CaseServiceError as e:
            log.warning("self-service action failed", extra={"session": session.ref, "kind": kind,
                                                                "error": type(e).__name__})
            return await render(request, "home.html", locale, session, status=503,
                                error=t["refused"].format(reason=t["talk"]), **shown(status, locale))
        return RedirectResponse(f"{root}/home?done={kind}", status_code=303)

    # --- the sandbox checkout (a payment provider's page, for demos and tests) -------------------

    @app.get("/checkout/{checkout_id}")
    async def checkout_page(request: Request, checkout_id: str) -> HTMLResponse:
        session = await portal.session(request.cookies.get(cookie_name))
        pending = checkout.pending(checkout_id) if checkout else None
        if pending is None or pending.case_id != session.case_id:
            raise PortalRefused("session")
        locale = locale_of(request, "en")
        return await render(request, "checkout.html", locale, session, checkout_id=checkout_id, amount=pending.amount,
                            currency=pending.currency)

    @app.post("/checkout/{checkout_id}")
    async def checkout_pay(request: Request, checkout_id: str, csrf: str = Form("")) -> Response:
        session = await portal.session(request.cookies.get(cookie_name))
        pending = checkout.pending(checkout_id) if checkout else None
        if checkout is None or pending is None or pending.case_id != session.case_id or \
                not checked(session, "checkout", csrf):
            raise PortalRefused("session")
        try:
            await checkout.complete(checkout_id)
        except CheckoutRefused as e:
            status = await portal.view(session)
            locale = locale_of(request, status.statement.locale if status.statement else "en")
            return await render(request, "home.html", locale, session, status=409, **shown(status, locale),
                                error=STRINGS[locale]["refused"].format(reason=str(e)))
        return RedirectResponse(pending.return_to, status_code=303)

    return app


def overview(status: CaseStatus, locale: str, config_dir: Path = CONFIG_DIR, can_pay: bool = True) -> dict[str, Any]:
    """What the home page shows of the case."""
    statement = status.statement
    today = statement.as_of if statement else date.today()
    stopped = [STRINGS[locale]["channels"].get(f.split(":", 1)[1], f) for f in status.flags if f.startswith("cease:")]
    try:
        offered = load_policy(status.policy.split("@")[0], config_dir).self_service.plan_instalments
    except ConfigError:  # a policy this service cannot read: the case's validator still decides
        offered = []
    cent = Decimal(1).scaleb(-2)
    prefs = status.preferences  # shown as they are, so a change to one keeps the others
    window = prefs.window if prefs else None
    plans = [(n, (status.balance / n).quantize(cent, rounding=ROUND_UP)) for n in offered]
    return {
        "balance": f"{status.balance} {status.currency}", "currency": status.currency, "as_of": today.isoformat(),
        "lines": statement.lines if statement else [],
        "next_steps": next_steps(status, STRINGS[locale]),
        "stopped": ", ".join(stopped), "can_pay": status.balance > 0 and can_pay,
        "pay_elsewhere": status.balance > 0 and not can_pay, "pay_amount": status.balance,
        "today": today.isoformat(), "latest_promise": date.fromordinal(today.toordinal() + 30).isoformat(),
        "plans": plans, "window_start": f"{window.start:%H:%M}" if window else "",
        "window_end": f"{window.end:%H:%M}" if window else "", "medium": prefs.medium if prefs else None,
    }


def next_steps(status: CaseStatus, t: dict[str, Any]) -> list[str]:
    """What happens next, in the borrower's words. The case's own `next_action` is the operators' (robot
    calls, approvals, visits) and in English; the borrower learns what they can expect and what they owe when."""
    flags = set(status.flags)
    if status.balance <= 0 or status.stage.terminal:
        return [t["next_done"]]
    if HoldKind.DISPUTE.value in flags:
        return [t["next_dispute"]]
    held = {HoldKind.PAUSE.value, HoldKind.CAPACITY.value, HoldKind.MORATORIUM.value} & flags
    if held or status.stage is Stage.WELLBEING_HOLD:
        return [t["next_paused"]]
    out = [t["next_complaint"]] if HoldKind.COMPLAINT.value in flags else []
    if status.pending_approvals:
        out.append(t["next_review"])
    if status.plan is not None and status.plan.status is PlanStatus.ACTIVE:
        due = next((i for i in status.plan.instalments if i.status is InstalmentStatus.DUE), None)
        if due is not None:
            out.append(t["next_instalment"].format(n=due.number, of=len(status.plan.instalments), amount=due.amount,
                                                   currency=status.currency, date=due.due_date.isoformat()))
    if status.pending_promise is not None:
        promise = status.pending_promise
        out.append(t["promise_open"].format(amount=promise.amount, currency=status.currency,
                                            date=promise.due_date.isoformat()))
    return out or [t["next_reminders"]]


def borrower_request(kind: str, form: dict[str, str], locale: str,
                     current: BorrowerPreferences | None = None) -> SelfServiceRequest:
    """The form as the case's own message (validated here by its model, then by the case's validator). What
    the borrower cannot choose is set here: who took a promise, the complaint's channel, a written dispute,
    and the restrictions in force that the page does not show (quiet days, no home visits), which stay."""
    made: dict[str, Any] = {"kind": kind, "session": "-"}
    match kind:
        case "promise":
            made["promise"] = {"amount": form.get("amount", "").strip(), "due_date": form.get("due_date", ""),
                               "taken_by": "self_service"}
        case "plan":
            made["hardship"] = {"reason": form.get("reason", "other"), "requested_instalments": form.get("instalments")}
        case "hardship":
            made["hardship"] = {"reason": form.get("reason", "other"), "details": form.get("details", "")}
        case "dispute":
            made["dispute"] = {"reason": form.get("reason", "").strip(), "written": True}
        case "complaint":
            made["complaint"] = {"category": form.get("category", "other"), "details": form.get("details", "").strip(),
                                 "channel": "self_service"}
        case "preferences":
            start, end = form.get("window_start"), form.get("window_end")
            made["preferences"] = {"window": {"start": start, "end": end} if start and end else None,
                                   "medium": form.get("medium") or None, "locale": form.get("locale") or locale,
                                   "quiet_weekdays": current.quiet_weekdays if current else [],
                                   "no_home_visits": current.no_home_visits if current else False,
                                   "recorded_by": "self_service"}
        case "contact_data":
            mobile, email = form.get("mobile", "").strip(), form.get("email", "").strip()
            made["contact_data"] = {"mobile_numbers": [mobile] if mobile else None, "email": email or None}
        case "stop":
            made["stop"] = {"scope": "channel", "channel": form.get("channel", ""),
                            "reason": "asked on the self-service page"}
    return SelfServiceRequest.model_validate(made)
