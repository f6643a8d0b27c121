"""E-mail as a channel: templates per locale rendered as plain text and HTML, sent by the SMTP provider
through a real SMTP server (aiosmtpd, `testkit.smtp.MailCatcher`), and the checks the templates pass."""

from __future__ import annotations

import shutil
import traceback
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from temporalio.api.failure.v1 import Failure
from temporalio.converter import DataConverter, DefaultFailureConverter

from adapters.config_files import CONFIG_DIR, load_policy
from adapters.email import EmailTemplates, RenderedEmail
from adapters.providers import OutboundRequest, ProviderError
from adapters.providers.smtp import SmtpProvider, SmtpUnavailable
from adapters.templates import load_content_rules
from domain.enums import Channel, Outcome
from domain.policy import ContactStep
from testkit.servers import free_port
from testkit.smtp import MailCatcher

SENDER = "care@duecourse.example"
TO = "borrower.one@example.org"
VARIABLES = {"sender_name": "DueCourse Lending", "sender_number": "400-000-0000", "amount": "1,250.00",
             "currency": "CNY", "due_date": "2026-12-01", "link": "https://pay.duecourse.example/s/Qx7-token"}
OPT_OUT = {"en": "Reply STOP to this e-mail to stop e-mails from us.", "zh-CN": "回复“退订”即可不再接收邮件。"}


@pytest.fixture
def mail():
    with MailCatcher() as catcher:
        yield catcher


@pytest.fixture(scope="module")
def templates() -> EmailTemplates:
    return EmailTemplates()


def provider_for(mail: MailCatcher, **kwargs) -> SmtpProvider:
    return SmtpProvider(mail.host, mail.port, SENDER, sender_name=VARIABLES["sender_name"], **kwargs)


def outbound(email: RenderedEmail, key: str = "P-1:contact:1", to: str = TO, template: str = "reminder_due"):
    return OutboundRequest(idempotency_key=key, channel=Channel.EMAIL, to=to, body=email.text, subject=email.subject,
                           html=email.html, locale=email.locale, template=template)


def no_data_in(error: BaseException, *secrets: str) -> None:
    """Neither the error, nor its traceback as a log prints it (the chained exceptions too), nor what Temporal
    records of it in the history holds the data."""
    failure = Failure()
    DefaultFailureConverter().to_failure(error, DataConverter.default.payload_converter, failure)
    logged = "".join(traceback.format_exception(error))
    for secret in secrets:
        assert secret not in str(error) and secret not in repr(error)
        assert secret not in logged, "the logged traceback carries it"
        assert secret not in str(failure), "the failure recorded in the history carries it"


@pytest.mark.parametrize("locale, subject, words", [
    ("en", "Your payment to DueCourse Lending", "has been overdue since 2026-12-01"),
    ("zh-CN", "关于您在DueCourse Lending的还款", "已于 2026-12-01 逾期"),
])
async def test_an_email_arrives_with_subject_text_html_sender_and_opt_out(mail, templates, locale, subject, words):
    email = templates.render("reminder_due", locale, VARIABLES)
    response = await provider_for(mail).deliver(outbound(email))

    assert response.outcome is Outcome.SENT and response.provider == "smtp"
    [caught] = mail.wait_for(1)
    assert caught.mail_from == SENDER and caught.rcpt_tos == (TO,)
    message = caught.message
    assert message["Subject"] == subject
    if locale == "zh-CN":  # the header itself travels as ASCII, RFC 2047-encoded UTF-8
        raw_subject = next(line for line in caught.raw.split(b"\r\n") if line.startswith(b"Subject:"))
        assert raw_subject.isascii() and b"=?utf-8?" in raw_subject.lower()
    assert message["From"].addresses[0].display_name == "DueCourse Lending"
    assert message["From"].addresses[0].addr_spec == SENDER
    assert message["To"].addresses[0].addr_spec == TO
    assert message["Message-ID"] == response.message_id
    assert message["Content-Language"] == locale
    assert message["List-Unsubscribe"] == f"<mailto:{SENDER}?subject=stop>"
    assert message.get_content_type() == "multipart/alternative"
    text, html = caught.text, caught.html
    assert text is not None and html is not None
    for part in (text, html):
        assert words in part
        assert "1,250.00 CNY" in part and "400-000-0000" in part and "DueCourse Lending" in part
        assert OPT_OUT[locale] in part
    assert f'<html lang="{locale}">' in html and "<p" in html
    assert "<p" not in text


