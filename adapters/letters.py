"""Letters: a notice's text laid out as a posted letter and rendered to PDF by WeasyPrint.

The notice's words come from `config/templates/<locale>.yaml` (section `letters`), rendered by the
activity; this module adds what a letter has around them, from `config/letters/`: the sender's letterhead,
the address field of a window envelope (the neutral sender name only, marked private and confidential,
CONC 7.9), the date of posting in the borrower's locale, a title per notice, page numbers.

Rendering reads only the layout's own folder and the machine's fonts: every other URL (http, https, ftp,
a file elsewhere) stops the rendering, so a template cannot make a letter depend on, or leak it to, the
network.
"""

from __future__ import annotations

import mimetypes
import threading
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml
from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from pydantic import BaseModel, Field
from weasyprint import HTML, URLFetcher  # no stubs
from weasyprint.urls import FatalURLFetchingError, URLFetcherResponse

from adapters.config_files import CONFIG_DIR
from adapters.providers.base import OutboundRequest
from domain.policy import Sender

LETTERS_DIR = CONFIG_DIR / "letters"


class LetterError(RuntimeError):
    """The letter cannot be rendered as configured (a missing string, a refused URL): fix the layout."""


class LetterSender(BaseModel):
    """Who writes: `name` inside the letter; `neutral_name` and the return address on what shows through
    the envelope's window, so the outside says nothing of a debt."""

    name: str = Field(min_length=1)
    neutral_name: str = Field(min_length=1)
    contact_number: str = Field(min_length=3)
    address: list[str] = Field(default_factory=list, description="the return address, one line each")

    @classmethod
    def from_policy(cls, sender: Sender, address: list[str] | None = None) -> LetterSender:
        return cls(name=sender.name, neutral_name=sender.neutral_name, contact_number=sender.contact_number,
                   address=address or [])


class LocalOnly(URLFetcher):
    """WeasyPrint's fetcher, narrowed to files inside one folder (and `data:` URLs). Anything else is a
    fatal error, not the usual warning: a letter never silently loses its stylesheet, nor calls out."""

    def __init__(self, folder: Path):
        super().__init__(allowed_protocols={"file", "data"}, allow_redirects=False, fail_on_errors=True)
        self.folder = folder.resolve()

    def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
        parts = urlsplit(url)
        if parts.scheme == "data":
            return super().fetch(url, headers)
        if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
            raise ValueError(f"refused {parts.scheme or 'relative'} URL: letters fetch nothing remote")
        path = Path(unquote(parts.path)).resolve()
        if not path.is_relative_to(self.folder) or not path.is_file():
            raise ValueError(f"refused file outside the letters folder: {path.name}")
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": kind})


def css_string(value: str) -> Markup:
    """A CSS string literal for any text: every character but letters, digits and spaces hex-escaped,
    so a word from the strings file cannot end the string or the style element."""
    escaped = "".join(c if (c.isascii() and c.isalnum()) or c == " " else f"\\{ord(c):06x}" for c in value)
    return Markup(f'"{escaped}"')


class LetterRenderer:
    """Renders one notice as PDF bytes. `render` is synchronous and CPU-bound (a few hundred ms): call it
    in a thread from async code. Renders are serialised, since Pango and fontconfig are shared state."""

    def __init__(self, sender: LetterSender, folder: Path = LETTERS_DIR, fallback: str = "en"):
        self.sender, self.folder, self.fallback = sender, folder, fallback
        self.strings: dict[str, dict[str, Any]] = yaml.safe_load((folder / "strings.yaml").read_text("utf-8")) or {}
        if fallback not in self.strings:
            raise LetterError(f"no letter strings for the fallback locale {fallback!r} in {folder.name}/strings.yaml")
        self.env = Environment(loader=FileSystemLoader(folder), autoescape=select_autoescape(["html"]),
                               undefined=StrictUndefined, keep_trailing_newline=True)
        self.env.filters["css_string"] = css_string
        self._lock = threading.Lock()

    def _locale(self, locale: str) -> str:
        """The strings' locale for a borrower's: exact, then its language (`en-GB` -> `en`), then the fallback."""
        for candidate in (locale, locale.split("-")[0]):
            if candidate in self.strings:
                return candidate
        return self.fallback

    def _language(self, locale: str) -> str:
        """The letter's language: the borrower's locale when the strings speak it (`en-GB` keeps its own date
        format), else the fallback's, so the date is never in a language the rest of the letter is not."""
        resolved = self._locale(locale)
        return locale if resolved.split("-")[0] == locale.split("-")[0] else resolved

    def words(self, locale: str) -> dict[str, Any]:
        return {**self.strings[self.fallback], **self.strings[self._locale(locale)]}

    def title(self, template: str | None, locale: str) -> str:
        titles = self.words(locale).get("titles", {})
        fallback = self.strings[self.fallback].get("titles", {})
        title = titles.get(template) or fallback.get(template)
        if not title:
            raise LetterError(f"no letter title for {template!r} in {self.folder.name}/strings.yaml")
        return str(title)

    def problems(self, templates: list[str]) -> list[str]:
        """Each letter template without a title, per locale: empty when every notice can be posted."""
        return [f"letter title {name!r} ({locale}): missing from {self.folder.name}/strings.yaml"
                for locale, words in self.strings.items() for name in templates if name not in words.get("titles", {})]

    def html(self, request: OutboundRequest, on: date | None = None) -> str:
        """The letter as HTML, what `render` lays out: a browser shows it, for work on the layout."""
        posted, language = on or date.today(), self._language(request.locale)
        try:
            babel_locale = Locale.parse(language, sep="-")
        except (UnknownLocaleError, ValueError):
            babel_locale = Locale.parse(self._locale(language), sep="-")
        return self.env.get_template("letter.html").render(
            lang=language,
            title=self.title(request.template, request.locale), words=self.words(request.locale),
            sender=LetterSender.from_policy(request.sender, self.sender.address) if request.sender else self.sender,
            address=[line.strip() for line in request.to.split(",") if line.strip()],
            paragraphs=[p.strip() for p in request.body.splitlines() if p.strip()],
            posted=format_date(posted, format="long", locale=babel_locale), posted_iso=posted.isoformat(),
        )

    def render(self, request: OutboundRequest, on: date | None = None) -> bytes:
        """The letter as PDF bytes. Raises LetterError when the layout reaches for anything not local."""
        page = self.html(request, on)
        fetcher = LocalOnly(self.folder)
        with self._lock:
            try:
                pdf = HTML(string=page, base_url=str(self.folder.resolve()) + "/", url_fetcher=fetcher).write_pdf()
            except FatalURLFetchingError as e:  # a BaseException in WeasyPrint: not to escape as one
                raise LetterError(f"the letter's layout fetched what it may not: {e.__cause__}") from None
        if not pdf:
            raise LetterError("WeasyPrint produced no PDF")
        return pdf
