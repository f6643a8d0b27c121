"""The report end to end on the hand-worked ledger (tests/kpi_ledger.py): the command writes the page and
its CSV files; the HTTP route refuses without a token and serves with one; the gauges appear on a real
Prometheus scrape; and in Chromium the page, opened from file:// with no network, draws the cure-rate bars
in the proportions its own table gives."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

import report
from adapters.db import make_engine
from analytics import charts, gauges
from analytics import report as portfolio
from domain.model_card import CalibrationBin, ModelCard
from intake import reports as report_routes
from intake.service import create_app
from service.cases import Cases
from settings import IntakeSettings
from testkit.servers import free_port
from tests import kpi_ledger

TOKEN = "report-token-" + "z" * 20
OLD_CARD = {"version", "trained_at", "library", "estimator", "features", "horizon_days", "split_at", "n_train",
            "n_test", "positives_train", "positives_test", "auc_model", "auc_scorecard", "auc_model_ci",
            "auc_scorecard_ci", "brier_model", "calibration", "artifact_sha256", "simulated"}  # before at assessment
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
MARCH = ["--from", "2026-03-01", "--to", "2026-04-01", "--horizon", str(kpi_ledger.HORIZON)]


@pytest.fixture(scope="module")
def kpi_url(database_url: str) -> str:
    return kpi_ledger.fresh_database(database_url)


@pytest_asyncio.fixture(scope="module")
async def ledger(kpi_url: str):
    engine = make_engine(kpi_url, pool_size=2)
    await kpi_ledger.seed(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    card = ModelCard(
        version="m-1", trained_at=datetime(2026, 3, 1, tzinfo=UTC), library="scikit-learn 1.9", estimator="HGB",
        features=["days_past_due"], horizon_days=30, split_at=datetime(2026, 2, 1, tzinfo=UTC), n_train=800,
        n_test=200, positives_train=320, positives_test=70, auc_model=0.74, auc_scorecard=0.66,
        auc_model_ci=(0.70, 0.78), auc_scorecard_ci=None, brier_model=0.19, artifact_sha256="0" * 64, simulated=True,
        calibration=[CalibrationBin(low=0, high=0.5, predicted=0.2, observed=0.25, n=120),
                     CalibrationBin(low=0.5, high=1, predicted=0.7, observed=0.6, n=80)],
        auc_model_at_assessment=0.69, auc_scorecard_at_assessment=0.66, auc_model_at_assessment_ci=(0.61, 0.77),
        auc_scorecard_at_assessment_ci=(0.57, 0.75), auc_difference_at_assessment_ci=(-0.04, 0.10),
        n_train_cases=300, n_test_cases=90, positives_train_cases=120, positives_test_cases=31, dropped_at_split=40)
    return card_folder(tmp_path, card)


def card_folder(tmp_path: Path, card: ModelCard) -> Path:
    folder = tmp_path / "models" / card.version  # as train.py writes it: a version folder in the models folder
    folder.mkdir(parents=True)
    (folder / "card.json").write_text(card.model_dump_json(), encoding="utf-8")
    return folder


@pytest_asyncio.fixture
async def written(ledger, kpi_url, model_dir, tmp_path, monkeypatch, capsys) -> Path:
    """`duecourse report` for March by arm, simulated, with a model: the folder it wrote."""
    monkeypatch.setenv("DATABASE_URL", kpi_url)
    out = tmp_path / "out"
    assert await report.main([*MARCH, "--by", "arm", "--out", str(out), "--simulated", "--model",
                              str(model_dir)]) == 0
    assert f"Wrote {out / 'index.html'}" in capsys.readouterr().out  # says where the page is
    return out


def table(page: str, name: str) -> list[list[str]]:
    """A table of the page, cell texts per row (header first)."""
    body = re.search(rf'<table data-table="{name}">(.*?)</table>', page, re.S)
    assert body, name
    return [re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row) for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1))]


async def test_the_command_writes_the_page_and_a_csv_per_table(written):
    page = (written / "index.html").read_text(encoding="utf-8")
    assert page.index('id="simulated"') < page.index("<h1>")  # the banner comes first
    assert "borrower simulator, not from real borrowers" in page
    assert "<script" not in page and "http://" not in page.replace("http://www.w3.org", "")  # nothing to fetch
    for name in ("portfolio", "inventory", "roll_rates", "cure", "arms", "arms_money", "contacts", "collected",
                 "promises", "settlements", "handoffs", "plan_survival", "complaints", "service_levels", "guard",
                 "protection", "early_warning", "early_warning_effect", "model_auc", "model_calibration"):
        assert (written / f"{name}.csv").exists(), name
        assert f'data-table="{name}"' in page, name
    arms = list(csv.DictReader(io.StringIO((written / "arms.csv").read_text())))
    assert [(r["policy"], r["arm"], r["cases"], r["cure rate"]) for r in arms] == [
        ("standard", "champion", "2", "0.5"), ("standard", "challenger", "3", "0.666667")]
    collected = list(csv.DictReader(io.StringIO((written / "collected.csv").read_text())))
    assert {(r["arm"], r["currency"]): r["amount collected"] for r in collected} == {
        ("challenger", "CNY"): "600.00", ("challenger", "USD"): "500.00", ("champion", "CNY"): "1100.00"}
    first, every = "at assessment, one row per case", "every scoring moment"
    assert table(page, "model_auc")[1:] == [
        [first, "model m-1", "0.69", "0.61", "0.77"], [first, "rule scorecard", "0.66", "0.57", "0.75"],
        [first, "model − scorecard", "0.03", "-0.04", "0.10"],
        [every, "model m-1", "0.74", "0.70", "0.78"], [every, "rule scorecard", "0.66", "—", "—"],
        [every, "model − scorecard", "0.08", "—", "—"]]
    data = dict(table(page, "model_data")[1:])
    assert data["dropped at the split"].startswith("40 case(s) opened before the split whose horizon ran past it")
    assert (data["training cases (cured)"], data["held-out cases (cured)"]) == ("300 (120)", "90 (31)")
    assert "at least 30 days before it" in data["split"]
    assert '<tr class="thin"><td class="text">champion</td>' in page  # two cases: greyed
    assert 'id="calibration-diagonal"' in page and 'id="calibration-bin-1" data-value="0.6"' in page


def test_a_card_from_before_the_comparison_at_assessment_shows_every_moment_only(model_dir, tmp_path):
    old = json.loads((model_dir / "card.json").read_text())
    old = {k: v for k, v in old.items() if k in OLD_CARD}
    folder = tmp_path / "old" / "m-0"
    folder.mkdir(parents=True)
    (folder / "card.json").write_text(json.dumps(old), encoding="utf-8")
    auc, data, _ = portfolio.model_section(folder).tables
    assert [row[:3] for row in auc.rows] == [["every scoring moment", "model m-1", 0.74],
                                             ["every scoring moment", "rule scorecard", 0.66],
                                             ["every scoring moment", "model − scorecard", pytest.approx(0.08)]]
    assert "predates the comparison at assessment" in auc.note
    assert "dropped at the split" not in dict(data.rows)


async def test_champions_come_from_the_trials_and_arms_stay_in_their_policy(ledger, tmp_path):
    config = tmp_path / "config"
    config.mkdir()
    (config / "strategies.yaml").write_text(kpi_ledger.TRIALS, encoding="utf-8")
    options = portfolio.Options(first=kpi_ledger.MAY_START, end=kpi_ledger.MAY_END, horizon_days=kpi_ledger.HORIZON,
                                champion="nobody", config_dir=config)
    built = await portfolio.build(ledger, options)
    arms = built.table("arms")
    assert arms is not None
    assert [(r[0], r[1], r[2]) for r in arms.rows] == [
        ("gentle", "base", "champion"), ("gentle", "call-first", "challenger"), ("standard", "champion", "champion"),
        ("standard", "call-first", "challenger"), ("standard", "(none)", "not in a trial")]
    section = next(s for s in built.sections if s.title == "Champion and challengers")
    assert "gentle: 'base'; standard: 'champion'" in section.intro and "'nobody'" in section.intro
    bars = re.findall(r'<g id="cure-by-arm-bar-([^"]*)"', section.charts["arms"])
    assert bars == ["gentle-base", "gentle-call-first", "standard-champion", "standard-call-first"]  # no (none)


async def test_an_empty_period_still_makes_a_page(ledger, kpi_url, monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", kpi_url)
    assert await report.main(["--from", "2020-01-01", "--to", "2020-03-01", "--out", str(tmp_path)]) == 0
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "no data" in page and 'id="simulated"' not in page and "<svg" not in page


def test_chart_labels_are_escaped_and_ids_stay_unique():
    svg = charts.bars("t", ["<b>&$x$", "b x", "b-x"], [0.5, 0.25, 0.1], "T<i>", "y")
    assert "<b>" not in svg and "<i>" not in svg and "&lt;b&gt;&amp;$x$" in svg  # drawn as written, escaped
    assert re.findall(r'<g id="(t-bar-[^"]*)" data-value="([^"]*)"', svg) == [
        ("t-bar-b-x", "0.5"), ("t-bar-b-x-1", "0.25"), ("t-bar-b-x-2", "0.1")]


async def test_the_command_says_when_it_has_no_ledger(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert await report.main([*MARCH, "--out", str(tmp_path)]) == 2
    assert "DATABASE_URL is not set" in capsys.readouterr().err
    with pytest.raises(SystemExit) as refused:
        await report.main([*MARCH, "--by", "borrower_name"])
    assert refused.value.code == 2 and "cannot group by" in capsys.readouterr().err


async def test_the_http_route_needs_a_token(ledger, model_dir, monkeypatch):
    monkeypatch.setattr(report_routes, "make_engine", lambda *_a, **_k: ledger)  # the fixture disposes of it
    monkeypatch.setenv("DATABASE_URL", "postgresql://unused/kpi")
    monkeypatch.setenv("MODEL_DIR", str(model_dir.parent))  # the models folder: its newest version is shown
    app = create_app(Cases(None, "reports"), IntakeSettings(token=TOKEN))  # type: ignore[arg-type]  # no Temporal
    query = {"from": "2026-03-01", "to": "2026-04-01", "horizon": "10", "by": ["arm"]}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake") as api:
        assert (await api.get("/reports/portfolio", params=query)).status_code == 401
        assert (await api.get("/reports/portfolio.csv", params=query | {"table": "arms"})).status_code == 401
        auth = {"Authorization": f"Bearer {TOKEN}"}
        page = await api.get("/reports/portfolio", params=query, headers=auth)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "Champion and challengers" in page.text and 'id="simulated"' not in page.text
        assert "Propensity model" in page.text and "model m-1" in page.text
        assert "portfolio.csv?from=2026-03-01&amp;to=2026-04-01" in page.text  # each table links its CSV
        arms = await api.get("/reports/portfolio.csv", params=query | {"table": "arms"}, headers=auth)
        assert arms.headers["content-type"].startswith("text/csv")
        assert arms.text.splitlines()[1].startswith("standard,champion,champion,2,1,0.5,")
        missing = await api.get("/reports/portfolio.csv", params=query | {"table": "nope"}, headers=auth)
        assert missing.status_code == 404 and "one of portfolio" in missing.json()["detail"]
        bad = await api.get("/reports/portfolio", params=query | {"by": ["name"]}, headers=auth)
        assert bad.status_code == 422


async def test_gauges_on_a_prometheus_scrape(ledger):
    address = f"127.0.0.1:{free_port()}"
    runtime = Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=address)))
    await gauges.refresh(ledger, runtime.metric_meter, now=kpi_ledger.at("03-14", 12))
    await gauges.refresh(ledger, runtime.metric_meter, now=kpi_ledger.at("03-14", 12))  # again: same series
    async with httpx.AsyncClient() as client:
        scrape = (await client.get(f"http://{address}/metrics")).text

    def value(name: str, label: str = "") -> float:
        found = re.findall(rf"^{name}\{{([^}}]*)\}} (\S+)$|^{name} (\S+)$", scrape, re.M)
        for labels, v, bare in found:
            if label in labels:
                return float(v or bare)
        raise AssertionError(f"{name} {label} not in the scrape:\n{scrape}")

    assert value("duecourse_open_cases", 'stage="relationship"') == 3
    assert value("duecourse_open_cases", 'stage="remote_contact"') == 2
    assert value("duecourse_cure_rate_30d") == pytest.approx(3 / 7)
    assert value("duecourse_collected_today", 'currency="USD"') == 500
    assert value("duecourse_promise_kept_rate_30d") == 0.5
    assert value("duecourse_complaints_per_1000_30d") == 200


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (.ci/run installs it)")
async def test_chromium_reads_the_bars_in_the_tables_proportions(written):
    from playwright.async_api import async_playwright

    page_file = written / "index.html"
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        try:
            page = await browser.new_page()
            fetched: list[str] = []
            page.on("request", lambda r: fetched.append(r.url))
            await page.goto(page_file.as_uri())
            heights = await page.evaluate("""() => Object.fromEntries(
                [...document.querySelectorAll('[id^="cure-by-arm-bar-"]')].map(g => [g.id, g.getBBox().height]))""")
            rates = await page.evaluate("""() => [...document.querySelectorAll('table[data-table="arms"] tbody tr')]
                .map(tr => [...tr.cells].map(td => td.textContent))""")
            banner = await page.inner_text("#simulated")
        finally:
            await browser.close()
    assert fetched == [page_file.as_uri()]  # the page fetched nothing else
    assert "borrower simulator" in banner
    shown = {row[1]: float(row[5].rstrip("%")) / 100 for row in rates}  # policy, arm, role, cases, cured, rate
    assert shown == {"champion": 0.5, "challenger": pytest.approx(0.667, abs=0.001)}
    bars = {k.removeprefix("cure-by-arm-bar-"): v for k, v in heights.items()}
    assert set(bars) == {"champion", "challenger"} and bars["champion"] > 0
    assert bars["challenger"] / bars["champion"] == pytest.approx((2 / 3) / 0.5, rel=0.01)
