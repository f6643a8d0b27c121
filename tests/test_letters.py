"""Letters: a notice rendered to PDF by WeasyPrint and read back as text, and the print vendors that post it."""

from __future__ import annotations

import email.parser
import email.policy
import io
import json
import re
import shutil
import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from pypdf import PdfReader
from sqlalchemy import text

from adapters.letters import LETTERS_DIR, LetterError, LetterRenderer, LetterSender, css_string
from adapters.providers import OutboundRequest, ProviderError
from adapters.providers.print_vendor import HttpPrintVendor, LetterProvider, PrintJob, SandboxPrintVendor
from adapters.templates import TemplateLibrary
from domain.enums import Channel, Outcome

SENDER = LetterSender(name="Example Lending Ltd", neutral_name="EL Services", contact_number="0800 555 0101",
                      address=["PO Box 77", "Testford", "TF1 2ZZ"])
POSTED = date(2026, 10, 5)
ADDRESS = {"en": "Ms A Sample, Flat 2, 14 Example Street, Leeds, LS2 9ZZ",
           "zh-CN": "王小明, 示例路 88 号 501 室, 上海市, 200000"}
VARIABLES = {"sender_name": SENDER.name, "sender_number": SENDER.contact_number, "arrears": "240.17",
             "amount": "1,480.53", "currency": "GBP", "due_date": "2026-09-01"}


def letter(key: str, locale: str = "en", template: str = "arrears_notice", body: str | None = None,
           to: str | None = None) -> OutboundRequest:
    return OutboundRequest(
        idempotency_key=key, channel=Channel.LETTER, to=to or ADDRESS.get(locale, ADDRESS["en"]), locale=locale,
        template=template, body=body or TemplateLibrary().render(template, locale, VARIABLES, False))


def pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def squeezed(value: str) -> str:
    """Text without whitespace: CJK extraction may put a break or a space between any two characters."""
    return re.sub(r"\s+", "", value)


@pytest.fixture(scope="module")
def renderer() -> LetterRenderer:
    return LetterRenderer(SENDER)


@pytest.mark.parametrize("locale, title, posted, private, page", [
    ("en", "Notice of sums in arrears", "October 5, 2026", "PRIVATE AND CONFIDENTIAL", "Page 1 of 1"),
    ("zh-CN", "欠款通知书", "2026年10月5日", "私人信件", "第1页，共1页"),
])
def test_an_arrears_notice_renders_with_its_facts(renderer, locale, title, posted, private, page):
    pdf = renderer.render(letter(f"arrears-{locale}", locale), on=POSTED)
    assert pdf.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(pdf))
    assert reader.metadata is not None and reader.metadata.title == title
    words = squeezed(pdf_text(pdf))
    expected = [title, posted, private, page, "240.17", "1,480.53", "GBP", "2026-09-01", SENDER.name,
                SENDER.contact_number, *SENDER.address,
                f"{SENDER.neutral_name},PO Box 77",  # the return line through the window: the neutral name
                *ADDRESS[locale].split(", ")]
    if locale == "zh-CN":
        expected += ["逾期款项通知", "首次应还日", "请致电", "此致"]
    else:
        expected += ["section 86B", "Yours sincerely"]
    missing = [w for w in expected if squeezed(w) not in words]
    assert missing == []


@pytest.mark.parametrize("locale, posted", [("fr", "October5,2026"), ("en-GB", "5October2026"),
                                            ("zz-Nowhere", "October5,2026")])
def test_a_locale_without_its_own_strings_gets_them_from_its_language_or_english(renderer, locale, posted):
    words = squeezed(pdf_text(renderer.render(letter(f"arrears-{locale}", locale), on=POSTED)))
    assert "Noticeofsumsinarrears" in words and posted in words


