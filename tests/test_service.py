"""The service layer (`service.cases.Cases`): starting once, refusing bad input, typed updates and
signals, and Temporal's errors turned into the service's own; and the entry points built on it (the
starter's exit codes and messages, the `duecourse` console script)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from temporalio.service import RPCError, RPCStatusCode

import starter
from domain.enums import Stage
from domain.messages import PauseRequest, Payment, PromiseRequest
from domain.state import CaseState
from service.cases import CaseClosed, CaseNotFound, Cases, TemporalError, UpdateRejected, validate
from tests import factories

ROOT = Path(__file__).resolve().parent.parent


def case_data(**overrides) -> dict:
    return json.loads(factories.case(**overrides).model_dump_json(exclude={"state"}))


def test_validate_refuses_bad_input_with_reasons_and_names_the_item():
    bad = case_data() | {"loan": case_data()["loan"] | {"outstanding_balance": "-5"}}
    report = validate(bad)
    assert report.status == "rejected" and report.case_id == bad["case_id"]
    assert "loan.outstanding_balance" in report.detail
    assert validate("not a case", "item 3").case_id == "item 3"
    only_ours = "state and early_warning are set by the workflows only"
    assert validate(case_data() | {"state": {"stage": "settled"}}).detail == only_ours
    with_state = factories.case().model_copy(update={"state": CaseState(balance=Decimal("1"))})
    assert validate(with_state).detail == only_ours
    # a forged hand-over (payments "already applied", contacts spent against the caps) is refused the same way
    forged = {"seq": 3, "payment_refs": ["PAY-123"], "group": "warned"}
    assert validate(case_data() | {"early_warning": forged}).detail == only_ours
    good = factories.case()
    assert validate(good) is good


async def test_a_case_starts_once_and_a_second_start_reports_it_running(cases):
    service = Cases(cases.client, cases.queue)
    case = factories.case()
    first = await service.start(case)
    cases.started.append(cases.client.get_workflow_handle(case.workflow_id))
    second = await service.start(case.model_dump(mode="json", exclude={"state"}))  # as a backend would send it
    assert (first.status, second.status) == ("started", "already_running")
    assert first.run_id == second.run_id
    described = await cases.client.get_workflow_handle(f"case-{case.case_id}").describe()
    assert described.run_id == first.run_id and described.task_queue == cases.queue
    assert await described.static_summary() == f"Case {case.case_id}: 3000.00 CNY, 10 days past due"


async def test_start_all_reports_each_item_in_order_and_starts_only_the_valid(cases):
    service = Cases(cases.client, cases.queue)
    good, bad = case_data(), case_data()
    bad["borrower"]["timezone"] = "Mars/Olympus"
    reports = await service.start_all([good, bad, 42])
    cases.started.append(cases.client.get_workflow_handle(f"case-{good['case_id']}"))
    assert [(r.case_id, r.status) for r in reports] == [
        (good["case_id"], "started"), (bad["case_id"], "rejected"), ("item 3", "rejected")]
    assert "Mars/Olympus" in reports[1].detail
    with pytest.raises(CaseNotFound):
        await service.status(bad["case_id"])


async def in_remote_contact(cases):
    """A case started through the service and waiting in remote contact: the service, the case, its handle."""
    service = Cases(cases.client, cases.queue)
    case = factories.case()
    await service.start(case)
    handle = cases.client.get_workflow_handle(case.workflow_id)
    cases.started.append(handle)
    await cases.stage(handle, Stage.REMOTE_CONTACT)
    return service, case, handle


async def test_updates_and_signals_reach_the_case_typed(cases):
    service, case, handle = await in_remote_contact(cases)

    payment = Payment(amount=Decimal("400.00"), paid_at=datetime.now(UTC), reference="SVC-1")
    paid = await service.pay(case.case_id, payment)
    again = await service.pay(case.case_id, payment)
    assert paid.balance == again.balance == Decimal("2600.00") and "already applied" in again.message
    status = await service.status(case.case_id)
    assert status.total_paid == Decimal("400.00") and status.case_id == case.case_id

    await service.pause(case.case_id, PauseRequest(reason="complaint call", by="ops"))  # a signal: applied soon
    await cases.until(handle, lambda s: "pause" in s.flags, max_steps=5, what="paused")
    await service.resume(case.case_id, PauseRequest(reason="resolved", by="ops"))
    await cases.until(handle, lambda s: "pause" not in s.flags, max_steps=5, what="resumed")


async def test_a_rejected_update_raises_update_rejected_with_the_validators_reason(cases):
    service, case, handle = await in_remote_contact(cases)
    now = await cases.env.get_current_time()

    with pytest.raises(UpdateRejected) as refused:
        await service.pay(case.case_id, Payment(amount=Decimal("10"), paid_at=now, reference="R-C", currency="USD"))
    assert "currency USD does not match the loan's CNY" in refused.value.reason
    assert str(refused.value) == refused.value.reason and refused.value.case_id == case.case_id
    with pytest.raises(UpdateRejected, match="more than the balance"):
        await service.promise(case.case_id, PromiseRequest(amount=Decimal("99999"),
                                                            due_date=(now + timedelta(days=3)).date()))
    status = await service.status(case.case_id)
    assert status.total_paid == Decimal("0") and status.pending_promise is None  # nothing applied


async def test_an_unknown_case_raises_case_not_found(cases):
    service = Cases(cases.client, cases.queue)
    with pytest.raises(CaseNotFound, match="no case NO-SUCH-CASE") as missing:
        await service.status("NO-SUCH-CASE")
    assert missing.value.case_id == "NO-SUCH-CASE"
    with pytest.raises(CaseNotFound):
        await service.pay("NO-SUCH-CASE", Payment(amount=Decimal("1"), paid_at=datetime.now(UTC), reference="X"))
    with pytest.raises(CaseNotFound):
        await service.pause("NO-SUCH-CASE", PauseRequest(reason="r"))


async def test_a_closed_case_refuses_messages_and_is_never_started_again(cases):
    service, case, handle = await in_remote_contact(cases)
    await handle.terminate("test: closed by an operator")

    with pytest.raises(CaseClosed, match="terminated"):
        await service.pay(case.case_id, Payment(amount=Decimal("1"), paid_at=datetime.now(UTC), reference="LATE"))
    with pytest.raises(CaseClosed):
        await service.pause(case.case_id, PauseRequest(reason="too late"))
    again = await service.start(case)
    assert (again.status, again.detail) == ("already_closed", "terminated")


class Unavailable:
    """A client whose server is gone: every call fails as Temporal's client reports it."""

    async def start_workflow(self, *args, **kwargs):
        raise RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b"")

    def get_workflow_handle_for(self, *args, **kwargs):
        return self

    async def query(self, *args, **kwargs):
        raise RPCError("deadline exceeded", RPCStatusCode.DEADLINE_EXCEEDED, b"")


