"""Message templates per locale (`config/templates/<locale>.yaml`), rendered in the activity."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

from domain.policy import CONFIG_DIR


class TemplateError(LookupError):
    pass


class TemplateLibrary:
    def __init__(self, folder: Path = CONFIG_DIR / "templates", fallback: str = "en"):
        self.folder, self.fallback = folder, fallback

    @cache  # noqa: B019 - one library per process, loaded once per locale
    def _locale(self, locale: str) -> dict[str, str]:
        path = self.folder / f"{locale}.yaml"
        if not path.is_file():
            return {}
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}

    def render(self, template: str, locale: str, variables: dict[str, str], with_opt_out: bool) -> str:
        texts = self._locale(locale) or self._locale(self.fallback)
        if template not in texts:
            texts = self._locale(self.fallback)
        if template not in texts:
            raise TemplateError(f"no template {template!r} for locale {locale!r} or {self.fallback!r}")
        opt_out = texts.get("opt_out", "") if with_opt_out else ""
        return texts[template].format_map({**variables, "opt_out": opt_out}).strip()