def test_a_long_notice_numbers_its_pages(renderer):
    body = "\n".join(f"Paragraph {n}: " + "the terms of the agreement, set out again. " * 12 for n in range(12))
    pdf = renderer.render(letter("long-1", body=body), on=POSTED)
    reader = PdfReader(io.BytesIO(pdf))
    pages = len(reader.pages)
    assert pages >= 2
    assert [f"Page {n} of {pages}" in page.extract_text() for n, page in enumerate(reader.pages, 1)] == [True] * pages
    assert "Paragraph 11" in pdf_text(pdf) and "Yours sincerely" in reader.pages[-1].extract_text()


def test_the_same_letter_on_the_same_day_is_the_same_pdf(renderer):
    """What the vendor printed can be shown again: the PDF depends on the request and the date only."""
    assert renderer.render(letter("same-1"), on=POSTED) == renderer.render(letter("same-1"), on=POSTED)
    assert renderer.render(letter("same-1"), on=POSTED) != renderer.render(letter("same-1"), on=date(2026, 10, 6))


def test_every_letter_template_has_a_title_in_every_locale(renderer):
    library = TemplateLibrary()
    names = sorted({name for texts in library.locales.values() for name in texts.get("letters", {})})
    assert "arrears_notice" in names and set(renderer.strings) >= {"en", "zh-CN"}
    assert renderer.problems(names) == []
    assert renderer.problems(["no_such_notice"]) != []
    with pytest.raises(LetterError, match="no_such_notice"):
        renderer.title("no_such_notice", "en")


def test_css_strings_cannot_break_out_of_the_style():
    assert css_string('a"b') == '"a\\000022b"'
    assert str(css_string("第</style>")) == '"\\007b2c\\00003c\\00002fstyle\\00003e"'


class Vendor(BaseHTTPRequestHandler):
    """A local print vendor: reads the multipart upload, remembers each Idempotency-Key, answers it the same way.
    Any GET is a letter trying to fetch something: counted, so a test can prove none were made."""

    seen: dict[str, dict] = {}
    uploads: list[dict] = []
    status_for: dict[str, int] = {}
    answer_for: dict[str, dict] = {}
    fetches: list[str] = []

    def do_POST(self):  # noqa: N802 - the http.server API
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        head = f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
        parts = {part.get_param("name", header="content-disposition"): part for part in message.iter_parts()}
        key = self.headers["Idempotency-Key"]
        Vendor.uploads.append({
            "path": self.path, "key": key, "auth": self.headers.get("Authorization"),
            "fields": sorted(parts), "field_key": parts["idempotency_key"].get_payload(decode=True).decode(),
            "filename": parts["document"].get_filename(), "type": parts["document"].get_content_type(),
            "pdf": parts["document"].get_payload(decode=True),
        })
        status = Vendor.status_for.get(key, 200)
        answer = Vendor.answer_for.get(key) or Vendor.seen.setdefault(
            key, {"message_id": f"pv-{len(Vendor.seen) + 1}", "status": "sent"})
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps(answer if status == 200 else {"error": "bad address"}).encode())

    def do_GET(self):  # noqa: N802
        Vendor.fetches.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "text/css")
        self.end_headers()
        self.wfile.write(b"body { color: red }")

    def log_message(self, *args):
        pass


@pytest.fixture
def vendor():
    Vendor.seen, Vendor.uploads, Vendor.status_for, Vendor.answer_for, Vendor.fetches = {}, [], {}, {}, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Vendor)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.parametrize("html_edit, css_edit", [
    ('<link rel="stylesheet" href="letter.css">', '<img src="{url}/logo.png" alt="">'),
    (None, '@import url("{url}/remote.css");'),
    ('<link rel="stylesheet" href="letter.css">', '<link rel="stylesheet" href="../outside.css">'),
])
def test_a_layout_that_reaches_outside_its_folder_is_refused(renderer, vendor, tmp_path, html_edit, css_edit):
    folder = tmp_path / "letters"
    shutil.copytree(LETTERS_DIR, folder)
    (tmp_path / "outside.css").write_text("body { color: red }")
    if html_edit:
        page = (folder / "letter.html").read_text()
        assert html_edit in page
        (folder / "letter.html").write_text(page.replace(html_edit, html_edit + css_edit.format(url=vendor)))
    else:
        (folder / "letter.css").write_text(css_edit.format(url=vendor) + "\n" + (folder / "letter.css").read_text())
    with pytest.raises(LetterError, match="fetched what it may not"):
        LetterRenderer(SENDER, folder=folder).render(letter("remote-1"), on=POSTED)
    assert Vendor.fetches == []
    assert renderer.render(letter("remote-1"), on=POSTED).startswith(b"%PDF-")  # the shipped layout is local


