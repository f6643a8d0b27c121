"""Reads the script library (`config/scripts.yaml`) and checks it before the worker starts: a script
an agent reads aloud passes the same content rules as any template, so a bad one stops the worker
rather than reach a borrower. Also holds the worker's library for the process."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from adapters.config_files import CONFIG_DIR
from adapters.templates import load_content_rules
from domain.content import ContentRules, check_template
from domain.errors import explain
from domain.scripts import ScriptLibrary


class ScriptError(ValueError):
    """The script library is missing, invalid or breaks a content rule; the message lists every problem."""


def problems(library: ScriptLibrary, rules: ContentRules) -> list[str]:
    """Every content-rule problem of every script's text, in every locale: empty when it may be used."""
    return [problem for script in library.scripts for locale, text in script.text.items()
            for problem in check_template(script.id, "scripts", text, locale, rules)]


def load_scripts(path: Path = CONFIG_DIR / "scripts.yaml", rules: ContentRules | None = None) -> ScriptLibrary:
    """The library, validated and checked against the content rules (the shipped ones if none given)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScriptError(f"no script library at {path}") from None
    except yaml.YAMLError as e:
        raise ScriptError(f"{path.name} is not valid YAML: {e}") from e
    try:
        library = ScriptLibrary.model_validate({"scripts": data or []})
    except ValidationError as e:
        raise ScriptError(f"{path.name} is invalid: {explain(e)}") from e
    found = problems(library, rules if rules is not None else load_content_rules())
    if found:
        raise ScriptError(f"{path.name}: scripts failed their checks:\n  " + "\n  ".join(found))
    return library