async def test_temporal_failing_a_call_is_a_temporal_error(env):
    gone = Cases(Unavailable(), "q")  # type: ignore[arg-type]
    with pytest.raises(TemporalError, match="^Temporal: connection refused$") as failed:
        await gone.start(factories.case())
    assert failed.value.message == "connection refused"
    with pytest.raises(TemporalError, match="deadline exceeded"):
        await gone.status("C-1")
    await Cases(env.client, "q").ping()  # a server that answers


async def test_the_starter_maps_service_errors_to_messages_and_exit_codes(cases, payload_keys, monkeypatch, capsys,
                                                                          tmp_path):
    monkeypatch.setenv("TEMPORAL_ADDRESS", cases.client.service_client.config.target_host)
    monkeypatch.setenv("TASK_QUEUE", cases.queue)
    monkeypatch.setenv("PAYLOAD_KEYS", payload_keys)
    case = factories.case()
    source = tmp_path / "case.json"
    source.write_text(case.model_dump_json(exclude={"state"}))
    assert await starter.run(["start", str(source)]) == 0
    handle = cases.client.get_workflow_handle(case.workflow_id)
    cases.started.append(handle)
    assert f"{case.case_id}: started" in capsys.readouterr().out
    await cases.stage(handle, Stage.REMOTE_CONTACT)

    assert await starter.run(["status", "NO-SUCH-CASE"]) == 1
    assert "error: no case NO-SUCH-CASE" in capsys.readouterr().err
    assert await starter.run(["pay", case.case_id, "10", "--ref", "CLI-1"]) == 0
    assert json.loads(capsys.readouterr().out)["balance"] == "2990.00"
    assert await starter.run(["pause", case.case_id, "--reason", "checking"]) == 0
    assert capsys.readouterr().out.strip() == f"pause sent to case {case.case_id}"
    due = (await cases.env.get_current_time() + timedelta(days=3)).date().isoformat()
    assert await starter.run(["promise", case.case_id, "99999", due]) == 1
    assert "more than the balance" in capsys.readouterr().err
    assert await starter.run(["pay", case.case_id, "-5", "--ref", "NEG"]) == 2  # invalid: nothing sent


def test_the_console_script_offers_the_starters_verbs_and_the_tools():
    shown = subprocess.run([sys.executable, "cli.py", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0
    for verb in ("start", "bulk", "status", "pay", "visit-outcome", "resume", "replay", "timeline", "audit"):
        assert f"    {verb}" in shown.stdout, verb
    audit = subprocess.run([sys.executable, "cli.py", "audit", "--help"], cwd=ROOT, capture_output=True, text=True,
                           timeout=60)
    assert audit.returncode == 0 and "compliance-report" in audit.stdout  # audit.py's own parser
    nothing = subprocess.run([sys.executable, "cli.py"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert nothing.returncode == 2 and "required: verb" in nothing.stderr