def test_the_address_and_the_notice_are_text_not_markup(renderer, vendor):
    sneaky = f'<img src="{vendor}/pixel.png"> <b>bold</b>'
    pdf = renderer.render(letter("markup-1", body=f"Pay now {sneaky}", to=f"1 Road {sneaky}, Town"), on=POSTED)
    assert Vendor.fetches == []
    assert squeezed(pdf_text(pdf)).count(squeezed(sneaky)) == 2  # printed as written, twice


async def test_the_sandbox_vendor_keeps_one_pdf_per_key(engine, renderer):
    provider = LetterProvider(renderer, SandboxPrintVendor(engine), today=lambda: POSTED)
    assert provider.name == "print:sandbox"
    first = await provider.deliver(letter("letter-once-1"))
    again = await provider.deliver(letter("letter-once-1", body="A different body: the first letter stands."))
    assert first == again and first.outcome is Outcome.SENT and first.provider == "print:sandbox"
    async with engine.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT channel, to_masked, body, outcome, document FROM sandbox_messages "
            "WHERE idempotency_key = 'letter-once-1'"))).all()
    [row] = rows
    assert (row.channel, row.to_masked, row.outcome) == ("letter", "(address)", "sent")
    assert row.body == letter("x").body and "Leeds" not in row.body  # the notice's text; the address only in the PDF
    words = squeezed(pdf_text(bytes(row.document)))
    assert "Noticeofsumsinarrears" in words and "October5,2026" in words and "Leeds" in words


async def test_a_letter_goes_by_post_only(engine, renderer):
    provider = LetterProvider(renderer, SandboxPrintVendor(engine))
    with pytest.raises(ProviderError, match="letters, not sms"):
        await provider.deliver(OutboundRequest(idempotency_key="not-a-letter", channel=Channel.SMS, to="+4470",
                                               body="hi"))


async def test_the_http_vendor_gets_the_pdf_and_the_key(vendor, renderer):
    http = HttpPrintVendor(vendor, token="s3cret")
    provider = LetterProvider(renderer, http, today=lambda: POSTED)
    response = await provider.deliver(letter("pv-1", "zh-CN"))
    assert (response.provider, response.message_id, response.outcome) == ("print:http", "pv-1", Outcome.SENT)
    [upload] = Vendor.uploads
    assert {k: v for k, v in upload.items() if k != "pdf"} == {
        "path": "/v1/letters", "key": "pv-1", "auth": "Bearer s3cret", "fields": ["document", "idempotency_key"],
        "field_key": "pv-1", "filename": "letter.pdf", "type": "application/pdf"}
    words = squeezed(pdf_text(upload["pdf"]))
    assert "欠款通知书" in words and "2026年10月5日" in words and "王小明" in words

    job = PrintJob(idempotency_key="pv-2", pdf=upload["pdf"], text="notice")
    Vendor.status_for = {"pv-2": 422, "pv-3": 503}
    with pytest.raises(ProviderError, match="HTTP 422") as refused:
        await http.submit(job)
    assert "bad address" not in str(refused.value)
    with pytest.raises(httpx.HTTPStatusError):  # retryable: the activity's retry policy takes it
        await http.submit(job.model_copy(update={"idempotency_key": "pv-3"}))
    Vendor.answer_for = {"pv-4": {"message_id": "pv-4", "status": "queued"}}
    with pytest.raises(ProviderError, match="without a known message_id and status"):
        await http.submit(job.model_copy(update={"idempotency_key": "pv-4"}))
    await http.aclose()
