"""Policy profiles, rule packs, templates and contact data: validated at load, with clear errors."""

from __future__ import annotations

import shutil

import pytest
import yaml

from adapters.config_files import (
    CONFIG_DIR,
    ConfigError,
    load_case_config,
    load_policy,
    load_rule_pack,
    packs_for_country,
)
from adapters.templates import TemplateLibrary
from domain import contacts
from domain.case_input import Address, Borrower, CaseInput
from tests import factories

POLICIES = sorted(p.stem for p in (CONFIG_DIR / "policies").glob("*.yaml"))
PACKS = sorted(p.stem for p in (CONFIG_DIR / "rulepacks").glob("*.yaml"))
LOCALES = sorted(p.stem for p in (CONFIG_DIR / "templates").glob("*.yaml"))


@pytest.mark.parametrize("name", POLICIES)
def test_shipped_policies_load(name):
    assert load_policy(name).name == name


@pytest.mark.parametrize("name", PACKS)
def test_shipped_rule_packs_load_and_cite_sources(name):
    pack = load_rule_pack(name)
    assert pack.name == name and pack.sources and pack.version


def test_a_broken_policy_names_the_file_and_the_field(tmp_path):
    shutil.copytree(CONFIG_DIR, tmp_path, dirs_exist_ok=True)
    data = yaml.safe_load((tmp_path / "policies" / "standard.yaml").read_text())
    bad_field = yaml.safe_load(yaml.safe_dump(data))
    bad_field["promise"]["grace"] = "soon"
    missing = yaml.safe_load(yaml.safe_dump(data))
    del missing["segments"]["hardship"]
    for name, broken, expected in [("bad-field", bad_field, "promise.grace"), ("missing", missing, "hardship")]:
        (tmp_path / "policies" / f"{name}.yaml").write_text(yaml.safe_dump(broken))
        with pytest.raises(ConfigError) as error:
            load_policy(name, tmp_path)
        assert f"policies/{name}.yaml is invalid" in str(error.value) and expected in str(error.value)


def test_an_unknown_policy_lists_the_known_ones():
    with pytest.raises(ConfigError, match="known: demo, standard"):
        load_policy("nope")


def test_country_chooses_packs_and_extra_packs_add_stricter_rules():
    assert packs_for_country("CN") == ["cn"] and packs_for_country("US") == ["us-regf"]
    assert packs_for_country("FR") == ["cn"]  # the default pack where no pack names the country
    config = load_case_config("standard", "GB", ["cn"])
    assert config.rules.packs == ["uk-conc@2026.1", "cn@2026.1"] and config.rules.voice.max_interactions_per_day == 3


@pytest.mark.parametrize("locale", LOCALES)
def test_every_template_a_policy_uses_exists_and_every_sms_names_sender_and_number(locale):
    library = TemplateLibrary()
    steps = [s for p in POLICIES for t in load_policy(p).segments.values() for s in t.schedule]
    sms = {s.template for s in steps if s.channel == "sms"} | {"verify_update"}
    sms |= {load_policy(p).relationship.template for p in POLICIES}
    scripts = {s.template for s in steps if s.channel != "sms"} | {"visit_brief"}
    variables = {"sender_name": "SENDER", "sender_number": "400-1", "amount": "1.00", "currency": "CNY",
                 "due_date": "2026-12-01", "neutral_sender": "NEUTRAL", "first_name": "Wei",
                 "collectors": "collector-a, collector-b", "profile": "segment high risk"}
    for template in sorted(sms):
        text = library.render(template, locale, variables, with_opt_out=True)
        assert "SENDER" in text and "400-1" in text, template
    for template in sorted(scripts):
        assert "SENDER" in library.render(template, locale, variables, with_opt_out=False), template
    sms = library.render("reminder_due", locale, variables, with_opt_out=True)
    assert sms != library.render("reminder_due", locale, variables, with_opt_out=False)
    # Right party first: what a robot says before the borrower confirms names neither the lender nor the debt
    for greeting in ("robot_identify", "robot_voicemail"):
        text = library.render(greeting, locale, variables, with_opt_out=False)
        assert "NEUTRAL" in text and "SENDER" not in text and "1.00" not in text, greeting


def test_phone_verification_uses_validity_and_line_type():
    borrower = Borrower(name="x", mobile_numbers=["+86 138 0013 8050", "010-12345678", "12345"],
                        timezone="Asia/Shanghai", country="CN", address=Address(line1="1 Rd", city="Beijing"))
    report = contacts.verify("c1", borrower, [])
    assert [(p.valid, p.line_type) for p in report.phones] == [(True, "mobile"), (False, "fixed_line"),
                                                                (False, "unknown")]
    assert report.missing == ["an emergency contact"] and report.address_complete
    assert contacts.phone_ref("c1", "13800138050", "CN") == contacts.phone_ref("c1", "+86 138-0013-8050", "CN")
    assert contacts.phone_ref("c1", "13800138050", "CN") != contacts.phone_ref("c2", "13800138050", "CN")


