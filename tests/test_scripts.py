"""The script library: the shipped scripts pass the content rules, and each borrower gets the script
that fits them, in their language, with the vulnerable rule held both ways."""

from __future__ import annotations

import itertools
import re
import shutil

import pytest
import yaml
from pydantic import ValidationError

from adapters.config_files import CONFIG_DIR
from adapters.scripts import ScriptError, load_scripts
from adapters.templates import load_content_rules
from domain.enums import DelinquencyReason, Segment, Stage
from domain.scripts import AGENT_STAGES, ScriptLibrary, Situation, choose
from workflows import scripts_shown

SHIPPED = yaml.safe_load((CONFIG_DIR / "scripts.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def library() -> ScriptLibrary:
    return load_scripts()


def situation(stage: Stage = Stage.REMOTE_CONTACT, *, reason: DelinquencyReason | None = None,
              segment: Segment | None = None, vulnerable: bool = False, locale: str = "en") -> Situation:
    return Situation(stage=stage, segment=segment, reason=reason, vulnerable=vulnerable, locale=locale)


def script(id: str, when: dict | None = None, locales: tuple[str, ...] = ("en",)) -> dict:
    return {"id": id, "when": when or {}, "why": {loc: f"why {id} {loc}" for loc in locales},
            "text": {loc: f"{{sender_name}}: {id} {loc}" for loc in locales}}


DEFAULTS = [script(f"{stage.value}_default", {"stages": [stage.value]}) for stage in AGENT_STAGES]


def test_the_shipped_library_loads_and_passes_the_content_rules(library):
    assert len(library.scripts) >= 12
    assert all({"en", "zh-CN"} <= set(s.text) for s in library.scripts)
    # Every reason has a script of its own, somewhere
    assert {r for s in library.scripts for r in s.when.reasons or ()} == set(DelinquencyReason)


def test_a_threat_is_refused_at_load_naming_the_script_and_locale(tmp_path):
    data = yaml.safe_load(yaml.safe_dump(SHIPPED))
    data[0]["text"]["zh-CN"] += "不还就后果自负。"
    data[1]["text"]["en"] += " Pay today or else."
    path = tmp_path / "scripts.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ScriptError) as error:
        load_scripts(path, rules=load_content_rules())
    message = str(error.value)
    assert f"template {data[0]['id']!r} (zh-CN, scripts): forbidden.threat" in message
    assert f"template {data[1]['id']!r} (en, scripts): forbidden.threat" in message  # every problem, not the first


def test_a_reason_specific_script_wins_over_the_stage_default(library):
    assert choose(library, situation()).script_id == "remote_contact_default"
    chosen = choose(library, situation(reason=DelinquencyReason.JOB_LOSS))
    assert chosen is not None and chosen.script_id == "job_loss_listen" and chosen.locale == "en"
    assert "{sender_name}" in chosen.text and chosen.why


def test_the_most_specific_script_wins_and_ties_go_to_the_first_listed():
    lib = ScriptLibrary.model_validate({"scripts": [
        script("by_reason", {"reasons": ["forgot"]}),
        script("by_reason_too", {"reasons": ["forgot"]}),
        script("by_reason_and_segment", {"reasons": ["forgot"], "segments": ["low_risk"]}),
        *DEFAULTS,  # as specific as a reason alone: listed last, they lose the tie
    ]})
    forgot = situation(reason=DelinquencyReason.FORGOT)
    assert choose(lib, forgot).script_id == "by_reason"
    assert choose(lib, forgot.model_copy(update={"segment": Segment.LOW_RISK})).script_id == "by_reason_and_segment"
    # An unknown segment does not satisfy a script that asks for one
    assert choose(lib, forgot.model_copy(update={"segment": None})).script_id == "by_reason"
    first = ScriptLibrary.model_validate({"scripts": [*DEFAULTS, script("by_reason", {"reasons": ["forgot"]})]})
    assert choose(first, forgot).script_id == "remote_contact_default"


def test_a_vulnerable_borrower_never_gets_a_script_for_others_and_the_reverse(library):
    lib = ScriptLibrary.model_validate({"scripts": [
        script("not_for_vulnerable", {"reasons": ["refuses"], "vulnerable": False}),
        script("only_for_vulnerable", {"vulnerable": True}),
        *DEFAULTS,
    ]})
    refuses = situation(reason=DelinquencyReason.REFUSES)
    assert choose(lib, refuses).script_id == "not_for_vulnerable"
    assert choose(lib, refuses.model_copy(update={"vulnerable": True})).script_id == "only_for_vulnerable"
    assert choose(lib, situation(Stage.PROMISE)).script_id == "promise_default"  # not the vulnerable one
    # In the shipped library
    assert choose(library, situation(reason=DelinquencyReason.REFUSES, vulnerable=True)).script_id == "vulnerable_care"
    assert choose(library, situation(vulnerable=True)).script_id == "vulnerable_care"


def test_a_locale_without_the_script_falls_back_to_english(library):
    chosen = choose(library, situation(reason=DelinquencyReason.ILLNESS, locale="fr"))
    assert chosen is not None and chosen.locale == "en"
    assert chosen.text == next(s for s in library.scripts if s.id == "illness_listen").text["en"]


def test_a_chinese_speaker_gets_chinese_text(library):
    chosen = choose(library, situation(Stage.FIELD_VISIT, reason=DelinquencyReason.DISPUTE, locale="zh-CN"))
    assert chosen is not None and (chosen.script_id, chosen.locale) == ("dispute_stop", "zh-CN")
    assert "核实" in chosen.text and "{sender_name}" in chosen.text and "异议" in chosen.why


def test_a_script_for_some_locales_only_reaches_them():
    lib = ScriptLibrary.model_validate({"scripts": [script("cn_only", {"locales": ["zh-CN"]}), *DEFAULTS]})
    assert choose(lib, situation(locale="zh-CN")).script_id == "cn_only"
    assert choose(lib, situation(locale="en")).script_id == "remote_contact_default"


@pytest.mark.parametrize("stage", AGENT_STAGES)
def test_every_agent_worked_situation_gets_a_script(library, stage):
    for reason, segment, vulnerable, locale in itertools.product(
            [None, *DelinquencyReason], [None, *Segment], [False, True], ["en", "zh-CN"]):
        chosen = choose(library, situation(stage, reason=reason, segment=segment, vulnerable=vulnerable,
                                           locale=locale))
        assert chosen is not None, (stage, reason, segment, vulnerable)
        assert chosen.locale == locale
        when = next(s for s in library.scripts if s.id == chosen.script_id).when
        assert when.vulnerable in (None, vulnerable), (stage, reason, vulnerable, chosen.script_id)


def test_nothing_is_chosen_outside_the_stages_people_work(library):
    assert choose(library, situation(Stage.VERIFICATION)) is None


@pytest.mark.parametrize("scripts, message", [
    ([*DEFAULTS, script("twice"), script("twice")], "unique; repeated: twice"),
    (DEFAULTS[1:], "no default script (constraining only `stages`) for the agent-worked stages: remote_contact"),
    ([*DEFAULTS[1:], script("any", {"reasons": ["forgot"]})], "remote_contact"),
    ([*DEFAULTS, script("zh_only", locales=("zh-CN",))], "needs an 'en' text and why"),
    ([*DEFAULTS, {**script("no_why"), "why": {"en": "x", "zh-CN": "y"}}], "same locales"),
    ([*DEFAULTS, {**script("odd"), "text": {"en": "{sender_name} {due_date}"}}], "unknown placeholders ['due_date']"),
    ([*DEFAULTS, {**script("brace"), "text": {"en": "{sender_name} {"}}], "literal brace"),
    ([*DEFAULTS, script("empty", {"reasons": []})], "at least 1 item"),
])
def test_the_library_refuses_what_would_leave_an_agent_without_a_script(scripts, message):
    with pytest.raises(ValidationError, match=re.escape(message)):
        ScriptLibrary.model_validate({"scripts": scripts})


def test_a_repeated_id_is_refused_at_load_naming_it(tmp_path):
    path = tmp_path / "scripts.yaml"
    path.write_text(yaml.safe_dump([*SHIPPED, SHIPPED[-1]], allow_unicode=True), encoding="utf-8")
    with pytest.raises(ScriptError, match=f"scripts.yaml is invalid: .*repeated: {SHIPPED[-1]['id']}"):
        load_scripts(path)


async def test_a_worker_refuses_to_start_with_a_script_that_breaks_the_content_rules(tmp_path, env, engine, config_dir):
    """The library is checked when the worker is built, as templates are: a bad script never reaches an agent."""
    from adapters.providers.sandbox import SandboxProvider
    from worker import build_worker

    folder = tmp_path / "config"
    shutil.copytree(config_dir, folder)
    bad = [{**s, "text": {**s["text"], "en": s["text"]["en"] + " Pay now or we will have you arrested."}}
           if s["id"] == SHIPPED[0]["id"] else s for s in SHIPPED]
    (folder / "scripts.yaml").write_text(yaml.safe_dump(bad, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ScriptError, match=SHIPPED[0]["id"]):
        build_worker(env.client, engine, SandboxProvider(engine), "q-scripts", folder)
    build_worker(env.client, engine, SandboxProvider(engine), "q-scripts", config_dir)
    assert scripts_shown.installed() is not None  # what the case's current details show from