async def test_a_missing_locale_falls_back_to_english_whole(mail, templates):
    email = templates.render("reminder_gentle", "fr", VARIABLES)
    assert email.locale == "en"
    await provider_for(mail).deliver(outbound(email))
    [caught] = mail.wait_for(1)
    assert caught.message["Content-Language"] == "en"
    assert OPT_OUT["en"] in (caught.text or "") and "friendly reminder" in (caught.html or "")


async def test_variables_arrive_escaped_in_html_and_as_written_in_text(mail, templates):
    hostile = {**VARIABLES, "sender_name": 'Lender <script>alert("x")</script>', "amount": "<b>9</b>",
               "link": 'https://pay.example/s/a?b=1&c="><script>'}
    email = templates.render("self_service_link", "en", hostile)
    await provider_for(mail).deliver(outbound(email, template="self_service_link"))
    [caught] = mail.wait_for(1)
    html, text = caught.html or "", caught.text or ""

    assert "<script" not in html and "<b>" not in html
    assert "Lender &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html  # in the body and the footer
    assert "&lt;b&gt;9&lt;/b&gt;" in html
    assert '<a href="https://pay.example/s/a?b=1&amp;c=&#34;&gt;&lt;script&gt;">' in html  # the link: one anchor
    assert 'Lender <script>alert("x")</script>' in text and "<b>9</b>" in text  # plain text is not HTML


def test_only_a_web_address_becomes_a_link(templates):
    web = templates.render("self_service_link", "zh-CN", VARIABLES)
    assert f'<a href="{VARIABLES["link"]}">{VARIABLES["link"]}</a>' in web.html
    assert VARIABLES["link"] in web.text and "短时间后失效" in web.text  # the link expires, in both parts
    script = templates.render("self_service_link", "en", {**VARIABLES, "link": "javascript:alert(1)"})
    assert "javascript:alert(1)" in script.html and "<a href=\"javascript" not in script.html


async def test_the_message_id_follows_the_idempotency_key(mail, templates):
    email = templates.render("hardship_offer", "en", VARIABLES)
    provider = provider_for(mail)
    first = await provider.deliver(outbound(email, key="P-1:contact:7"))
    again = await provider.deliver(outbound(email, key="P-1:contact:7"))
    other = await provider.deliver(outbound(email, key="P-1:contact:8"))

    ids = [m.message["Message-ID"] for m in mail.wait_for(3)]
    assert ids == [first.message_id, again.message_id, other.message_id]
    assert ids[0] == ids[1] != ids[2]
    assert ids[0].endswith("@duecourse.example>") and "P-1" not in ids[0]  # the key's hash, not the case id


async def test_a_refused_recipient_is_final_and_the_error_names_no_address(mail, templates):
    mail.refuse[TO] = f"550 5.1.1 <{TO}>: Recipient address rejected: mailbox unavailable"
    email = templates.render("reminder_due", "en", VARIABLES)
    with pytest.raises(ProviderError) as refused:
        await provider_for(mail).deliver(outbound(email))
    assert "550" in str(refused.value)
    no_data_in(refused.value, TO, "borrower.one", "overdue since")
    assert mail.messages == []


async def test_a_deferred_recipient_is_retried_not_final(mail, templates):
    mail.refuse[TO] = f"450 4.2.0 <{TO}>: Recipient address rejected: greylisted, try again later"
    email = templates.render("reminder_due", "en", VARIABLES)
    with pytest.raises(SmtpUnavailable) as deferred:
        await provider_for(mail).deliver(outbound(email))
    assert not isinstance(deferred.value, ProviderError) and "450" in str(deferred.value)
    no_data_in(deferred.value, TO, "borrower.one")

    del mail.refuse[TO]  # the retry goes through
    await provider_for(mail).deliver(outbound(email))
    assert len(mail.wait_for(1)) == 1


async def test_an_unreachable_relay_is_retried_not_final(templates):
    email = templates.render("reminder_due", "en", VARIABLES)
    nobody = SmtpProvider("127.0.0.1", free_port(), SENDER, timeout=2)  # nothing listens there
    with pytest.raises(SmtpUnavailable) as unreachable:
        await nobody.deliver(outbound(email))
    assert not isinstance(unreachable.value, ProviderError)
    no_data_in(unreachable.value, TO)


@pytest.mark.parametrize("to", ["not-an-address", "two@example.org, three@example.org", "a@b.example\r\nBcc: x@y.z"])
async def test_an_address_that_cannot_be_sent_to_is_final_and_not_repeated(mail, templates, to):
    email = templates.render("reminder_due", "en", VARIABLES)
    with pytest.raises(ProviderError) as bad:
        await provider_for(mail).deliver(outbound(email, to=to))
    no_data_in(bad.value, to, "example.org", "not-an-address")
    assert mail.messages == []


