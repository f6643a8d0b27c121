"""The Web UI as operators use it, in headless Chromium: find a case by stage, open it, read the
borrower's data decrypted through the codec server, and act on it from the UI's own dialogs (*Send a
Signal*, *Send an Update*), each input encrypted through the codec server's `/encode`; then find an
agent's cases due now by the list's query and read the script to use in the case's current details."""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

import pytest
import pytest_asyncio

import codec_server
from adapters.config_files import load_rule_pack
from adapters.providers.sandbox import SandboxProvider
from domain import clock
from domain.enums import ApprovalKind, HardshipReason, Stage, TaskKind
from domain.messages import HardshipReport
from service.cases import Cases
from service.desk import Desk
from testkit.servers import dev_environment, free_port
from tests import factories
from worker import build_worker
from workflows.case import OverdueCase

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="Debian's chromium is not installed (.ci/run installs it)")


async def in_any_frame(page, text: str, seconds: float = 30) -> str:
    """The text of the first frame that shows `text` (summaries and details are iframes)."""
    for _ in range(int(seconds * 4)):
        for frame in page.frames:
            try:
                body = await frame.inner_text("body", timeout=500)
            except Exception:
                continue
            if text in body:
                return body
        await asyncio.sleep(0.25)
    raise AssertionError(f"{text!r} not shown in any frame")


async def send_from_dialog(page, action: str, name: str, payload: dict, shot: str) -> None:
    """What an operator does: More Actions → Send a Signal / Send an Update, choose the message, type its
    JSON, leave the editor, Submit. The editor pretty-prints its JSON when it loses focus, which makes the
    dialog taller and moves Submit: a press that lands before that reflow is lost (docs/operations.md)."""
    kind = "signal" if "Signal" in action else "update"
    await page.get_by_role("button", name="More Actions").click()
    await page.get_by_role("menuitem", name=action).click()
    dialog = page.locator("dialog[open]")  # the UI renders each dialog twice; only one is open
    await dialog.get_by_test_id(f"{kind}-select-button").click()
    await page.get_by_role("option", name=name, exact=True).click()
    editor = dialog.locator(".cm-content")
    await editor.click()
    await page.keyboard.press("Control+A")  # the dialog keeps the last message's JSON: replace it
    await page.keyboard.insert_text(json.dumps(payload))
    await page.keyboard.press("Tab")  # leave the editor: it reformats now, not under the pointer
    await dialog.locator(".cm-line").nth(len(payload)).wait_for()  # one line per key, plus the braces
    await page.screenshot(path=str(SHOTS / shot))
    async with page.expect_response(lambda r: "/encode" in r.url and r.request.method == "POST") as encoded:
        await dialog.get_by_test_id("confirm-modal-button").click()
    assert (await encoded.value).ok, "the codec server refused to encode the operator's input"
    await page.locator("dialog[open]").wait_for(state="detached", timeout=30_000)


async def until(handle, predicate, what: str, seconds: float = 30):
    for _ in range(int(seconds * 5)):
        status = await handle.query(OverdueCase.status)
        if predicate(status):
            return status
        await asyncio.sleep(0.2)
    raise AssertionError(f"{what} not seen in the case; last status: {status.model_dump_json(indent=1)}")


@pytest_asyncio.fixture
async def ui(converter, payload_keys, monkeypatch):
    ui_port, codec_port = free_port(), free_port()
    monkeypatch.setenv("PAYLOAD_KEYS", payload_keys)
    monkeypatch.delenv("CODEC_TOKEN", raising=False)
    codec = codec_server.serve(codec_port, {f"http://127.0.0.1:{ui_port}", f"http://localhost:{ui_port}"})
    threading.Thread(target=codec.serve_forever, daemon=True).start()
    async with dev_environment(converter, ui_port=ui_port, codec_endpoint=f"http://127.0.0.1:{codec_port}") as env:
        yield env, f"http://127.0.0.1:{ui_port}"
    codec.shutdown()


