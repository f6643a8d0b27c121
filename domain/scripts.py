"""The script library (专属话术库): what an agent or a collector says now, to this borrower.

Pure: the scripts are data (`config/scripts.yaml`, read by `adapters.scripts`); which one fits a
situation is decided here, so the desk, the case's details and the tests all agree. A script only
guides a person: it never decides what the case does.
"""

from __future__ import annotations

from collections import Counter
from string import Formatter
from typing import Annotated

from pydantic import Field, model_validator

from domain.enums import DelinquencyReason, Segment, Stage
from domain.values import Model

# The stages people work (calls, promises, plans, visits); verification and assessment are automated.
AGENT_STAGES: tuple[Stage, ...] = (Stage.REMOTE_CONTACT, Stage.PROMISE, Stage.HARDSHIP_PLAN, Stage.FIELD_VISIT)
# What a script's text may hold, filled in where it is shown: nothing else is known there.
PLACEHOLDERS = frozenset({"sender_name", "amount", "currency"})
FALLBACK = "en"

ScriptId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Locale = Annotated[str, Field(pattern=r"^[a-z]{2}(-[A-Z]{2})?$")]
Text = Annotated[str, Field(min_length=1, max_length=2000)]


class ScriptWhen(Model):
    """Which situations a script is for; an absent key matches any. A listed key may not be empty,
    since a script for no situation is a mistake in the file, not a choice."""

    reasons: list[DelinquencyReason] | None = Field(default=None, min_length=1)
    stages: list[Stage] | None = Field(default=None, min_length=1)
    segments: list[Segment] | None = Field(default=None, min_length=1)
    vulnerable: bool | None = None
    locales: list[Locale] | None = Field(default=None, min_length=1)

    @property
    def specificity(self) -> int:
        """How many keys it constrains: the more, the better the script knows the borrower."""
        return sum(v is not None for v in (self.reasons, self.stages, self.segments, self.vulnerable, self.locales))

    def is_default_for(self, stage: Stage) -> bool:
        """Fits every borrower at this stage: it constrains nothing, or only the stage."""
        return self.specificity == 0 or (self.specificity == 1 and self.stages is not None and stage in self.stages)


class Script(Model):
    id: ScriptId
    when: ScriptWhen = Field(default_factory=ScriptWhen)
    why: dict[Locale, Text]  # shown to the agent: why this script, for this borrower
    text: dict[Locale, Text]  # what to say

    @model_validator(mode="after")
    def _complete(self) -> Script:
        # One language per chosen script: its why and its text must come in the same locales.
        if FALLBACK not in self.text or FALLBACK not in self.why:
            raise ValueError(f"script {self.id!r}: needs an {FALLBACK!r} text and why (the fallback)")
        if set(self.text) != set(self.why):
            raise ValueError(f"script {self.id!r}: text and why must come in the same locales "
                             f"(text: {sorted(self.text)}, why: {sorted(self.why)})")
        for locale, text in self.text.items():
            unknown = _placeholders(self.id, locale, text) - PLACEHOLDERS
            if unknown:
                raise ValueError(f"script {self.id!r} ({locale}): unknown placeholders {sorted(unknown)} "
                                 f"(known: {sorted(PLACEHOLDERS)})")
        return self

    def matches(self, situation: Situation) -> bool:
        when = self.when
        return ((when.vulnerable is None or when.vulnerable == situation.vulnerable)
                and (when.stages is None or situation.stage in when.stages)
                and (when.reasons is None or situation.reason in when.reasons)
                and (when.segments is None or situation.segment in when.segments)
                and (when.locales is None or situation.locale in when.locales))


def _placeholders(script_id: str, locale: str, text: str) -> set[str]:
    try:
        return {field for _, field, _, _ in Formatter().parse(text) if field is not None}
    except ValueError as e:  # a lone brace would break the text where it is shown
        raise ValueError(f"script {script_id!r} ({locale}): {e} (write a literal brace as {{{{ or }}}})") from e


class ScriptLibrary(Model):
    scripts: list[Script]

    @model_validator(mode="after")
    def _covers_every_agent_stage(self) -> ScriptLibrary:
        # So that `choose` always has something to show a person working a case.
        repeated = sorted(i for i, n in Counter(s.id for s in self.scripts).items() if n > 1)
        if repeated:
            raise ValueError(f"script ids must be unique; repeated: {', '.join(repeated)}")
        missing = [stage.value for stage in AGENT_STAGES if not any(s.when.is_default_for(stage) for s in self.scripts)]
        if missing:
            raise ValueError(f"no default script (constraining only `stages`) for the agent-worked stages: "
                             f"{', '.join(missing)}")
        return self


class Situation(Model):
    """Where the case is and what is known of the borrower, as the script chooser needs it."""

    stage: Stage
    segment: Segment | None = None
    reason: DelinquencyReason | None = None  # as the borrower told it; None until they have
    vulnerable: bool
    locale: str  # any tag: one the library lacks falls back to English rather than fail where it is shown


class ChosenScript(Model):
    script_id: ScriptId
    text: str
    why: str
    locale: Locale  # the locale text and why are in: the situation's, or the fallback


def choose(library: ScriptLibrary, situation: Situation) -> ChosenScript | None:
    """The most specific script for the situation (ties: the earlier in the library), in the
    situation's locale where it has one, else in English; for a vulnerable borrower a script written for
    vulnerability comes before any other. None only outside the agent-worked stages."""
    def rank(script: Script) -> tuple[bool, int]:
        return situation.vulnerable and script.when.vulnerable is True, script.when.specificity

    best: Script | None = None
    for script in library.scripts:
        if script.matches(situation) and (best is None or rank(script) > rank(best)):
            best = script
    if best is None:
        return None
    locale = situation.locale if situation.locale in best.text else FALLBACK
    return ChosenScript(script_id=best.id, text=best.text[locale], why=best.why[locale], locale=locale)