async def test_other_channels_are_refused(mail):
    sms = OutboundRequest(idempotency_key="k", channel=Channel.SMS, to="+8613800138050", body="hi")
    with pytest.raises(ProviderError):
        await provider_for(mail).deliver(sms)
    assert mail.messages == []


def test_the_mail_catcher_listens_on_a_port_of_its_own():
    with MailCatcher() as one, MailCatcher() as two:
        assert one.port and two.port and one.port != two.port
    assert one._controller is None


async def test_the_mail_catcher_keeps_each_message_as_a_file_when_asked(tmp_path, templates):
    with MailCatcher(spool=tmp_path / "mail") as mail:
        email = templates.render("reminder_gentle", "zh-CN", VARIABLES)
        await provider_for(mail).deliver(outbound(email))
        [caught] = await mail.wait_for_async(1)
    assert (tmp_path / "mail" / "1.eml").read_bytes() == caught.raw
    with pytest.raises(TimeoutError, match="1 of 2"):
        mail.wait_for(2, timeout=0.1)


# --- the checks -------------------------------------------------------------------------------------------


def test_the_shipped_email_templates_pass_their_checks(templates):
    rules = load_content_rules()
    assert templates.problems(rules, [load_policy("standard")]) == []
    for locale in ("en", "zh-CN"):
        assert set(templates.locales[locale]["email"]) >= {"self_service_link", "reminder_gentle", "reminder_due",
                                                           "reminder_firm", "hardship_offer"}


def library(tmp_path: Path, email: dict, opt_out: str | None = "Reply STOP to stop e-mails.") -> EmailTemplates:
    """A template folder with the shipped layouts and these e-mail templates."""
    shutil.copytree(CONFIG_DIR / "templates" / "email", tmp_path / "email")
    texts: dict = {"email": email}
    if opt_out:
        texts["email_opt_out"] = opt_out
    (tmp_path / "en.yaml").write_text(yaml.safe_dump(texts, allow_unicode=True), encoding="utf-8")
    return EmailTemplates(tmp_path)


GOOD = {"subject": "A note from {sender_name}", "body": "Please call {sender_number} about {amount} {currency}."}


def test_the_checks_catch_an_email_without_sender_or_number_or_with_forbidden_content(tmp_path):
    rules = load_content_rules()
    problems = library(tmp_path, {
        "self_service_link": {**GOOD, "body": GOOD["body"] + "\n\n{link}"},
        "anonymous": {"subject": "A note", "body": "Please call {sender_number}."},
        "no_number": {"subject": "From {sender_name}", "body": "Please pay."},
        "threat": {**GOOD, "body": GOOD["body"] + " Pay or else we will take legal action."},
        "shaming": {"subject": "Shame on you, from {sender_name}", "body": GOOD["body"]},
        "broken": {"subject": "From {sender_name", "body": GOOD["body"]},
        "no_body": {"subject": "From {sender_name}"},
    }).problems(rules)
    joined = "\n".join(problems)
    assert "template 'anonymous' (en, email): sender.identity" in joined
    assert "template 'no_number' (en, email): sender.contact_number" in joined
    assert "template 'threat' (en, email): forbidden.threat" in joined
    assert "template 'threat' (en, email): forbidden.legal_threat" in joined
    assert "template 'shaming' (en, email): forbidden.insult" in joined  # the subject is checked too
    assert "template 'broken' (en, email): not a valid template" in joined
    assert "template 'no_body' (en, email): needs a subject and a body" in joined
    assert "opt_out" not in joined  # the layout carries it: a body need not
    assert not any("self_service_link" in p for p in problems)


def test_the_checks_want_every_email_a_policy_sends_and_the_opt_out_text(tmp_path):
    policy = load_policy("standard")
    low_risk = policy.segments["low_risk"]
    steps = [*low_risk.schedule, ContactStep(channel=Channel.EMAIL, after=timedelta(days=1), template="statement"),
             ContactStep(channel=Channel.EMAIL, after=timedelta(days=1), template="pay_online", link=True)]
    emailing = policy.model_copy(update={"segments": {**policy.segments,
                                                      "low_risk": low_risk.model_copy(update={"schedule": steps})}})
    problems = library(tmp_path, {"pay_online": GOOD}, opt_out=None).problems(load_content_rules(), [emailing])
    assert "template 'statement' (en): missing from section 'email'" in problems
    assert "template 'self_service_link' (en): missing from section 'email'" in problems
    assert "template 'pay_online' (en, email): sends the self-service link, needs {link}" in problems
    assert any(p.startswith("locale en: email_opt_out text missing") for p in problems)
