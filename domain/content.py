"""What a message may say: the checks every template passes before the worker starts.

Pure: the patterns come from `config/content_rules.yaml` (data, per locale), the templates from
`config/templates/`. A problem names the template, its locale and the rule it breaks.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict

# location: to third parties, location only; greeting: what a robot says before the borrower is confirmed
Kind = Literal["sms", "scripts", "third_party", "location", "greeting", "letters"]


class ContentRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str
    forbidden: dict[str, dict[str, list[str]]]  # rule -> locale -> patterns
    third_party_disclosure: dict[str, list[str]]  # locale -> patterns
    location_only: dict[str, list[str]] = {}  # locale -> patterns a location inquiry must not hold


def _hits(patterns: list[str], text: str) -> list[str]:
    return [p for p in patterns if re.search(p, text, re.IGNORECASE)]


def check_template(name: str, kind: Kind, text: str, locale: str, rules: ContentRules) -> list[str]:
    where = f"template {name!r} ({locale}, {kind})"
    problems = []
    third_party = kind in ("third_party", "location", "greeting")  # heard, or read, by anyone
    sender = "{neutral_sender}" if third_party else "{sender_name}"
    if sender not in text:
        problems.append(f"{where}: sender.identity: must name the sender ({sender})")
    if kind not in ("scripts", "greeting"):
        if "{sender_number}" not in text:
            problems.append(f"{where}: sender.contact_number: must give a contact number ({{sender_number}})")
        if "{opt_out}" not in text and kind != "letters":  # a statutory notice carries no opt-out
            problems.append(f"{where}: opt_out: must carry the opt-out ({{opt_out}})")
    for rule, by_locale in rules.forbidden.items():
        for pattern in _hits(by_locale.get(locale, []), text):
            problems.append(f"{where}: forbidden.{rule}: matches {pattern!r}")
    if third_party:
        for pattern in _hits(rules.third_party_disclosure.get(locale, []), text):
            problems.append(f"{where}: third_party.disclosure: must not reveal the debt, matches {pattern!r}")
    if kind == "location":
        for pattern in _hits(rules.location_only.get(locale, []), text):
            problems.append(f"{where}: third_party.location_only: asks for more than location information, "
                            f"matches {pattern!r}")
    return problems
