"""The staff registry tests and drills run with: trainings dated from today, so they never age out.

Field collectors of Zhejiang (the synthetic borrowers' region): collector-a and collector-b trained,
collector-c whose training has expired; one trained collector (collector-d) in Guangdong, too few for
a visit there; two trained collectors each in England and California (the GB and US cases' regions).
Agents agent-1 and agent-2 in `collections`, care-1 in `care`; supervisors above them."""

from __future__ import annotations

from datetime import date, timedelta

from domain.enums import StaffRole
from domain.registry import RegistryFile, StaffMember, Team, Training

COURSE = "collections-conduct"  # the policies' `desk.collector_training`


def registry(today: date) -> RegistryFile:
    def member(staff_id: str, team: str, role: StaffRole, region: str = "", languages: tuple[str, ...] = ("zh-CN",),
               country: str = "CN") -> StaffMember:
        return StaffMember(staff_id=staff_id, team_id=team, role=role, country=country, region=region,
                           languages=list(languages))

    def trained(staff_id: str, expires: date) -> Training:
        return Training(staff_id=staff_id, course=COURSE, completed_on=expires - timedelta(days=365),
                        expires_on=expires)

    year = today + timedelta(days=365)
    return RegistryFile(
        teams=[Team(team_id="collections", kind="collections", country="CN", supervisor_id="sup-1"),
               Team(team_id="care", kind="care", country="CN", supervisor_id="sup-1"),
               Team(team_id="field-zj", kind="field", country="CN", region="Zhejiang", supervisor_id="sup-field"),
               Team(team_id="field-gd", kind="field", country="CN", region="Guangdong", supervisor_id="sup-field"),
               Team(team_id="field-gb", kind="field", country="GB", region="England", supervisor_id=None),
               Team(team_id="field-us", kind="field", country="US", region="California", supervisor_id=None),
               Team(team_id="supervisors", kind="collections", country="CN", supervisor_id=None)],
        staff=[member("agent-1", "collections", StaffRole.AGENT), member("agent-2", "collections", StaffRole.AGENT),
               member("care-1", "care", StaffRole.AGENT),
               member("collector-a", "field-zj", StaffRole.COLLECTOR, "Zhejiang"),
               member("collector-b", "field-zj", StaffRole.COLLECTOR, "Zhejiang"),
               member("collector-c", "field-zj", StaffRole.COLLECTOR, "Zhejiang"),
               member("collector-d", "field-gd", StaffRole.COLLECTOR, "Guangdong"),
               *(member(f"collector-{c}{n}", f"field-{c}", StaffRole.COLLECTOR, r, ("en",), c.upper())
                 for c, r in (("gb", "England"), ("us", "California")) for n in (1, 2)),
               member("sup-1", "supervisors", StaffRole.SUPERVISOR),
               member("sup-field", "supervisors", StaffRole.SUPERVISOR)],
        trainings=[trained("collector-a", year), trained("collector-b", year),
                   trained("collector-c", today - timedelta(days=1)), trained("collector-d", year),
                   *(trained(f"collector-{c}{n}", year) for c in ("gb", "us") for n in (1, 2))],
    )
