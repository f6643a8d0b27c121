"""Backend services on a real dev server: the HTTP webhook service over real HTTP (bearer and signed
webhooks, a schemathesis run over its OpenAPI), bulk files, the daily intake Schedule, and one
trace from an HTTP request through the workflow to its activities, with metrics and clean logs."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest_asyncio
import uvicorn
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import insert, text
from temporalio.client import Client

import telemetry
from adapters.db import loans
from adapters.providers.sandbox import SandboxProvider
from adapters.registry import Registry
from intake.schedule import SCHEDULE_ID, ensure_schedule
from intake.service import SIGNATURE_HEADER, create_app, sign
from service.bulk import start_bulk
from service.cases import Cases
from service.desk import Desk
from settings import IntakeSettings
from testkit.cases import daytime_zone
from testkit.servers import dev_environment, free_port
from tests import factories
from worker import build_worker
from workflows.daily_intake import DailyIntake

TOKEN = "test-token-" + "x" * 20
SECRET = "test-secret-" + "y" * 20
QUEUE = "intake"
ROOT = Path(__file__).resolve().parent.parent


class Stack:
    """A dev server, a traced and metered client, a worker, and the HTTP service on a real port."""

    client: Client
    url: str
    spans: InMemorySpanExporter
    metrics: str
    logs: io.StringIO


@pytest_asyncio.fixture(scope="module")
async def stack(converter, engine, config_dir):
    s = Stack()
    s.spans, s.logs = InMemorySpanExporter(), io.StringIO()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(s.spans))
    s.metrics = f"127.0.0.1:{free_port()}"
    handler = logging.StreamHandler(s.logs)
    handler.setFormatter(telemetry.JsonFormatter())
    logging.getLogger().addHandler(handler)
    async with dev_environment(converter) as env:
        s.client = await Client.connect(
            env.client.service_client.config.target_host, data_converter=converter,
            interceptors=telemetry.interceptors(provider.get_tracer("test")), runtime=telemetry.runtime(s.metrics))
        cases = Cases(s.client, QUEUE)
        app = create_app(cases, IntakeSettings(token=TOKEN, hmac_secret=SECRET),
                         desk=Desk(cases, s.client, Registry(engine)))
        FastAPIInstrumentor.instrument_app(app, tracer_provider=provider)
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        serving = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.05)
        s.url = f"http://127.0.0.1:{port}"
        try:
            async with build_worker(s.client, engine, SandboxProvider(engine), QUEUE, config_dir):
                yield s
        finally:
            server.should_exit = True
            await serving
            logging.getLogger().removeHandler(handler)


def http(stack: Stack, **headers) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=stack.url, headers={"Authorization": f"Bearer {TOKEN}"} | headers, timeout=30)


def case_json(**overrides) -> dict:
    return factories.case(**overrides).model_dump(mode="json", exclude={"state"})


async def test_the_service_starts_pays_and_reads_a_case_idempotently(stack):
    body = case_json()
    case_id = body["case_id"]
    async with http(stack) as api:
        first = await api.post("/cases", json=body)
        assert first.status_code == 201 and first.json()["status"] == "started"
        again = await api.post("/cases", json=body)
        assert again.status_code == 200 and again.json()["status"] == "already_running"
        assert again.json()["run_id"] == first.json()["run_id"]

        payment = {"amount": "250.00", "paid_at": datetime.now(UTC).isoformat(), "reference": "BANK-1"}
        paid = await api.post(f"/cases/{case_id}/payments", json=payment)
        assert paid.status_code == 200 and paid.json()["balance"] == "2750.00"
        twice = await api.post(f"/cases/{case_id}/payments", json=payment)
        assert twice.status_code == 200 and "already applied" in twice.json()["message"]
        assert twice.json()["balance"] == "2750.00"

        status = await api.get(f"/cases/{case_id}")
        assert status.status_code == 200
        assert status.json()["total_paid"] == "250.00" and status.json()["case_id"] == case_id

        wrong_currency = await api.post(f"/cases/{case_id}/payments", json=payment | {"reference": "B-2",
                                                                                     "currency": "USD"})
        assert wrong_currency.status_code == 409 and "currency" in wrong_currency.json()["detail"]
        as_number = await api.post(f"/cases/{case_id}/payments", json=payment | {"amount": 0.5, "reference": "B-3"})
        assert as_number.status_code == 422 and "an amount is a decimal string" in as_number.text
        too_fine = await api.post(f"/cases/{case_id}/payments", json=payment | {"amount": "0.555", "reference": "B-4"})
        assert too_fine.status_code == 409 and "more decimal places than CNY allows (2)" in too_fine.json()["detail"]
        half = await api.post(f"/cases/{case_id}/payments", json=payment | {"amount": "0.5", "reference": "B-5"})
        assert half.status_code == 200 and half.json()["balance"] == "2749.50"
        assert (await api.get(f"/cases/{case_id}")).json()["total_paid"] == "250.50"  # in the currency's units
        assert (await api.get("/cases/NO-SUCH-CASE")).status_code == 404
        assert (await api.post("/cases/NO-SUCH-CASE/payments", json=payment)).status_code == 404


async def test_a_dialer_asks_as_the_agent_dials_and_the_dial_is_the_call(stack):
    body = case_json(policy="fast", timezone=daytime_zone(), mobile="+8613800138085")  # agents dial when told
    case_id = body["case_id"]
    async with http(stack) as api:
        assert (await api.post("/cases", json=body)).status_code == 201
        for _ in range(120):  # the fast schedule reaches its agent call task in a few seconds
            contacts = (await api.get(f"/cases/{case_id}")).json()["last_contacts"]
            tasks = [c for c in contacts if c["channel"] == "agent_call"]
            if tasks:
                break
            await asyncio.sleep(0.5)
        [task] = tasks
        dial = {"attempt_key": task["key"], "agent": "agent-7"}
        allowed = await api.post(f"/cases/{case_id}/dials", json=dial)
        assert allowed.status_code == 200 and allowed.json()["allowed"] is True
        assert datetime.fromisoformat(allowed.json()["expires_at"]) > datetime.now(UTC)  # the window's close
        again = await api.post(f"/cases/{case_id}/dials", json=dial)
        assert again.status_code == 409 and "dialled already" in again.json()["detail"]
        unknown = await api.post(f"/cases/{case_id}/dials", json=dial | {"attempt_key": "nope"})
        assert unknown.status_code == 409 and "no agent call task" in unknown.json()["detail"]


async def test_relief_is_offered_accepted_and_shown_on_the_statement_over_http(stack):
    body = case_json(annual_interest_rate="0.18", daily_penalty_rate="0.0005")
    case_id = body["case_id"]
    async with http(stack) as api:
        assert (await api.post("/cases", json=body)).status_code == 201
        offers = f"/cases/{case_id}/relief-offers"
        as_number = await api.post(offers, json={"kind": "settlement", "amount": 2000, "offered_by": "agent-7"})
        assert as_number.status_code == 422 and "an amount is a decimal string" in as_number.text
        too_low = await api.post(offers, json={"kind": "settlement", "amount": "100.00", "offered_by": "agent-7"})
        assert too_low.status_code == 409 and "a settlement asks at least 1500.00" in too_low.json()["detail"]
        too_long = await api.post(offers, json={"kind": "interest_freeze", "months": 36, "offered_by": "agent-7"})
        assert too_long.status_code == 409 and "more than the policy's 12" in too_long.json()["detail"]
        # a month's interest on 2,850.00 within cn's 24% cap costs about 57.00: within an agent's own limits
        made = await api.post(offers, json={"kind": "interest_freeze", "months": 1, "offered_by": "agent-7"})
        assert made.status_code == 200 and "offered until" in made.json()["message"]
        accept = {"offer_id": made.json()["ref"]}
        assert (await api.post(f"/cases/{case_id}/relief-acceptances", json=accept)).status_code == 200
        again = await api.post(f"/cases/{case_id}/relief-acceptances", json=accept)
        assert again.status_code == 409 and "the offer is accepted" in again.json()["detail"]
        statement = (await api.get(f"/cases/{case_id}/statement")).json()
        assert [r["status"] for r in statement["reliefs"]] == ["accepted"]
        assert [f["reason"] for f in statement["freezes"]] == ["relief"] and statement["total"] == "3000.00"
        assert statement["lines"][-1].startswith(f"{statement['as_of']} 起停息（relief）")
        assert (await api.get("/cases/NO-SUCH-CASE/statement")).status_code == 404


async def test_the_desk_over_http_assigns_records_an_outcome_and_lists_an_agents_cases_due_now(stack):
    body = case_json(mobile="+8613800138085")
    case_id = body["case_id"]
    async with http(stack) as api:
        assert (await api.post("/cases", json=body)).status_code == 201
        stranger = await api.post(f"/cases/{case_id}/assignments", json={"team": "collections", "agent": "agent-99"})
        assert stranger.status_code == 409 and "no active agent agent-99" in stranger.json()["detail"]
        given = await api.post(f"/cases/{case_id}/assignments",
                               json={"team": "collections", "agent": "agent-2", "lease": "PT1H", "by": "sup-1"})
        assert given.status_code == 200 and "agent-2 until" in given.json()["message"], given.text
        call_back_at = datetime.now(UTC) + timedelta(seconds=2)
        outcome = {"channel": "agent_call", "party": "right_party", "reason": "income_cut", "result": "call_back",
                   "call_back_at": call_back_at.isoformat(), "agent": "agent-2", "at": datetime.now(UTC).isoformat()}
        made = await api.post(f"/cases/{case_id}/contact-outcomes", json=outcome)
        assert made.status_code == 200 and "call back at" in made.json()["message"]
        muddled = await api.post(f"/cases/{case_id}/contact-outcomes", json=outcome | {"party": "wrong_party"})
        assert muddled.status_code == 422 and "only from the borrower" in muddled.text
        assert (await api.get("/worklist", params={"view": "due-now"})).status_code == 422
        assert (await api.get("/worklist", params={"view": "everything"})).status_code == 422
        for _ in range(60):  # due once the call-back's time has come and the case has shown it
            listed = (await api.get("/worklist", params={"view": "due-now", "agent": "agent-2"})).json()
            if any(i["case_id"] == case_id for i in listed["items"]):
                break
            await asyncio.sleep(0.5)
        [item] = [i for i in listed["items"] if i["case_id"] == case_id]
        assert item["agent"] == "agent-2" and "task:call_back" in item["flags"] and item["priority"] >= 10_000_000
        assert 'AssignedAgent = "agent-2"' in listed["query"]
        released = await api.post(f"/cases/{case_id}/releases", json={"agent": "agent-1"})
        assert released.status_code == 409 and "does not hold this case" in released.json()["detail"]


async def test_bad_requests_get_clear_errors_and_start_nothing(stack):
    body = case_json()
    body["loan"]["outstanding_balance"] = "-5"
    del body["borrower"]["timezone"]
    async with http(stack) as api:
        refused = await api.post("/cases", json=body)
        assert refused.status_code == 422
        where = {".".join(str(p) for p in e["loc"]) for e in refused.json()["detail"]}
        assert {"body.loan.outstanding_balance", "body.borrower.timezone"} <= where
        assert (await api.post("/cases", json=case_json() | {"state": {"stage": "settled"}})).status_code == 422
        assert (await api.get("/cases/bad id!")).status_code in (404, 422)
        assert (await api.post("/cases", content=b"{not json", headers={"content-type": "application/json"})
                ).status_code == 422
    assert [w async for w in stack.client.list_workflows(f'WorkflowId = "case-{body["case_id"]}"')] == []


async def test_only_a_valid_token_or_a_fresh_signature_gets_in(stack):
    body = json.dumps(case_json()).encode()
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as api:
        assert (await api.get("/cases/X-1")).status_code == 401
        assert (await api.get("/cases/X-1", headers={"Authorization": "Bearer wrong"})).status_code == 401
        assert (await api.get("/healthz")).json() == {"status": "ok"}

        signed = {SIGNATURE_HEADER: sign(SECRET, body), "content-type": "application/json"}
        assert (await api.post("/cases", content=body, headers=signed)).status_code == 201
        replayed = await api.post("/cases", content=body, headers=signed)
        assert replayed.status_code == 401 and "already used" in replayed.json()["detail"]
        stale = {SIGNATURE_HEADER: sign(SECRET, body, int(time.time()) - 3600), "content-type": "application/json"}
        assert "window" in (await api.post("/cases", content=body, headers=stale)).json()["detail"]
        tampered = {SIGNATURE_HEADER: sign(SECRET, body), "content-type": "application/json"}
        response = await api.post("/cases", content=body.replace(b"3000.00", b"30.00"), headers=tampered)
        assert response.status_code == 401 and "does not match" in response.json()["detail"]


async def test_schemathesis_finds_no_server_error_in_the_openapi(stack, tmp_path):
    report = tmp_path / "junit.xml"
    run = await asyncio.to_thread(subprocess.run, [
        str(Path(sys.executable).parent / "st"), "run", f"{stack.url}/openapi.json", "--checks", "not_a_server_error",
        "--max-examples", "25", "-H", f"Authorization: Bearer {TOKEN}", "--generation-deterministic",
        "--report", "junit", "--report-junit-path", str(report), "--no-color",
    ], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "tests=" in report.read_text()


async def test_one_trace_runs_from_the_http_request_to_the_activities(stack):
    stack.spans.clear()
    body = case_json()
    async with http(stack) as api:
        assert (await api.post("/cases", json=body)).status_code == 201
        for _ in range(100):  # the case's first activities run on the worker
            if any(s.name == "RunActivity:verify_contact_data" for s in stack.spans.get_finished_spans()):
                break
            await asyncio.sleep(0.1)
    spans = stack.spans.get_finished_spans()
    http_span = next(s for s in spans if s.name == "POST /cases" and s.parent is None)
    trace = [s for s in spans if s.context.trace_id == http_span.context.trace_id]
    names = {s.name for s in trace}
    assert {"StartWorkflow:OverdueCase", "RunWorkflow:OverdueCase", "StartActivity:load_case_config",
            "RunActivity:load_case_config", "RunActivity:verify_contact_data"} <= names, names

    metrics = httpx.get(f"http://{stack.metrics}/metrics").text
    assert "temporal_workflow_task_execution_latency" in metrics or "temporal_request" in metrics
    lines = [json.loads(line) for line in stack.logs.getvalue().splitlines() if line.strip()]
    everything = stack.logs.getvalue()
    for personal in ("Test Borrower", "Test Contact", factories.ANSWERS, factories.EMERGENCY, "1 Test Road"):
        assert personal not in everything
    assert all({"ts", "level", "logger", "msg"} <= set(entry) for entry in lines)


def write_csv(path: Path, rows: list[dict]) -> None:
    columns = sorted({k for r in rows for k in r})
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def flat(case: dict, prefix: str = "") -> dict:
    out: dict[str, object] = {}
    for key, value in case.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out |= flat(value, f"{name}.")
        elif isinstance(value, list):
            out |= flat({str(i): v for i, v in enumerate(value)}, f"{name}.")
        else:
            out[name] = "" if value is None else str(value)
    return out


async def test_bulk_files_start_each_case_once_and_report_bad_rows(stack, tmp_path):
    good = [flat(case_json()) for _ in range(5)]
    bad_amount = flat(case_json()) | {"loan.principal": "lots"}
    no_name = {k: v for k, v in flat(case_json()).items() if k != "borrower.name"}
    source = tmp_path / "loans.csv"
    write_csv(source, good[:3] + [bad_amount] + good[3:] + [no_name])
    rejects = tmp_path / "rejects.csv"
    seen = []
    summary = await start_bulk(Cases(stack.client, QUEUE), source, concurrency=3, rejects=rejects,
                               progress=seen.append)
    assert (summary.rows, summary.started, summary.rejected, summary.failed) == (7, 5, 2, 0)
    assert len(seen) == 7
    refused = list(csv.DictReader(rejects.open()))
    assert [r["_line"] for r in refused] == ["5", "8"]  # the header is line 1
    assert "loan.principal" in refused[0]["_reason"] and "borrower.name" in refused[1]["_reason"]

    again = await start_bulk(Cases(stack.client, QUEUE), source, rejects=tmp_path / "again.csv")
    assert (again.started, again.already_running, again.rejected) == (0, 5, 2)

    # The rejects file, fixed, is a valid input as it stands.
    fixed = [r | {"loan.principal": "5000.00", "borrower.name": "Test Borrower"} for r in refused]
    write_csv(rejects, fixed)
    assert (await start_bulk(Cases(stack.client, QUEUE), rejects)).started == 2

    lines = tmp_path / "loans.jsonl"
    lines.write_text(json.dumps(case_json()) + "\n" + "{oops\n"
                     + json.dumps(case_json() | {"policy": "No Such"}) + "\n")
    summary = await start_bulk(Cases(stack.client, QUEUE), lines, rejects=tmp_path / "rejects.jsonl")
    assert (summary.started, summary.rejected) == (1, 2)
    refused = [json.loads(x) for x in (tmp_path / "rejects.jsonl").read_text().splitlines()]
    assert [r["_line"] for r in refused] == [2, 3] and "not JSON" in refused[0]["_reason"]


async def test_the_starter_command_line_runs_a_bulk_file(stack, tmp_path, payload_keys, monkeypatch):
    import starter

    source = tmp_path / "few.jsonl"
    source.write_text("\n".join(json.dumps(case_json()) for _ in range(3)) + "\n")
    monkeypatch.setenv("TEMPORAL_ADDRESS", stack.client.service_client.config.target_host)
    monkeypatch.setenv("TASK_QUEUE", QUEUE)
    monkeypatch.setenv("PAYLOAD_KEYS", payload_keys)
    assert await starter.run(["bulk", str(source), "--quiet"]) == 0
    assert await starter.run(["bulk", str(source), "--quiet"]) == 0  # a rerun: all already running
    assert await starter.run(["bulk", str(tmp_path / "missing.csv")]) == 2


async def test_the_starter_command_line_works_the_desk(stack, payload_keys, database_url, monkeypatch, capsys):
    import starter

    body = case_json()
    async with http(stack) as api:
        assert (await api.post("/cases", json=body)).status_code == 201
    for name, value in (("TEMPORAL_ADDRESS", stack.client.service_client.config.target_host), ("TASK_QUEUE", QUEUE),
                        ("PAYLOAD_KEYS", payload_keys), ("DATABASE_URL", database_url)):
        monkeypatch.setenv(name, value)
    case_id = body["case_id"]
    assert await starter.run(["assign", case_id, "collections", "--agent", "agent-99"]) == 1  # refused by the registry
    assert "no active agent agent-99" in capsys.readouterr().err
    assert await starter.run(["assign", case_id, "collections", "--agent", "agent-1", "--lease", "PT2H"]) == 0
    assert "agent-1 until" in capsys.readouterr().out
    assert await starter.run(["outcome", case_id, "--agent", "agent-1", "--party", "wrong_party",
                              "--reason", "forgot"]) == 2  # a reason only from the borrower: nothing sent
    assert "only from the borrower" in capsys.readouterr().err
    assert await starter.run(["worklist", "due-now"]) == 2 and "give the agent" in capsys.readouterr().err
    assert await starter.run(["worklist", "team", "--team", "collections", "--zone", "Mars/Base"]) == 2
    assert await starter.run(["release", case_id, "--agent", "agent-1"]) == 0
    assert "released to collections" in capsys.readouterr().out


async def test_the_daily_schedule_starts_newly_overdue_loans_once_and_watches_those_due_soon(stack, engine):
    today = date.today()
    fresh = [case_json() for _ in range(3)]
    old = case_json()
    invalid = case_json() | {"loan": {"loan_id": "BAD"}}
    due_soon = {profile: case_json(profile=profile, days_past_due=0) for profile in ("high_risk", "low_risk")}
    for case in due_soon.values():
        case["loan"]["due_date"] = (today + timedelta(days=3)).isoformat()
    far = case_json(profile="high_risk", days_past_due=0)
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM loans"))
        await conn.execute(insert(loans), [
            *({"loan_id": f"L-{c['case_id']}", "case": c, "overdue_since": today - timedelta(days=1),
               "due_date": None} for c in fresh),
            {"loan_id": f"L-{old['case_id']}", "case": old, "overdue_since": today - timedelta(days=30),
             "due_date": None},
            {"loan_id": "L-INVALID", "case": invalid, "overdue_since": today, "due_date": None},
            *({"loan_id": f"L-{c['case_id']}", "case": c, "overdue_since": None,
               "due_date": today + timedelta(days=3)} for c in due_soon.values()),
            {"loan_id": f"L-{far['case_id']}", "case": far, "overdue_since": None,
             "due_date": today + timedelta(days=20)},
        ])
    schedule = await ensure_schedule(stack.client, QUEUE, at="06:00", timezone="Asia/Shanghai")

    async def run_once() -> dict:
        before = len((await schedule.describe()).info.recent_actions)
        await schedule.trigger()
        for _ in range(300):
            actions = (await schedule.describe()).info.recent_actions
            if len(actions) > before:
                run = actions[-1].action
                handle = stack.client.get_workflow_handle_for(DailyIntake.run, run.workflow_id,
                                                              run_id=run.first_execution_run_id)
                return (await handle.result()).model_dump()
            await asyncio.sleep(0.1)
        raise AssertionError("the schedule did not run")

    first = await run_once()
    assert (first["considered"], first["started"], first["rejected"]) == (4, 3, 1)
    assert first["rejected_loans"] == ["L-INVALID"]
    warned = first["early_warning"]  # the two due within the week: the high-risk one is watched, in its group
    assert (warned["considered"], warned["warned"] + warned["control"], warned["not_at_risk"]) == (2, 1, 1)
    watched = stack.client.get_workflow_handle(f"case-{due_soon['high_risk']['case_id']}")
    assert (await watched.describe()).workflow_type == "UpcomingDue"
    second = await run_once()
    assert (second["started"], second["already_running"]) == (0, 3)
    assert (second["early_warning"]["already_running"], second["early_warning"]["not_at_risk"]) == (1, 1)
    assert [w async for w in stack.client.list_workflows(f'WorkflowId = "case-{old["case_id"]}"')] == []

    await schedule.pause(note="bank holiday")
    await ensure_schedule(stack.client, QUEUE, at="07:30")  # a redeploy changes the time, keeps the pause
    described = await schedule.describe()
    assert described.schedule.state.paused and described.schedule.spec.calendars[0].hour[0].start == 7
    assert described.id == SCHEDULE_ID
