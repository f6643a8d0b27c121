"""The Web UI as operators use it, in headless Chromium: find a case by stage, open it, read the
borrower's data decrypted through the codec server, and see an update land in `status`."""

from __future__ import annotations

import asyncio
import shutil
import threading
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

import codec_server
from adapters.providers.sandbox import SandboxProvider
from devstack import binaries
from domain import clock
from domain.models import Payment
from domain.policy import load_rule_pack
from loadtest.stack import free_port
from starter import start_case
from tests import factories
from worker import build_worker
from workflows import search
from workflows.overdue_case import OverdueCase

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (.ci/run installs it)")


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


@pytest_asyncio.fixture
async def ui(converter, payload_keys, monkeypatch):
    ui_port, codec_port = free_port(), free_port()
    monkeypatch.setenv("PAYLOAD_KEYS", payload_keys)
    monkeypatch.delenv("CODEC_TOKEN", raising=False)
    codec = codec_server.serve(codec_port, {f"http://127.0.0.1:{ui_port}", f"http://localhost:{ui_port}"})
    threading.Thread(target=codec.serve_forever, daemon=True).start()
    async with await WorkflowEnvironment.start_local(
        data_converter=converter, dev_server_existing_path=str(binaries.temporal_cli()), ui=True, ui_port=ui_port,
        search_attributes=search.ALL, dev_server_log_level="error",
        dev_server_extra_args=["--ui-codec-endpoint", f"http://127.0.0.1:{codec_port}", "--ui-disable-news-fetch"],
    ) as env:
        yield env, f"http://127.0.0.1:{ui_port}"
    codec.shutdown()


async def test_an_operator_finds_a_case_by_stage_and_reads_it_decrypted(ui, engine, config_dir):
    from playwright.async_api import async_playwright

    env, base = ui
    queue = f"ui-{uuid.uuid4().hex[:6]}"
    window = load_rule_pack("cn").contact_window
    case = factories.case(case_id=f"UI-{uuid.uuid4().hex[:6]}", mobile=factories.ANSWERS,
                          timezone=clock.zone_inside_window(datetime.now(UTC), window.start, window.end))
    async with build_worker(env.client, engine, SandboxProvider(engine), queue, config_dir):
        assert (await start_case(env.client, case, queue)).status == "started"
        handle = env.client.get_workflow_handle(case.workflow_id)
        for _ in range(100):
            status = await handle.query(OverdueCase.status)
            if status.contact_counts.get("sms"):
                break
            await asyncio.sleep(0.2)
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
            assert "3000.00 CNY" in details
            await page.screenshot(path=str(SHOTS / "case-current-details.png"), full_page=True)
            await browser.close()

        result = await handle.execute_update(OverdueCase.record_payment, Payment(
            amount=Decimal("3000.00"), paid_at=datetime.now(UTC), reference="UI-PAY"))
        assert result.balance == 0
        status = await handle.query(OverdueCase.status)
        assert status.total_paid == Decimal("3000.00")
        await handle.terminate("browser test done")
