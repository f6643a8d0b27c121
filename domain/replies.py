"""Inbound replies by SMS or e-mail: is a reply a stop, and how an address is written before it is digested.

A keyword list alone is not enough (FCC 24-24 and Reg F 1006.14(h) make any clear refusal binding, and
the UK asks for any plain refusal to be honoured), so the rule here is narrow and safe both ways: a reply
is a stop only when the *whole* message, once normalised and stripped of courtesy words, is a stop word or
a short stop phrase of the configured list ("STOP.", "ＴＤ", "“退订”", "stop texting me please"). Anything
else, including a long message that happens to contain "stop", goes to a person, who can mark a refusal
the list missed.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterator
from email.utils import parseaddr
from typing import Literal

import phonenumbers
from pydantic import Field, model_validator

from domain.values import Model

ReplyKind = Literal["stop", "message"]
ReplyChannel = Literal["sms", "email"]


# --- text ---------------------------------------------------------------------------------------


def normalise(text: str) -> str:
    """NFKC (full-width ＴＤ is TD), case-folded, every run of punctuation, symbols, spaces and control
    characters one space, trimmed: "“STOP!!”" and "stop" read the same; so do "opt-out" and "opt out"."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    spaced = "".join(" " if unicodedata.category(ch)[0] in "PSZC" else ch for ch in folded)
    return " ".join(spaced.split())


def _cjk(text: str) -> bool:
    """Written without spaces between words (Han, kana, Hangul): fillers and keywords join without one."""
    return any(unicodedata.name(ch, "").startswith(("CJK", "HIRAGANA", "KATAKANA", "HANGUL")) for ch in text)


def _compact(text: str) -> str:
    """A CJK message's key without the spaces left by punctuation ("退 订" from "退-订" is 退订)."""
    return text.replace(" ", "") if _cjk(text) else text


_QUOTED_HISTORY = re.compile(
    r"^\s*(>|on\b.*\bwrote:\s*$|-{2,}\s*original message|-- ?$|_{10,}|from:\s|sent from my\b|发件人[:：]|"
    r"在.*写道[:：]|-{2,}\s*原始邮件)", re.IGNORECASE)


def reply_body(text: str) -> str:
    """An e-mail reply without the history it quotes, its signature or a "Sent from my phone" line: what the
    sender wrote. The whole text when nothing is left (a reply that is all quote is read as it is)."""
    kept = []
    for line in text.splitlines():
        if _QUOTED_HISTORY.match(line):
            break
        kept.append(line)
    body = "\n".join(kept).strip()
    return body or text.strip()


# --- the keyword model ---------------------------------------------------------------------------


class TermList(Model):
    """Terms from one body of sources. A list with no source must say so (`unsourced: true`), so an
    unsourced choice never passes for a sourced one."""

    terms: list[str] = Field(min_length=1)
    sources: list[str] = Field(default_factory=list, description="keys of docs/research/self-service.md, with URLs")
    unsourced: bool = False
    note: str = ""

    @model_validator(mode="after")
    def _sourced(self) -> TermList:
        if not self.sources and not self.unsourced:
            raise ValueError("give the list's sources, or mark it unsourced: true")
        if any(not normalise(t) for t in self.terms):
            raise ValueError("a term is empty once punctuation and spaces are taken out")
        return self


class ReplyKeywords(Model):
    """config/replies.yaml: what makes a reply a stop. `stop_words` are the carriers' and regulators'
    keywords, `stop_phrases` short refusals in plain words; both match the whole message only. `fillers`
    may surround either without changing its meaning ("please stop", "退订谢谢")."""

    version: str = Field(min_length=1)
    stop_words: list[TermList] = Field(min_length=1)
    stop_phrases: list[TermList] = Field(default_factory=list)
    fillers: list[TermList] = Field(default_factory=list)

    @model_validator(mode="after")
    def _distinct(self) -> ReplyKeywords:
        fillers = {normalise(t) for group in self.fillers for t in group.terms}
        clash = sorted(t for t in self.stops if t in fillers)
        if clash:
            raise ValueError(f"a term is both a stop and a filler: {', '.join(clash)}")
        return self

    @functools.cached_property
    def stops(self) -> dict[str, str]:
        """Each stop's matching key (normalised, compact for CJK), to the term as the list writes it."""
        return {_compact(normalise(t)): t for group in self.stop_words + self.stop_phrases for t in group.terms}

    @functools.cached_property
    def filler_terms(self) -> tuple[str, ...]:
        """Longest first, so "thank you" goes before "thank"."""
        terms = {normalise(t) for group in self.fillers for t in group.terms}
        return tuple(sorted(terms, key=len, reverse=True))


def _without_fillers(text: str, fillers: tuple[str, ...]) -> Iterator[str]:
    """`text`, then `text` with one more courtesy word taken off either end, until none is left: whole words
    in spaced scripts, any CJK filler at the edge ("请退订" gives 退订). Each form is tried, so a phrase that
    starts with a filler ("请勿打扰") still matches as a whole."""
    yield text
    changed = True
    while changed and text:
        changed = False
        for f in fillers:
            if text == f:
                return
            joined = _cjk(f)
            if text.startswith(f) and (joined or text[len(f)] == " "):
                text, changed = text[len(f):].strip(), True
            elif text.endswith(f) and (joined or text[-len(f) - 1] == " "):
                text, changed = text[:-len(f)].strip(), True
            else:
                continue
            yield text
            break


def _once(key: str) -> str:
    """"stop stop stop" is "stop"."""
    words = key.split(" ")
    return words[0] if len(words) > 1 and len(set(words)) == 1 else key


def matched(text: str, keywords: ReplyKeywords) -> str | None:
    """The stop word or phrase the whole reply is (as the list writes it), or None: a message for a person."""
    for key in _without_fillers(normalise(text), keywords.filler_terms):
        term = keywords.stops.get(_compact(_once(key))) if key else None
        if term is not None:
            return term
    return None


def classify(text: str, keywords: ReplyKeywords) -> ReplyKind:
    """"stop" when the whole reply is a stop word or phrase, else "message" (a person reads it)."""
    return "stop" if matched(text, keywords) is not None else "message"


# --- addresses -----------------------------------------------------------------------------------


class AddressError(ValueError):
    """An address that cannot be normalised. Its message never holds the address."""


def normalise_address(channel: ReplyChannel, address: str, country: str | None = None) -> str:
    """What a route's digest is taken over: "tel:" and E.164 for a number (`country` is the region a number
    written without +<code> is read in), "mailto:" and the lower-cased bare address for an e-mail
    ("Ana <Ana@Example.com>" is mailto:ana@example.com)."""
    if channel == "email":
        bare = parseaddr(address)[1].strip().lower()
        if "@" not in bare or bare.startswith("@") or bare.endswith("@"):
            raise AddressError("not an e-mail address")
        return f"mailto:{bare}"
    try:
        parsed = phonenumbers.parse(address, country)
    except phonenumbers.NumberParseException:
        raise AddressError("not a phone number (or a national number without a country)") from None
    if not phonenumbers.is_possible_number(parsed):
        raise AddressError("not a possible phone number")
    return "tel:" + phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def e164(address: str, country: str | None = None) -> str:
    """The number in E.164 (what a third party's refusal names)."""
    return normalise_address("sms", address, country).removeprefix("tel:")
