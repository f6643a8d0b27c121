"""Records retention: a closed case keeps its records for its packs' longest period, then its personal data is
erased while every hash chain still verifies; the compliance report flags a case kept too long."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import insert, select, text

from adapters import db
from adapters.config_files import CONFIG_DIR, load_rule_pack
from adapters.ledger import Ledger
from domain import retention as rt
from domain.enums import Channel, HardshipReason, Outcome, PlanStatus, Stage, VulnerabilityDriver
from domain.journal import verify_chain
from domain.policy import combine_packs
from domain.state import ContactAttempt, HardshipPlan, Vulnerability
from domain.status import CaseStatus
from service.compliance import compliance_report
from service.retention import due, erase, scan

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2031, 6, 15, 12, 0, tzinfo=UTC)
NAME, NUMBER, DISPUTE = "Li Lei", "+8613800138000", "my husband took this loan without telling me"


def pack(name: str, years: int | None):
    return load_rule_pack("cn").model_copy(update={"name": name, "records_retention_years": years})


# --- the rule (domain/retention.py) ----------------------------------------------------------------


def test_the_shipped_packs_each_set_a_retention_period():
    assert {n: load_rule_pack(n).records_retention_years for n in ("cn", "us-regf", "uk-conc")} == {
        "cn": 5, "us-regf": 3, "uk-conc": 6}


def test_years_are_added_on_the_calendar_and_29_february_moves_later():
    assert rt.add_years(datetime(2026, 3, 1, 23, 30, tzinfo=UTC), 5) == datetime(2031, 3, 1, 23, 30, tzinfo=UTC)
    assert rt.add_years(datetime(2028, 2, 29, 8, tzinfo=UTC), 3) == datetime(2031, 3, 1, 8, tzinfo=UTC)
    shanghai = datetime.fromisoformat("2026-01-01T01:00:00+08:00")  # still 2025 in UTC
    assert rt.add_years(shanghai, 1) == datetime(2026, 12, 31, 17, tzinfo=UTC)


def test_the_longest_period_among_a_cases_packs_wins_and_is_named():
    assert rt.period([pack("us-regf", 3), pack("cn", 5)]) == (5, "cn")
    assert rt.period([pack("a", 6), pack("b", 6)]) == (6, "a")
    with pytest.raises(ValueError, match="rule pack x sets no records_retention_years"):
        rt.period([pack("cn", 5), pack("x", None)])
    with pytest.raises(ValueError, match="at least 1"):
        rt.period([pack("z", 0)])


def test_retention_runs_from_the_closing_or_a_later_activity_and_never_for_an_open_case():
    closed = datetime(2026, 5, 1, tzinfo=UTC)
    assert rt.retention(None, [pack("cn", 5)]) is None
    r = rt.retention(closed, [pack("us-regf", 3), pack("cn", 5)], last_activity=closed - timedelta(days=3))
    assert (r.starts, r.ends, r.pack, r.years) == (closed, datetime(2031, 5, 1, tzinfo=UTC), "cn", 5)
    later = closed + timedelta(days=40)  # a complaint resolved after the case closed
    assert rt.retention(closed, [pack("cn", 5)], last_activity=later).ends == datetime(2031, 6, 10, tzinfo=UTC)
    assert not r.due(r.ends - timedelta(seconds=1)) and r.due(r.ends) and r.due(r.ends + timedelta(days=1))


def test_personal_fields_are_found_mapped_and_the_status_scrubbed_stays_valid():
    data = {"kind": "dispute", "reason": "not mine", "until": None, "ref": ""}
    assert rt.plaintext_personal("hold_started", data) == ["reason"]  # blank ones hold nothing
    sealed = rt.map_personal("hold_started", data, lambda f, v: {rt.SEALED: "x"})
    assert sealed == {"kind": "dispute", "reason": {rt.SEALED: "x"}, "until": None, "ref": ""}
    assert rt.plaintext_personal("hold_started", sealed) == [] and rt.plaintext_personal("receipt", data) == []
    at = datetime(2026, 5, 1, tzinfo=UTC)
    status = CaseStatus(
        case_id="S-1", stage=Stage.SETTLED, segment=None, currency="CNY", balance=Decimal(0), total_paid=Decimal(9),
        days_past_due=40, flags=["vulnerable"], contact_counts={"sms": 1},
        last_contacts=[ContactAttempt(key="k", channel=Channel.SMS, phone_ref="ab12", at=at, outcome=Outcome.SENT)],
        pending_promise=None, visit=None, pending_approvals=[], next_action=None, verification_missing=[],
        plan=HardshipPlan(plan_id="p", reason=HardshipReason.ILLNESS, instalments=[], penalty_waived=Decimal(0),
                          needs_approval=False, status=PlanStatus.COMPLETED, paid_at_start=Decimal(0),
                          credit_effect="none"),
        vulnerability=Vulnerability(driver=VulnerabilityDriver.HEALTH, source="borrower", recorded_at=at,
                                    review_due=at),
        policy="standard", rule_packs=["cn@2026.1"], run=1).model_dump(mode="json")
    scrubbed = rt.scrub_status(status)
    again = CaseStatus.model_validate(scrubbed)
    assert again.vulnerability and again.vulnerability.driver is None and again.plan is None
    assert again.last_contacts[0].phone_ref is None and again.flags == ["vulnerable"]
    assert "health" not in json.dumps(scrubbed) and "illness" not in json.dumps(scrubbed)
    assert rt.scrub_status(scrubbed) == scrubbed and rt.scrub_status(None) is None


# --- the ledger (a real PostgreSQL) -----------------------------------------------------------------


class Plant:
    """Closed (or open) cases written straight into the ledger, with personal data where it can be."""

    def __init__(self, engine):
        self.engine, self.ledger, self.ids = engine, Ledger(engine), []
        self.codes: dict[str, str] = {}  # a case's one-time code message, in the sandbox

    async def case(self, closed_at: datetime | None, packs: tuple[str, ...] = ("cn",), sealed: bool = True,
                   last_activity: datetime | None = None) -> str:
        case_id = f"RET-{uuid.uuid4().hex[:10]}"
        self.ids.append(case_id)
        opened = ((closed_at or NOW) - timedelta(days=90)).replace(hour=1, minute=0)  # 09:00 in Shanghai
        rules = combine_packs([load_rule_pack(p) for p in packs])
        status = {"vulnerability": {"driver": "health", "source": "borrower"}, "plan": {"reason": "illness"},
                  "last_contacts": [{"key": f"{case_id}:sms:1", "phone_ref": "ab12cd34"}]}
        async with self.engine.begin() as conn:
            await conn.execute(insert(db.cases).values(
                case_id=case_id, workflow_id=f"case-{case_id}", policy="standard", rule_packs=rules.packs,
                country="CN", currency="CNY", principal=Decimal(1000), balance=Decimal(0),
                stage="withdrawn" if closed_at else "remote_contact", opened_at=opened, closed_at=closed_at,
                outcome_reason=f"dispute upheld: {DISPUTE}" if closed_at else None, status=status))
            await conn.execute(insert(db.loans).values(
                loan_id=f"L-{case_id}", overdue_since=opened.date(),
                case={"case_id": case_id, "borrower": {"name": NAME, "mobile_numbers": [NUMBER]}}))
            await conn.execute(insert(db.contact_attempts).values(
                case_id=case_id, idempotency_key=f"{case_id}:sms:1", channel="sms", person="borrower",
                phone_ref="ab12cd34", template="reminder_due", robot=False, outcome="delivered", provider="sandbox",
                provider_message_id="msg-1", guard_rule="allow", guard_packs=rules.packs,
                planned_at=opened + timedelta(days=1, hours=2)))
            await conn.execute(insert(db.sandbox_messages).values(
                idempotency_key=f"{case_id}:sms:1", channel="sms", to_masked="+86138****8000",
                body=f"{NAME}, please call us", outcome="delivered", distress=False))
            link, session = uuid.uuid4().hex * 2, uuid.uuid4().hex * 2  # the page: a link, a session, its code
            await conn.execute(insert(db.self_service_links).values(
                token_digest=link, case_id=case_id, channel="sms", destination={"sealed": "x"}, locale="zh-CN",
                expires_at=opened + timedelta(days=14)))
            await conn.execute(insert(db.self_service_sessions).values(
                session_digest=session, token_digest=link, case_id=case_id, last_seen_at=opened,
                expires_at=opened + timedelta(minutes=30)))
            self.codes[case_id] = f"{db.CODE_MESSAGE_PREFIX}{session[:12]}:1"
            await conn.execute(insert(db.sandbox_messages).values(
                idempotency_key=self.codes[case_id], channel="sms",
                to_masked="+86138****8000", body="your code is 123456", outcome="delivered", distress=False))
            await conn.execute(insert(db.reply_routes).values(
                address_digest=uuid.uuid4().hex * 2, case_id=case_id, channel="sms", person="borrower",
                last_sent_at=opened))
            await conn.execute(insert(db.plans).values(
                case_id=case_id, plan_id=f"{case_id}:plan", status="completed", reason="illness", instalments=[],
                penalty_waived=Decimal(0), credit_effect="none"))
        write = self.ledger.record_sealed_event if sealed else self.ledger.record_event
        entries = [
            ("case_opened", opened, {"rules": rules.model_dump(mode="json"), "timezone": "Asia/Shanghai",
                                     "policy": "standard@1"}),
            ("assessed", opened + timedelta(hours=1), {"inputs": {"monthly_income": "8000.00"}, "segment": "x"}),
            ("contact_attempt", opened + timedelta(days=1, hours=2), {  # 10:00 in Shanghai
                "channel": "sms", "person": "borrower", "phone_ref": "ab12cd34", "outcome": "delivered",
                "with_opt_out": True, "distress": False, "robot": False, "template": "reminder_due"}),
            ("dispute_opened", opened + timedelta(days=2), {"reason": "not mine", "details": DISPUTE,
                                                            "written": True}),
            ("hold_started", opened + timedelta(days=2), {"kind": "dispute", "reason": "not mine", "until": None}),
            ("vulnerability_recorded", opened + timedelta(days=3), {"driver": "health", "source": "borrower"}),
        ]
        if last_activity is not None:
            entries.append(("complaint_resolved", last_activity, {"complaint_id": "c1", "explanation": DISPUTE}))
        for n, (kind, at, data) in enumerate(entries):
            await write(case_id, f"{case_id}:{kind}:{n}", kind, at, data)
        return case_id

    async def rows(self, case_id: str) -> dict[str, Any]:
        """Everything the ledger holds of the case outside the journal, as text."""
        out: dict[str, Any] = {}
        async with self.engine.connect() as conn:
            for table in (db.cases, db.contact_attempts, db.plans, db.self_service_links, db.self_service_sessions,
                          db.reply_routes):
                out[table.name] = [dict(r) for r in (await conn.execute(
                    select(table).where(table.c.case_id == case_id))).mappings()]
            out["loans"] = [dict(r) for r in (await conn.execute(text(
                "SELECT * FROM loans WHERE \"case\" ->> 'case_id' = :c"), {"c": case_id})).mappings()]
            out["sandbox"] = [dict(r) for r in (await conn.execute(text(
                "SELECT * FROM sandbox_messages WHERE idempotency_key LIKE :k OR idempotency_key = :code"),
                {"k": f"{case_id}:%", "code": self.codes[case_id]})).mappings()]
            keys = await conn.execute(select(db.case_keys).where(db.case_keys.c.case_id == case_id))
            out["key"] = keys.mappings().first()
        return out


@pytest.fixture
async def plant(engine):
    p = Plant(engine)
    yield p
    await erase(p.ledger, datetime(2200, 1, 1, tzinfo=UTC), p.ids)  # leave no case due for whole-ledger audits


async def test_due_lists_closed_cases_past_the_longest_period_and_never_too_soon(plant):
    five = rt.add_years(NOW, -5)
    before = await plant.case(five + timedelta(days=1))                  # ends tomorrow
    after = await plant.case(five - timedelta(days=1))                   # ended yesterday
    exactly = await plant.case(five)                                     # ends now
    still_open = await plant.case(None)                                  # open: never
    both = await plant.case(rt.add_years(NOW, -4), packs=("cn", "us-regf"))  # us-regf's 3 passed, cn's 5 not
    us = await plant.case(rt.add_years(NOW, -4), packs=("us-regf",))
    complaint = await plant.case(rt.add_years(NOW, -6), last_activity=rt.add_years(NOW, -5) + timedelta(days=1))
    found = {c.case_id: c for c in await due(plant.ledger, NOW, plant.ids)}
    assert set(found) == {after, exactly, us}
    assert (found[after].retention.pack, found[after].retention.years) == ("cn", 5)
    assert found[after].retention.ends == rt.add_years(five - timedelta(days=1), 5)
    assert found[after].packs == ["cn@2026.1"] and found[after].closed_at == five - timedelta(days=1)
    assert (found[us].retention.pack, found[us].retention.years) == ("us-regf", 3)
    assert set(found[after].held) == {"loans", "case_key", "contact_refs", "sandbox_messages", "plan_reasons",
                                      "self_service", "reply_routes", "case_row"}
    a_year_on = {c.case_id: c for c in await due(plant.ledger, rt.add_years(NOW, 1) + timedelta(days=1), plant.ids)}
    assert set(a_year_on) == {before, after, exactly, both, us, complaint} and still_open not in a_year_on
    assert a_year_on[both].retention.pack == "cn"  # the longest of its packs


async def test_erasure_removes_the_personal_data_and_every_chain_still_verifies(plant):
    case_id = await plant.case(rt.add_years(NOW, -6))
    opened = (await plant.ledger.open_journal(case_id))[case_id]
    assert any(e.data.get("details") == DISPUTE for e in opened)  # readable while kept
    raw = (await plant.ledger.journal(case_id))[case_id]
    assert DISPUTE not in json.dumps([e.data for e in raw]) and "health" not in json.dumps([e.data for e in raw])
    assert verify_chain(raw) is None  # the chain covers the sealed form

    [done] = await erase(plant.ledger, NOW, [case_id])
    assert done.erased == {"loans": 1, "case_key": 1, "contact_refs": 1, "sandbox_messages": 1, "plan_reasons": 1,
                           "self_service": 3, "reply_routes": 1, "case_row": 1}  # a code's copy, a session, a link
    assert done.journal_plaintext == 0 and done.retention.pack == "cn"
    rows = await plant.rows(case_id)
    assert rows["loans"] == [] and rows["sandbox"] == []
    assert rows["self_service_links"] == rows["self_service_sessions"] == rows["reply_routes"] == []
    assert rows["key"]["key"] is None and rows["key"]["destroyed_at"] is not None
    [attempt], [plan], [case] = rows["contact_attempts"], rows["plans"], rows["cases"]
    assert (attempt["phone_ref"], attempt["provider_message_id"], attempt["outcome"]) == (None, None, "delivered")
    assert plan["reason"] == "erased" and case["outcome_reason"] is None and case["stage"] == "withdrawn"
    assert case["status"]["vulnerability"]["driver"] is None and case["status"]["plan"] is None
    journal = (await plant.ledger.journal(case_id))[case_id]
    assert verify_chain(journal) is None and journal[:-1] == raw  # nothing rewritten, one entry added
    last = journal[-1]
    assert (last.kind, last.key, last.at) == (rt.ERASED_KIND, f"{case_id}:{rt.ERASED_KIND}:1", NOW)
    assert last.data == {"on": "2031-06-15", "erased": done.erased, "journal_plaintext_fields": 0,
                         "retention": {"pack": "cn", "years": 5, "ended": done.retention.ends.isoformat()}}
    everything = json.dumps([rows, [e.data for e in (await plant.ledger.open_journal(case_id))[case_id]]],
                            default=str)
    for personal in (NAME, NUMBER, DISPUTE, "illness", "health", "8000.00", "not mine"):
        assert personal not in everything, personal
    assert "ab12cd34" not in json.dumps(rows, default=str)  # the number's ref stays in the journal only
    erased = (await plant.ledger.open_journal(case_id))[case_id]
    assert next(e for e in erased if e.kind == "dispute_opened").data["details"] == {rt.ERASED: True}


async def test_a_second_run_erases_nothing_and_appends_nothing(plant):
    case_id = await plant.case(rt.add_years(NOW, -6))
    assert [e.case_id for e in await erase(plant.ledger, NOW, [case_id])] == [case_id]
    entries = (await plant.ledger.journal(case_id))[case_id]
    assert await erase(plant.ledger, NOW, [case_id]) == []
    assert await due(plant.ledger, NOW, [case_id]) == []
    assert (await plant.ledger.journal(case_id))[case_id] == entries


async def test_nothing_is_erased_before_its_retention_ends_or_while_open(plant):
    young = await plant.case(rt.add_years(NOW, -5) + timedelta(days=1))
    still_open = await plant.case(None)
    assert await erase(plant.ledger, NOW, [young, still_open]) == []
    for case_id in (young, still_open):
        rows = await plant.rows(case_id)
        assert len(rows["loans"]) == 1 and rows["key"]["key"] is not None
        assert [e.kind for e in (await plant.ledger.journal(case_id))[case_id]][-1] == "vulnerability_recorded"


async def test_a_case_kept_past_its_retention_is_a_violation_until_erased(plant):
    case_id = await plant.case(rt.add_years(NOW, -6), packs=("us-regf",))
    young = await plant.case(rt.add_years(NOW, -2), packs=("us-regf",))
    report = await compliance_report(plant.ledger, case_id, now=NOW)
    [violation] = report.violations
    assert (violation.rule, violation.case_id, violation.entry) == ("retention.overdue", case_id, 6)
    assert "under us-regf (3 years" in violation.detail and "loans" in violation.detail
    assert "retention.overdue" in report.text() and not report.clean
    assert (await compliance_report(plant.ledger, young, now=NOW)).clean
    await erase(plant.ledger, NOW, [case_id])
    after = await compliance_report(plant.ledger, case_id, now=NOW)
    assert after.clean and after.entries == 7, after.text()


async def test_a_loans_row_exported_again_after_erasure_is_erased_again(plant):
    case_id = await plant.case(rt.add_years(NOW, -6))
    await erase(plant.ledger, NOW, [case_id])
    async with plant.engine.begin() as conn:  # the loan system exports the closed loan once more
        await conn.execute(insert(db.loans).values(loan_id=f"L2-{case_id}", overdue_since=NOW.date(),
                                                   case={"case_id": case_id, "borrower": {"name": NAME}}))
    [violation] = (await compliance_report(plant.ledger, case_id, now=NOW)).violations
    assert violation.rule == "retention.overdue" and violation.detail.endswith("still holds personal data: loans")
    [again] = await erase(plant.ledger, NOW, [case_id])
    assert again.erased == {"loans": 1}
    journal = (await plant.ledger.journal(case_id))[case_id]
    assert [e.key for e in journal if e.kind == rt.ERASED_KIND] == [
        f"{case_id}:{rt.ERASED_KIND}:1", f"{case_id}:{rt.ERASED_KIND}:2"] and verify_chain(journal) is None


async def test_a_journal_written_before_sealing_keeps_its_plaintext_and_says_so(plant):
    case_id = await plant.case(rt.add_years(NOW, -6), sealed=False)
    [done] = await erase(plant.ledger, NOW, [case_id])
    assert "case_key" not in done.erased and done.journal_plaintext == 5  # inputs, reason, details, reason, driver
    journal = (await plant.ledger.journal(case_id))[case_id]
    assert journal[-1].data["journal_plaintext_fields"] == 5 and verify_chain(journal) is None
    assert DISPUTE in json.dumps([e.data for e in journal])  # the chain covers it as written: it stays
    assert (await compliance_report(plant.ledger, case_id, now=NOW)).clean


async def test_a_sealed_entry_after_erasure_is_written_erased_and_makes_no_new_key(plant):
    case_id = await plant.case(rt.add_years(NOW, -6))
    await erase(plant.ledger, NOW, [case_id])
    await plant.ledger.record_sealed_event(case_id, f"{case_id}:late", "complaint_resolved", NOW,
                                           {"complaint_id": "c9", "explanation": DISPUTE})
    journal = (await plant.ledger.journal(case_id))[case_id]
    assert journal[-1].data == {"complaint_id": "c9", "explanation": {rt.ERASED: True}}
    assert verify_chain(journal) is None and (await plant.rows(case_id))["key"]["key"] is None


async def test_the_checker_judges_a_sealed_journal_as_a_plain_one(plant):
    """Sealed fields are ones the auditor's checker never reads: a contact during a dispute hold is found."""
    case_id = await plant.case(rt.add_years(NOW, -6))
    hold_at = (await plant.ledger.journal(case_id))[case_id][4].at
    await plant.ledger.record_sealed_event(
        case_id, f"{case_id}:sms:2", "contact_attempt", hold_at + timedelta(hours=1), {
            "channel": "sms", "person": "borrower", "phone_ref": "ab12cd34", "outcome": "delivered",
            "with_opt_out": True, "distress": False, "robot": False, "template": "reminder_due"})
    rules = {v.rule for v in (await compliance_report(plant.ledger, case_id, now=NOW)).violations}
    assert {"hold.dispute", "retention.overdue"} <= rules


