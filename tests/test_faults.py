"""The fault drill, small enough for CI (the full one: `python -m loadtest.faults`, 500 cases and a
minute without PostgreSQL): the worker killed with SIGKILL four times, the dev server restarted,
PostgreSQL restarted and then down for a while; every case still ends right, nothing is sent twice,
the compliance check is clean, and the worker rides out the outage without crashing."""

from __future__ import annotations

from loadtest.faults import drill


async def test_cases_survive_killed_workers_a_restarted_server_and_a_database_outage(tmp_path):
    report = await drill(tmp_path / "drill", cases=12, outage=8, say=lambda _: None, timeout=300)
    assert report.passed, report.text()
    assert report.stages == {"escalated": 8, "settled": 4}
    assert report.worker_kills == 4 and report.server_restarts == 1 and report.postgres_restarts == 1
    assert report.attempts == report.messages >= 8 * 3  # every never-paying case had its whole schedule
    assert report.outage_seconds >= 8