async def test_an_operator_finds_a_case_reads_it_decrypted_and_acts_from_the_dialogs(ui, engine, config_dir):
    from playwright.async_api import async_playwright

    env, base = ui
    queue = f"ui-{uuid.uuid4().hex[:6]}"
    window = load_rule_pack("cn").contact_window
    case = factories.case(case_id=f"UI-{uuid.uuid4().hex[:6]}", mobile=factories.ANSWERS, profile="hardship",
                          balance="1200.00",
                          timezone=clock.zone_inside_window(datetime.now(UTC), window.start, window.end))
    async with build_worker(env.client, engine, SandboxProvider(engine), queue, config_dir):
        assert (await Cases(env.client, queue).start(case)).status == "started"
        handle = env.client.get_workflow_handle(case.workflow_id)
        await until(handle, lambda s: s.contact_counts.get("sms"), "a first SMS")
        SHOTS.mkdir(parents=True, exist_ok=True)
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=[
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run"])
            page = await browser.new_page(viewport={"width": 1440, "height": 1000})
            await page.goto(f"{base}/namespaces/default/workflows?query=CaseStage%3D%22remote_contact%22")
            await page.get_by_text(case.workflow_id).first.wait_for(timeout=60_000)
            await page.screenshot(path=str(SHOTS / "case-list-by-stage.png"))
            await page.get_by_role("link", name=case.workflow_id).first.click()
            await page.get_by_text("Test Borrower").first.wait_for(timeout=60_000)  # decrypted by the codec
            await page.get_by_text("SMS reminder 1 of").first.wait_for(timeout=30_000)  # activity summaries
            await page.screenshot(path=str(SHOTS / "case-decrypted.png"), full_page=True)
            await page.get_by_text("User Metadata").first.click()
            details = await in_any_frame(page, "Balance")  # current details render in an iframe
            assert "1200.00 CNY" in details
            await page.screenshot(path=str(SHOTS / "case-current-details.png"), full_page=True)

            # The borrower reports hardship on a call (the agent's desk sends it): a plan awaiting approval.
            await handle.execute_update(OverdueCase.report_hardship, HardshipReport(
                reason=HardshipReason.JOB_LOSS, requested_instalments=8, waive_penalty=True))
            approval = (await handle.query(OverdueCase.status)).pending_approvals[0]
            assert approval.kind is ApprovalKind.HARDSHIP_PLAN

            await send_from_dialog(page, "Send a Signal", "pause",
                                   {"reason": "borrower in hospital", "by": "op-ui"}, "ui-signal-pause.png")
            await until(handle, lambda s: "pause" in s.flags, "the pause hold")

            await send_from_dialog(page, "Send an Update", "approve",
                                   {"approval_id": approval.approval_id, "approve": True,
                                    "decided_by": "supervisor-ui"},
                                   "ui-update-approve.png")
            status = await until(handle, lambda s: s.plan and s.plan.status == "active", "the approved plan")
            assert status.stage is Stage.HARDSHIP_PLAN and status.pending_approvals == []

            first = status.plan.instalments[0].amount
            await send_from_dialog(page, "Send an Update", "record_payment",
                                   {"amount": str(first), "paid_at": datetime.now(UTC).isoformat(),
                                    "reference": "UI-PAY-1"},
                                   "ui-update-record-payment.png")
            status = await until(handle, lambda s: s.total_paid == first, "the payment")
            assert status.balance == Decimal("1050.00") - first  # 1,200 less the waived 150, less the payment

            # The desk: a supervisor gives the case to agent-1; agent-1's call ends with a call-back asked for.
            await send_from_dialog(page, "Send an Update", "assign",
                                   {"team": "collections", "agent": "agent-1", "lease": "PT1H", "by": "sup-ui"},
                                   "ui-update-assign.png")
            await until(handle, lambda s: s.desk.lease and s.desk.lease.agent == "agent-1", "the assignment")
            call_back_at = datetime.now(UTC) + timedelta(seconds=8)
            await send_from_dialog(page, "Send an Update", "record_contact_outcome",
                                   {"channel": "agent_call", "party": "right_party", "reason": "job_loss",
                                    "result": "call_back", "call_back_at": call_back_at.isoformat(),
                                    "agent": "agent-1", "at": datetime.now(UTC).isoformat(),
                                    "notes": "asked to be called back after a job interview"},
                                   "ui-update-contact-outcome.png")
            status = await until(handle, lambda s: s.desk.open_tasks(TaskKind.CALL_BACK), "the call-back task")
            await asyncio.sleep(max(0.0, (call_back_at - datetime.now(UTC)).total_seconds()) + 1)

            # agent-1's list: "my cases due now", as the Web UI finds it and as a dialer reads it.
            worklist = await Desk(Cases(env.client, queue), env.client).worklist("due-now", agent="agent-1")
            assert [i.case_id for i in worklist.items] == [case.case_id]
            assert "task:call_back" in worklist.items[0].flags
            await page.goto(f"{base}/namespaces/default/workflows?query={quote(worklist.query)}")
            await page.get_by_text(case.workflow_id).first.wait_for(timeout=60_000)
            await page.screenshot(path=str(SHOTS / "worklist-my-cases-due-now.png"))
            await page.get_by_role("link", name=case.workflow_id).first.click()
            await page.get_by_text("User Metadata").first.click()
            script = (await handle.query(OverdueCase.status)).script
            details = await in_any_frame(page, script.script_id)  # what to say now, and why
            assert "Script" in details and "agent-1" in details and "call back" in details
            await page.screenshot(path=str(SHOTS / "case-script-and-tasks.png"), full_page=True)
            await browser.close()
        await handle.terminate("browser test done")
