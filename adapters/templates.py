"""Message templates per locale (`config/templates/<locale>.yaml`), checked at load, rendered in
the activity. Sections: `sms` (to the borrower), `scripts` (robot, agent, visit), `third_party`
(to emergency contacts: never the debt), `location` (to third parties where a pack allows location
information only: never a message to pass on), `greeting` (what a robot call says before whoever
answered has confirmed they are the borrower, and its voicemail: never the debt)."""

from __future__ import annotations

from pathlib import Path

import yaml

from adapters.config_files import CONFIG_DIR
from domain.content import ContentRules, Kind, check_template
from domain.policy import PolicyProfile

SECTIONS: tuple[Kind, ...] = ("sms", "scripts", "third_party", "location", "greeting", "letters")
# Templates the workflow uses by name, besides those a policy's schedule names.
FIXED: dict[str, Kind] = {"verify_update": "sms", "self_service_code": "sms", "self_service_link": "sms",
                          "visit_brief": "scripts", "whereabouts_request": "third_party",
                          "location_inquiry": "location", "robot_identify": "greeting", "robot_voicemail": "greeting",
                          "validation_notice": "letters", "default_notice": "letters", "arrears_notice": "letters",
                          "visit_notice": "letters", "credit_report_notice": "letters"}


STEP_SECTION: dict[str, Kind] = {"sms": "sms", "letter": "letters"}  # a schedule step's; calls: "scripts"


class TemplateError(LookupError):
    pass


class TemplateLibrary:
    def __init__(self, folder: Path = CONFIG_DIR / "templates", fallback: str = "en"):
        self.folder, self.fallback = folder, fallback
        self.locales: dict[str, dict] = {
            p.stem: yaml.safe_load(p.read_text(encoding="utf-8")) or {} for p in sorted(folder.glob("*.yaml"))
        }
        if fallback not in self.locales:
            raise TemplateError(f"no templates for the fallback locale {fallback!r} in {folder.name}/")

    def _find(self, template: str, locale: str) -> tuple[str, str]:
        for loc in (locale, self.fallback):
            texts = self.locales.get(loc, {})
            for section in SECTIONS:
                if template in texts.get(section, {}):
                    return texts[section][template], texts.get("opt_out", "")
        raise TemplateError(f"no template {template!r} for locale {locale!r} or {self.fallback!r}")

    def render(self, template: str, locale: str, variables: dict[str, str], with_opt_out: bool) -> str:
        text, opt_out = self._find(template, locale)
        return text.format_map({**variables, "opt_out": opt_out if with_opt_out else ""}).strip()

    def problems(self, rules: ContentRules, policies: list[PolicyProfile]) -> list[str]:
        """Everything wrong with the library, for these policies: empty when it may be used."""
        out = []
        needed = dict(FIXED)
        for policy in policies:
            needed[policy.relationship.template] = "sms"
            needed[policy.early_warning.template] = "sms"
            for treatment in policy.segments.values():
                for step in treatment.schedule:
                    if step.channel != "email":  # e-mails have their own library (`adapters.email`)
                        needed[step.template] = STEP_SECTION.get(step.channel, "scripts")
        for locale, texts in self.locales.items():
            if not texts.get("opt_out"):
                out.append(f"locale {locale}: opt_out text missing")
            for section in SECTIONS:
                for name, text in (texts.get(section) or {}).items():
                    out += check_template(name, section, text, locale, rules)
            for name, section in sorted(needed.items()):
                if name not in (texts.get(section) or {}):
                    out.append(f"template {name!r} ({locale}): missing from section {section!r}")
        return out

    def check(self, rules: ContentRules, policies: list[PolicyProfile]) -> None:
        problems = self.problems(rules, policies)
        if problems:
            raise TemplateError("templates failed their checks:\n  " + "\n  ".join(problems))


def load_content_rules(folder: Path = CONFIG_DIR) -> ContentRules:
    return ContentRules.model_validate(yaml.safe_load((folder / "content_rules.yaml").read_text(encoding="utf-8")))
