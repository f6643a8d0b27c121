"""E-mail templates: subject and body per locale (the `email:` section of `config/templates/<locale>.yaml`),
laid out as plain text and HTML by a Jinja2 layout per locale (`config/templates/email/layout.<locale>.txt`
and `.html`).

The layout, not the template, carries the footer: the sender's identity, its contact number and the
opt-out line (`email_opt_out`), so no e-mail can go without them (Reg F 1006.6(e): every e-mail about a
debt carries a simple way to opt out). The body follows the SMS rules (`domain.content.check_template`):
it names the sender and the contact number and holds no forbidden content.

HTML is escaped twice over: the body's variables are escaped before they enter the paragraphs (so a
variable can never open a tag), and the layout is autoescaped. The self-service `{link}` is the one
variable that becomes an anchor, and only when it is an http(s) URL.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jinja2
import yaml
from markupsafe import Markup, escape
from pydantic import BaseModel, ConfigDict

from adapters.config_files import CONFIG_DIR
from domain.content import ContentRules, check_template
from domain.enums import Channel
from domain.policy import PolicyProfile

SECTION = "email"
OPT_OUT = "email_opt_out"
# E-mail templates the engine uses by name, besides those a policy's schedule names: name -> carries {link}
FIXED_EMAIL: dict[str, bool] = {"self_service_link": True}
_PARAGRAPH = re.compile(r"\n[ \t]*\n")


class EmailTemplateError(LookupError):
    pass


class RenderedEmail(BaseModel):
    """One e-mail, ready for `OutboundRequest(body=text, subject=..., html=..., locale=...)`; `locale` is
    the one actually used (the fallback's when the borrower's had no such template)."""

    model_config = ConfigDict(frozen=True)

    subject: str
    text: str
    html: str
    locale: str


def _html_link(url: str) -> Markup:
    if re.match(r"https?://", url, re.IGNORECASE):
        return Markup('<a href="{0}">{0}</a>').format(url)
    return escape(url)  # not a web address: shown, never followed


def _placeholders(text: str) -> set[str]:
    return {field.split(".")[0].split("[")[0] for _, field, _, _ in string.Formatter().parse(text) if field}


class EmailTemplates:
    """The `email:` sections of the locale files and their layouts; checked at start-up, rendered in the
    contact activity."""

    def __init__(self, folder: Path = CONFIG_DIR / "templates", fallback: str = "en"):
        self.folder, self.fallback = folder, fallback
        self.locales: dict[str, dict[str, Any]] = {
            p.stem: yaml.safe_load(p.read_text(encoding="utf-8")) or {} for p in sorted(folder.glob("*.yaml"))
        }
        # autoescape for .html only: the plain-text layout must stay as written
        self.env = jinja2.Environment(loader=jinja2.FileSystemLoader(folder / "email"),
                                      autoescape=jinja2.select_autoescape(["html"]),
                                      undefined=jinja2.StrictUndefined, trim_blocks=True)

    def _entry(self, template: str, locale: str) -> tuple[str, dict[str, str]]:
        for loc in (locale, self.fallback):
            entry = (self.locales.get(loc, {}).get(SECTION) or {}).get(template)
            if entry is not None:
                return loc, entry
        raise EmailTemplateError(f"no e-mail template {template!r} for locale {locale!r} or {self.fallback!r}")

    def _layout(self, locale: str, kind: str) -> jinja2.Template:
        try:
            return self.env.get_template(f"layout.{locale}.{kind}")
        except jinja2.TemplateNotFound:
            return self.env.get_template(f"layout.{self.fallback}.{kind}")

    def render(self, template: str, locale: str, variables: dict[str, str]) -> RenderedEmail:
        """Subject, plain text and HTML in the borrower's language (else the fallback's, all parts alike).
        Raises KeyError for a variable the template needs and was not given."""
        used, entry = self._entry(template, locale)
        values = {**variables, "opt_out": ""}  # the layout carries the opt-out, not the body
        subject = " ".join(entry["subject"].format_map(values).split())  # one line: a header
        paragraphs = [p.strip() for p in _PARAGRAPH.split(entry["body"].strip()) if p.strip()]
        text_paragraphs = [p.format_map(values) for p in paragraphs]
        safe = {k: escape(v) for k, v in values.items()}
        if "link" in variables:
            safe["link"] = _html_link(variables["link"])
        html_paragraphs = [Markup("<br>\n").join(escape(line).format_map(safe) for line in p.splitlines())
                           for p in paragraphs]
        opt_out = (self.locales.get(used, {}).get(OPT_OUT) or "").strip()
        if not opt_out:  # checked at start-up too: no e-mail leaves without its way out
            raise EmailTemplateError(f"locale {used}: no {OPT_OUT} text")
        footer = {"sender_name": variables["sender_name"], "sender_number": variables["sender_number"],
                  "opt_out": opt_out, "subject": subject, "lang": used}
        text = self._layout(used, "txt").render(paragraphs=text_paragraphs, **footer).strip() + "\n"
        html = self._layout(used, "html").render(paragraphs=html_paragraphs, **footer).strip() + "\n"
        return RenderedEmail(subject=subject, text=text, html=html, locale=used)

    def needed(self, policies: Iterable[PolicyProfile]) -> dict[str, bool]:
        """The e-mail templates these policies use: name -> whether it must carry the `{link}`."""
        out = dict(FIXED_EMAIL)
        for policy in policies:
            for treatment in policy.segments.values():
                for step in treatment.schedule:
                    if step.channel == Channel.EMAIL:
                        out[step.template] = out.get(step.template, False) or step.link
        return out

    def problems(self, rules: ContentRules, policies: Iterable[PolicyProfile] = ()) -> list[str]:
        """Everything wrong with the e-mail templates, for these policies: empty when they may be used."""
        out = []
        needed = self.needed(policies)
        for kind in ("txt", "html"):
            try:
                self.env.get_template(f"layout.{self.fallback}.{kind}")
            except jinja2.TemplateNotFound:
                out.append(f"e-mail layout layout.{self.fallback}.{kind} missing from {self.folder.name}/email/")
        for locale, texts in self.locales.items():
            section = texts.get(SECTION) or {}
            if not section:
                continue  # this locale's e-mails fall back to the fallback's, whole
            if not texts.get(OPT_OUT):
                out.append(f"locale {locale}: {OPT_OUT} text missing (every e-mail carries an opt-out)")
            for name, entry in section.items():
                out += self.check(name, locale, entry, rules)
            for name, link in sorted(needed.items()):
                if name not in section:
                    out.append(f"template {name!r} ({locale}): missing from section {SECTION!r}")
                elif link and "link" not in _placeholders(str(section[name].get("body", ""))):
                    out.append(f"template {name!r} ({locale}, email): sends the self-service link, needs {{link}}")
        if needed and not (self.locales.get(self.fallback, {}).get(SECTION)):
            out.append(f"locale {self.fallback}: no {SECTION!r} section, the fallback for every e-mail")
        return out

    @staticmethod
    def check(name: str, locale: str, entry: Any, rules: ContentRules) -> list[str]:
        """One template against the SMS content rules: subject and body together name the sender and the
        contact number, and hold nothing forbidden (the layout adds the opt-out line)."""
        where = f"template {name!r} ({locale}, email)"
        if not isinstance(entry, dict) or not isinstance(entry.get("subject"), str) \
                or not isinstance(entry.get("body"), str):
            return [f"{where}: needs a subject and a body"]
        try:
            _placeholders(entry["subject"]), _placeholders(entry["body"])
        except ValueError as e:
            return [f"{where}: not a valid template: {e}"]
        text = f"{entry['subject']}\n{entry['body']}\n{{opt_out}}"  # the layout's footer always has the opt-out
        # checked as an SMS: the same rules (domain.content has no e-mail kind of its own)
        return [p.replace(f"({locale}, sms)", f"({locale}, email)", 1)
                for p in check_template(name, "sms", text, locale, rules)]