async def test_a_pack_without_a_period_keeps_its_cases_and_names_the_pack(plant, tmp_path):
    shutil.copytree(CONFIG_DIR, tmp_path, dirs_exist_ok=True)
    data = yaml.safe_load((tmp_path / "rulepacks" / "cn.yaml").read_text(encoding="utf-8"))
    del data["records_retention_years"]
    (tmp_path / "rulepacks" / "cn.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    case_id = await plant.case(rt.add_years(NOW, -8))
    found = await scan(plant.ledger, NOW, [case_id], tmp_path)
    assert found.due == [] and [(u.case_id, u.problem) for u in found.undecided] == [
        (case_id, "rule pack cn sets no records_retention_years")]
    assert await erase(plant.ledger, NOW, [case_id], tmp_path) == []
    with pytest.raises(ValueError, match="UTC offset"):
        await due(plant.ledger, NOW.replace(tzinfo=None), [case_id])


# --- the command line ------------------------------------------------------------------------------


def cli(*args: str, url: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | ({"DATABASE_URL": url} if url else {})
    return subprocess.run([sys.executable, "cli.py", "retention", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


async def test_the_command_lists_what_is_due_then_erases_it_once(plant, database_url):
    now = datetime.now(UTC)
    old = await plant.case(rt.add_years(now, -6) - timedelta(days=3))
    young = await plant.case(rt.add_years(now, -1))
    listed = cli("--case", old, "--case", young, url=database_url)
    assert listed.returncode == 0, listed.stderr
    assert "1 closed case(s) past their records retention hold personal data" in listed.stdout
    [line] = [ln for ln in listed.stdout.splitlines() if old in ln]
    closed = rt.add_years(now, -6) - timedelta(days=3)
    assert f"{closed:%Y-%m-%d %H:%M}" in line and f"{rt.add_years(closed, 5):%Y-%m-%d}" in line
    assert "cn@2026.1 (cn: 5 years)" in line and "case_key, case_row, contact_refs, loans, plan_reasons" in line
    assert young not in listed.stdout and f"case {young} is not due" in listed.stderr
    assert len((await plant.rows(old))["loans"]) == 1  # listing erases nothing

    applied = cli("--apply", "--case", old, url=database_url)
    assert applied.returncode == 0, applied.stderr
    assert "Erased the personal data of 1 case(s)" in applied.stdout
    assert f"{old}" in applied.stdout and "loans 1" in applied.stdout and "(cn: 5 years, ended" in applied.stdout
    assert (await plant.rows(old))["loans"] == [] and len((await plant.rows(young))["loans"]) == 1
    again = cli("--apply", "--case", old, url=database_url)
    assert again.returncode == 0 and again.stdout.startswith("Nothing to erase"), again.stdout
    assert [e.kind for e in (await plant.ledger.journal(old))[old]].count(rt.ERASED_KIND) == 1


def test_the_command_refuses_bad_input_and_a_missing_ledger():
    bad = cli("--case", "not a case id", url="postgresql://nobody@localhost:1/none")
    assert bad.returncode == 2 and "not a case id: 'not a case id'" in bad.stderr
    unknown = cli("--erase", url="postgresql://nobody@localhost:1/none")
    assert unknown.returncode == 2 and "unrecognized arguments: --erase" in unknown.stderr
    missing = cli(url=None)
    assert missing.returncode == 2 and "DATABASE_URL is not set" in missing.stderr
    unreachable = cli(url="postgresql://nobody@127.0.0.1:1/none")
    assert unreachable.returncode == 2 and "cannot read the ledger at DATABASE_URL" in unreachable.stderr
