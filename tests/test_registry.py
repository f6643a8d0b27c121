"""The staff registry: its pure decisions, the Postgres adapter (a database of its own on the suite's
server, so the example file never meets the staff other tests load), its activities and its command."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from pydantic import ValidationError
from sqlalchemy import MetaData

import registry as command
from activities.registry import CollectorSearch, InvestigationRequest, RegistryActivities, StaffLookup
from adapters import db
from adapters.config_files import CONFIG_DIR
from adapters.registry import Registry, UnknownReference
from domain.enums import StaffRole
from domain.registry import Investigation, RegistryFile, StaffMember, Team, Training, same_region, trained
from testkit import postgres

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = CONFIG_DIR / "registry.yaml"
COURSE = "collections-conduct"
DAY = date(2026, 12, 1)  # within the example's trainings (collector-c's expired 2025-12-31)
AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
TABLES = ("teams", "staff", "trainings", "investigations")


def training(staff_id: str, expires: date, course: str = COURSE) -> Training:
    return Training(staff_id=staff_id, course=course, completed_on=expires - timedelta(days=365), expires_on=expires)


# --- the pure decisions -------------------------------------------------------------------------------


def test_a_member_covers_their_region_as_people_type_it_or_the_whole_country_without_one():
    assert same_region("CN", "Zhejiang", "CN", "Zhejiang")
    assert same_region("CN", " zhejiang  ", "cn", "ZHEJIANG ")
    assert same_region("CN", "Inner Mongolia", "CN", "inner  mongolia")
    assert same_region("CN", "", "CN", "Guangdong") and same_region("CN", "  ", "CN", "")
    assert not same_region("CN", "Zhejiang", "CN", "Guangdong")
    assert not same_region("CN", "Zhejiang", "CN", "")  # a place of unknown region: whole-country staff only
    assert not same_region("US", "", "CN", "Zhejiang")


def test_training_counts_through_its_expiry_day_and_only_for_its_course():
    held = [training("c", date(2026, 12, 2))]
    assert trained(held, COURSE, date(2026, 12, 1)) and trained(held, COURSE, date(2026, 12, 2))
    assert not trained(held, COURSE, date(2026, 12, 3))
    assert not trained(held, "first-aid", date(2026, 12, 1)) and not trained([], COURSE, DAY)


def test_an_investigation_is_overdue_while_open_past_its_deadline():
    inv = Investigation(investigation_id="i", case_id="C-1", complaint_id="cmp", staff_id="agent-1",
                        supervisor_id="sup-1", opened_at=AT, due_at=AT + timedelta(days=14))
    assert not inv.overdue(AT + timedelta(days=14)) and inv.overdue(AT + timedelta(days=15))
    closed = inv.model_copy(update={"closed_at": AT + timedelta(days=20), "finding": "coached", "closed_by": "sup-1"})
    assert not closed.overdue(AT + timedelta(days=30))


def test_staff_records_hold_ids_never_names_and_training_ends_after_it_began():
    with pytest.raises(ValidationError):
        StaffMember(staff_id="Wang Fang", team_id="t", role=StaffRole.AGENT, country="CN")
    with pytest.raises(ValidationError, match="expires"):
        Training(staff_id="c", course=COURSE, completed_on=date(2026, 1, 2), expires_on=date(2026, 1, 2))


def test_a_registry_file_is_whole_in_itself():
    team = Team(team_id="field-zj", kind="field", country="CN", region="Zhejiang", supervisor_id="sup")
    boss = StaffMember(staff_id="sup", team_id="field-zj", role=StaffRole.SUPERVISOR, country="CN", region="Zhejiang")
    c = StaffMember(staff_id="c", team_id="field-zj", role=StaffRole.COLLECTOR, country="CN", region="zhejiang")
    RegistryFile(teams=[team], staff=[boss, c], trainings=[training("c", DAY)])
    cases = {
        "names an unknown team nowhere": [c.model_copy(update={"team_id": "nowhere"})],
        "names an unknown staff member ghost": [c, boss, training("ghost", DAY)],
        "c appears more than once": [c, c],
        "works outside their team": [c.model_copy(update={"region": "Guangdong"})],
        "supervisor sup is not a supervisor": [c.model_copy(update={"staff_id": "sup"})],
    }
    for problem, rows in cases.items():
        staff = [r for r in rows if isinstance(r, StaffMember)]
        held = [r for r in rows if isinstance(r, Training)]
        if problem != "supervisor sup is not a supervisor" and boss not in staff:
            staff.append(boss)
        with pytest.raises(ValidationError, match=problem):
            RegistryFile(teams=[team], staff=staff, trainings=held)


# --- the adapter on Postgres --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def registry_url(database_url: str) -> str:
    """A migrated database of this module's own, on the suite's server."""
    url = postgres.create_database(database_url, f"registry_{uuid.uuid4().hex[:8]}")
    postgres.migrate(url)
    return url


@pytest_asyncio.fixture(scope="module")
async def reg(registry_url: str):
    engine = db.make_engine(registry_url, pool_size=2)
    registry = Registry(engine)
    await registry.load(command.read_file(EXAMPLE))
    yield registry
    await engine.dispose()


async def test_the_example_file_loads_and_loading_it_again_changes_nothing(reg: Registry):
    async def stamps() -> list:
        async with reg.engine.connect() as conn:
            return [(await conn.execute(db.staff.select().order_by("staff_id"))).all(),
                    (await conn.execute(db.trainings.select().order_by("staff_id"))).all()]

    before = await stamps()
    await reg.load(command.read_file(EXAMPLE))
    assert await stamps() == before  # updated_at included: nothing was rewritten
    agent = await reg.member("agent-us-1")
    assert agent is not None and (agent.team_id, agent.country, agent.languages) == ("us-collections", "US", ["en"])
    assert await reg.member("nobody") is None
    assert [t.expires_on for t in await reg.trainings_of("collector-c")] == [date(2025, 12, 31)]
    roster = await reg.roster("field-zj")
    assert [m.staff_id for m, _ in roster] == ["collector-a", "collector-b", "collector-c"]
    assert all(len(held) == 1 for _, held in roster)
    assert len(await reg.roster()) == 10 and len(await reg.teams()) == 6


async def test_collectors_are_the_regions_active_ones_with_current_training_up_to_the_need(reg: Registry):
    assert await reg.collectors("CN", "Zhejiang", COURSE, DAY, need=5) == ["collector-a", "collector-b"]
    assert await reg.collectors("CN", "Zhejiang", COURSE, DAY, need=1) == ["collector-a"]
    assert await reg.collectors("CN", "Zhejiang", COURSE, DAY, need=0) == []
    assert await reg.collectors("CN", "Guangdong", COURSE, DAY, need=2) == ["collector-d"]
    assert await reg.collectors("CN", "Guangdong", "first-aid", DAY, need=2) == []
    assert await reg.collectors("US", "Zhejiang", COURSE, DAY, need=2) == []
    assert await reg.collectors("CN", "", COURSE, DAY, need=2) == []  # no region: nobody of a province
    assert await reg.collectors("cn", "  zhejiang ", COURSE, DAY, need=5) == ["collector-a", "collector-b"]
    assert await reg.collectors("CN", "ZHEJIANG", COURSE, DAY, need=5) == ["collector-a", "collector-b"]


async def test_a_training_that_expires_tomorrow_counts_today_and_tomorrow_but_not_after(reg: Registry):
    await reg.add_team(Team(team_id="field-js", kind="field", country="CN", region="Jiangsu",
                            supervisor_id="sup-field-1"))
    for staff_id, active in (("collector-e", True), ("collector-f", False)):
        await reg.add_staff(StaffMember(staff_id=staff_id, team_id="field-js", role=StaffRole.COLLECTOR,
                                        country="CN", region="Jiangsu", languages=["zh-CN"], active=active))
        await reg.record_training(training(staff_id, DAY + timedelta(days=1)))
    assert await reg.collectors("CN", "Jiangsu", COURSE, DAY, need=2) == ["collector-e"]  # f is inactive
    assert await reg.collectors("CN", "Jiangsu", COURSE, DAY + timedelta(days=1), need=2) == ["collector-e"]
    assert await reg.collectors("CN", "Jiangsu", COURSE, DAY + timedelta(days=2), need=2) == []
    await reg.record_training(training("collector-e", DAY + timedelta(days=400)))  # renewed: one row, new dates
    assert [t.expires_on for t in await reg.trainings_of("collector-e")] == [DAY + timedelta(days=400)]
    assert await reg.collectors("CN", "Jiangsu", COURSE, DAY + timedelta(days=2), need=2) == ["collector-e"]
    with pytest.raises(UnknownReference, match="nowhere"):
        await reg.add_staff(StaffMember(staff_id="x", team_id="nowhere", role=StaffRole.AGENT, country="CN"))
    with pytest.raises(UnknownReference, match="ghost"):
        await reg.record_training(training("ghost", DAY))


async def test_the_databases_choice_of_collectors_agrees_with_the_pure_decision(reg: Registry):
    roster = await reg.roster()
    places = [("CN", r) for r in ("Zhejiang", " zhejiang", "GUANGDONG", "Jiangsu", "", "Hunan")] + [("US", "NY")]
    days = [date(2025, 12, 31), date(2026, 1, 1), DAY, DAY + timedelta(days=2), date(2028, 1, 1)]
    for (country, region) in places:
        for on in days:
            expected = [m.staff_id for m, held in roster if m.role is StaffRole.COLLECTOR and m.active
                        and same_region(m.country, m.region, country, region) and trained(held, COURSE, on)]
            assert await reg.collectors(country, region, COURSE, on, need=99) == expected, (country, region, on)


async def test_an_investigation_opens_once_lists_as_open_closes_once_and_shows_overdue(reg: Registry):
    assert await reg.supervisor_of("collector-a") == "sup-field-1"
    assert await reg.supervisor_of("sup-cn-1") is None and await reg.supervisor_of("nobody") is None
    inv = Investigation(investigation_id="cmp-1:investigation", case_id="C-1", complaint_id="cmp-1",
                        staff_id="agent-2", supervisor_id="sup-cn-1", opened_at=AT, due_at=AT + timedelta(days=14))
    assert await reg.open_investigation(inv) is True
    assert await reg.open_investigation(inv.model_copy(update={"supervisor_id": "sup-field-1"})) is False
    [listed] = await reg.investigations(supervisor_id="sup-cn-1")
    assert listed == inv and listed.overdue(AT + timedelta(days=15)) and not listed.overdue(AT)
    assert await reg.investigations(supervisor_id="sup-field-1") == []
    assert await reg.close_investigation(inv.investigation_id, "recording reviewed; coached", "sup-cn-1",
                                         AT + timedelta(days=3)) is True
    assert await reg.close_investigation(inv.investigation_id, "a second finding", "sup-cn-1", AT) is False
    assert await reg.close_investigation("unknown", "finding", "sup-cn-1", AT) is False
    assert await reg.investigations(supervisor_id="sup-cn-1") == []
    [closed] = await reg.investigations(open_only=False, supervisor_id="sup-cn-1")
    assert (closed.finding, closed.closed_by, closed.closed_at) == ("recording reviewed; coached", "sup-cn-1",
                                                                    AT + timedelta(days=3))
    assert not closed.overdue(AT + timedelta(days=30))


async def test_the_activities_ask_the_registry_and_an_investigation_finds_its_supervisor(reg: Registry):
    acts = RegistryActivities(reg)
    assert await acts.find_collectors(CollectorSearch(country="CN", region="Zhejiang", course=COURSE, on=DAY,
                                                      need=2)) == ["collector-a", "collector-b"]
    member = await acts.staff_member(StaffLookup(staff_id="care-1"))
    assert member is not None and member.team_id == "care"
    assert await acts.staff_member(StaffLookup(staff_id="nobody")) is None
    request = InvestigationRequest(investigation_id="cmp-2:investigation", case_id="C-2", complaint_id="cmp-2",
                                   staff_id="collector-b", opened_at=AT, due_at=AT + timedelta(days=14))
    opened = await acts.open_investigation(request)
    assert opened.supervisor_id == "sup-field-1" and opened.closed_at is None
    assert await acts.open_investigation(request) == opened  # a retry: the same row, written once
    assert len(await reg.investigations(supervisor_id="sup-field-1")) == 1
    stranger = await acts.open_investigation(request.model_copy(update={
        "investigation_id": "cmp-3:investigation", "complaint_id": "cmp-3", "staff_id": "temp-7"}))
    assert stranger.supervisor_id is None


async def test_the_tables_match_the_schema_the_code_declares(registry_url: str):
    """Migration 0008 and `adapters.db`'s registry tables agree (columns, types, keys, indexes)."""
    declared = MetaData()
    for name in TABLES:
        db.metadata.tables[name].to_metadata(declared)

    def differences(conn) -> list:
        context = MigrationContext.configure(conn, opts={
            "compare_type": True, "include_name": lambda name, kind, _: kind != "table" or name in TABLES})
        return compare_metadata(context, declared)

    engine = db.make_engine(registry_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(differences) == []
    finally:
        await engine.dispose()


# --- the command --------------------------------------------------------------------------------------


def cli(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | {"DATABASE_URL": url}
    return subprocess.run([sys.executable, "cli.py", "registry", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


async def test_the_command_refuses_a_file_whose_staff_name_an_unknown_team(registry_url: str, tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(EXAMPLE.read_text(encoding="utf-8").replace("team_id: care, role", "team_id: cares, role"))
    refused = cli("load", str(bad), url=registry_url)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "care-1 names an unknown team cares" in refused.stderr
    missing = cli("load", str(tmp_path / "none.yaml"), url=registry_url)
    assert missing.returncode == 2 and "cannot read" in missing.stderr


async def test_the_command_loads_shows_expired_training_and_lists_overdue_investigations(reg: Registry,
                                                                                        registry_url: str):
    loaded = cli("load", str(EXAMPLE), url=registry_url)
    assert loaded.returncode == 0, loaded.stderr
    assert "6 team(s), 10 staff member(s) and 4 training record(s)" in loaded.stdout
    shown = cli("show", "--team", "field-zj", url=registry_url)
    assert shown.returncode == 0, shown.stderr
    [c] = [line for line in shown.stdout.splitlines() if "collector-c" in line]
    assert "collections-conduct until 2025-12-31 EXPIRED" in c and "Zhejiang" in c and "zh-CN" in c
    assert "supervisor sup-field-1" in shown.stdout
    unknown = cli("show", "--team", "nowhere", url=registry_url)
    assert unknown.returncode == 2 and "no team 'nowhere'" in unknown.stderr
    late = Investigation(investigation_id="cmp-9:investigation", case_id="C-9", complaint_id="cmp-9",
                         staff_id="agent-1", supervisor_id="sup-cn-1", opened_at=AT - timedelta(days=400),
                         due_at=AT - timedelta(days=386))
    await reg.open_investigation(late)
    listed = cli("investigations", "--supervisor", "sup-cn-1", url=registry_url)
    assert listed.returncode == 0, listed.stderr
    [line] = [line for line in listed.stdout.splitlines() if "cmp-9" in line]
    assert "OVERDUE" in line
    # its case closed long ago (no open case in this ledger): closed here, by its owner only
    for by, refusal in (("agent-1", "the staff member investigated"), ("agent-2", "only sup-cn-1")):
        refused = cli("close-investigation", "cmp-9:investigation", "--by", by, "--finding", "x", url=registry_url)
        assert refused.returncode == 2 and refusal in refused.stderr and "Traceback" not in refused.stderr
    closed = cli("close-investigation", "cmp-9:investigation", "--by", "sup-cn-1", "--finding", "coached",
                 url=registry_url)
    assert closed.returncode == 0 and "closed by sup-cn-1" in closed.stdout, closed.stderr
    again = cli("close-investigation", "cmp-9:investigation", "--by", "sup-cn-1", "--finding", "x", url=registry_url)
    assert again.returncode == 2 and "no open investigation" in again.stderr