def test_case_input_refuses_what_would_break_a_case():
    data = factories.case().model_dump(mode="json")
    for path, value, message in [
        (("case_id",), "bad id with spaces", "case_id"),
        (("borrower", "timezone"), "Mars/Base", "unknown IANA timezone"),
        (("loan", "outstanding_balance"), "0", "greater than 0"),
        (("loan", "currency"), "yuan", "pattern"),
        (("policy",), "../etc", "pattern"),
    ]:
        broken = yaml.safe_load(yaml.safe_dump(data))
        target = broken
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        with pytest.raises(ValueError, match=message):
            CaseInput.model_validate(broken)


@pytest.mark.parametrize("section, name, text, rule", [
    ("sms", "reminder_due", "{sender_name}: pay {amount} now or we will take legal action. {sender_number}{opt_out}",
     "forbidden.legal_threat"),
    ("sms", "reminder_due", "Pay {amount} now, call {sender_number}.{opt_out}", "sender.identity"),
    ("sms", "reminder_firm", "{sender_name}: the court has been informed. {sender_number}{opt_out}",
     "forbidden.impersonation"),
    ("sms", "reminder_gentle", "{sender_name}: take a payday loan and pay us. {sender_number}{opt_out}",
     "forbidden.borrow_to_repay"),
    ("sms", "reminder_gentle", "{sender_name}: please pay. {sender_number}", "opt_out"),
    ("third_party", "whereabouts_request",
     "{neutral_sender}: {contact_person} owes us {amount}. Call {sender_number}.{opt_out}", "third_party.disclosure"),
    ("scripts", "robot_reminder", "This is {sender_name}. You deadbeat, pay now.", "forbidden.insult"),
])
def test_a_failing_template_stops_the_worker_naming_it_and_the_rule(tmp_path, engine, section, name, text, rule):
    from temporalio.client import Client

    from adapters.providers.sandbox import SandboxProvider
    from adapters.templates import TemplateError
    from worker import build_worker

    shutil.copytree(CONFIG_DIR, tmp_path, dirs_exist_ok=True)
    path = tmp_path / "templates" / "en.yaml"
    data = yaml.safe_load(path.read_text())
    data[section][name] = text
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    client = Client.__new__(Client)  # never used: the check runs before anything connects
    with pytest.raises(TemplateError) as error:
        build_worker(client, engine, SandboxProvider(engine), "q", tmp_path)
    assert f"template {name!r} (en, {section}): {rule}" in str(error.value)


def test_a_template_a_policy_needs_must_exist_in_every_locale(tmp_path):
    from adapters.templates import TemplateLibrary, load_content_rules

    shutil.copytree(CONFIG_DIR, tmp_path, dirs_exist_ok=True)
    path = tmp_path / "templates" / "zh-CN.yaml"
    data = yaml.safe_load(path.read_text())
    del data["sms"]["reminder_firm"]
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    problems = TemplateLibrary(tmp_path / "templates").problems(load_content_rules(), [load_policy("standard")])
    assert problems == ["template 'reminder_firm' (zh-CN): missing from section 'sms'"]


def test_temporal_cloud_is_configuration_alone(tmp_path, monkeypatch):
    from temporalio.service import TLSConfig

    from settings import Settings

    for name in ("TEMPORAL_API_KEY", "TEMPORAL_TLS_CERT", "TEMPORAL_TLS_KEY", "TEMPORAL_TLS"):
        monkeypatch.delenv(name, raising=False)
    assert Settings().cloud_options() == {}
    monkeypatch.setenv("TEMPORAL_API_KEY", "key-1")
    assert Settings().cloud_options() == {"api_key": "key-1", "tls": True}
    cert, key = tmp_path / "client.pem", tmp_path / "client.key"
    cert.write_bytes(b"CERT"), key.write_bytes(b"KEY")
    monkeypatch.setenv("TEMPORAL_TLS_CERT", str(cert))
    with pytest.raises(SystemExit, match="go together"):
        Settings().cloud_options()
    monkeypatch.setenv("TEMPORAL_TLS_KEY", str(key))
    tls = Settings().cloud_options()["tls"]
    assert isinstance(tls, TLSConfig) and (tls.client_cert, tls.client_private_key) == (b"CERT", b"KEY")
