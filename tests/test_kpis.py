"""Every figure of the report against a ledger small enough to work out by hand (tests/kpi_ledger.py), and
the statistics against published values: Newcombe's (1998) worked examples, the sample sizes of
docs/research/kpis.md, scipy's Welch interval."""

from __future__ import annotations

import math
from decimal import Decimal
from pathlib import Path

import pytest
import pytest_asyncio
from scipy import stats as sps
from temporalio.common import MetricMeter

from adapters.db import make_engine
from analytics import arms, cohorts, gauges, kpis, stats
from analytics.tables import Period, Table, group_names
from tests import kpi_ledger
from tests.kpi_ledger import HORIZON, at

MARCH = Period.of(kpi_ledger.START, kpi_ledger.END)
MAY = Period.of(kpi_ledger.MAY_START, kpi_ledger.MAY_END)


@pytest.fixture(scope="module")
def kpi_url(database_url: str) -> str:
    return kpi_ledger.fresh_database(database_url)


@pytest_asyncio.fixture(scope="module")
async def ledger(kpi_url: str):
    engine = make_engine(kpi_url, pool_size=2)
    await kpi_ledger.seed(engine)
    yield engine
    await engine.dispose()


async def figures(ledger, fn, *args) -> Table:
    async with ledger.connect() as conn:
        return await fn(conn, MARCH, *args)


def rows(table: Table) -> list[dict]:
    return [dict(zip([c for c, _ in table.columns], r, strict=True)) for r in table.rows]


# --- statistics against published values -------------------------------------------------------


@pytest.mark.parametrize(("k", "n", "low", "high"), [  # Newcombe (1998a), Stat Med 17:857, Table I, method 3
    (81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718)])
def test_wilson_matches_newcombe_1998(k, n, low, high):
    ci = stats.wilson(k, n)
    assert (round(ci.low, 4), round(ci.high, 4)) == (low, high)


@pytest.mark.parametrize(("a", "m", "b", "n", "low", "high"), [  # Newcombe (1998b), Stat Med 17:873, method 10
    (56, 70, 48, 80, 0.0524, 0.3339), (9, 10, 3, 10, 0.1705, 0.8090), (6, 7, 2, 7, 0.0582, 0.8062),
    (5, 56, 0, 29, -0.0381, 0.1926)])
def test_newcombe_matches_his_worked_examples(a, m, b, n, low, high):
    ci = stats.newcombe(a, m, b, n)
    assert (round(ci.low, 4), round(ci.high, 4)) == (low, high)
    assert ci.estimate == pytest.approx(a / m - b / n)


def test_sample_size_matches_the_research_examples():
    assert stats.sample_size_two_proportions(0.30, 0.33) == 3763
    assert stats.sample_size_two_proportions(0.30, 0.35) == 1377
    assert stats.sample_size_two_proportions(0.60, 0.65) == 1471
    assert stats.sample_size_two_proportions(0.4, 0.4) is None


def statsmodels_nobs1(p1: float, p2: float, ratio: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """statsmodels' samplesize_proportions_2indep_onetail(p2 − p1, p1, power, ratio) written out: the pooled
    proportion's variance under the null, each group's under the alternative, per unit of group 1."""
    pooled = (p1 + ratio * p2) / (1 + ratio)
    null = (pooled * (1 - pooled) * (1 + 1 / ratio)) ** 0.5
    alternative = (p1 * (1 - p1) + p2 * (1 - p2) / ratio) ** 0.5
    za, zb = sps.norm.isf(alpha / 2), sps.norm.ppf(power)
    return ((za * null + zb * alternative) / (p2 - p1)) ** 2


def test_sample_size_for_unequal_groups():
    for p1, p2 in ((0.30, 0.33), (0.30, 0.35), (0.60, 0.65), (1 / 3, 0.75)):  # equal groups: the same as before
        n = stats.sample_size_two_proportions(p1, p2)
        assert arms.sample_size_unequal(p1, p2, 1.0) == (n, n)
    for p1, p2, r in ((0.30, 0.35, 4.0), (0.60, 0.65, 4.0), (0.5, 0.4, 0.25), (1 / 3, 0.75, 5 / 3)):
        n1 = statsmodels_nobs1(p1, p2, r)
        assert arms.sample_size_unequal(p1, p2, r) == (math.ceil(n1), math.ceil(r * n1))
    # a 20% control group (r = 4), by hand: p̄ = (0.30 + 4·0.35)/5 = 0.34; [1.96·√(5·0.34·0.66) + 0.8416·√(4·0.21 +
    # 0.2275)]² / (4·0.05²) = 867.7: 868 controls, 3,471 warned; more loans in all than equal groups, fewer controls
    control, warned = arms.sample_size_unequal(0.30, 0.35, 4.0)  # type: ignore[misc]
    equal = stats.sample_size_two_proportions(0.30, 0.35)
    assert (control, warned) == (868, 3471) and control < equal and control + warned > 2 * equal
    assert arms.sample_size_unequal(0.4, 0.4, 4.0) is None and arms.sample_size_unequal(0.3, 0.4, 0) is None


def test_welch_matches_scipy():
    a, b = [12.0, 0.0, 0.0, 31.5, 7.25, 0.0, 18.0], [5.0, 9.0, 0.0, 2.5, 40.0]
    ci = stats.welch(a, b)
    expected = sps.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert (ci.low, ci.high) == (pytest.approx(expected.low), pytest.approx(expected.high))
    assert ci.estimate == pytest.approx(sum(a) / len(a) - sum(b) / len(b))


def test_kaplan_meier_by_hand():
    # times 1..5: events at 1, 2, 3, 5; censored at 2 and 4 -> 5/6, *4/5, *2/3 (3 at risk), *0 (1 at risk)
    curve = stats.kaplan_meier([1, 2, 2, 3, 4, 5], [True, False, True, True, False, True])
    assert [round(s, 4) for _, s, _, _ in curve] == [0.8333, 0.6667, 0.4444, 0.0]
    assert stats.survival_at(curve, 2.5) == pytest.approx(2 / 3)
    assert stats.survival_at(curve, 0.5) == 1.0


def test_groupings_come_from_the_allow_list_only():
    assert group_names(["segment,arm", "strategy_arm", "team"]) == ["segment", "arm", "team"]
    with pytest.raises(ValueError, match="cannot group by"):
        group_names(["segment; DROP TABLE cases"])


# --- the period figures ------------------------------------------------------------------------


async def test_portfolio_and_contacts(ledger):
    assert rows(await figures(ledger, kpis.portfolio, [])) == [
        {"cases active": 7, "opened": 6, "closed": 2, "open at end": 5}]  # G closed in February
    c = rows(await figures(ledger, kpis.contacts, []))[0]
    assert (c["attempts placed"], c["voice attempts placed"], c["right-party contacts"]) == (8, 4, 3)
    assert c["RPC rate (per voice attempt)"] == 0.75 and c["contacts per RPC"] == pytest.approx(8 / 3)
    assert (c["cases worked"], c["cases reached"], c["RPC rate (per case)"]) == (4, 3, 0.75)


async def test_money_is_summed_per_currency(ledger):
    assert rows(await figures(ledger, kpis.collected, [])) == [
        {"currency": "CNY", "payments": 6, "paying cases": 4, "amount collected": Decimal("1700.00")},
        {"currency": "USD", "payments": 1, "paying cases": 1, "amount collected": Decimal("500.00")}]
    settled, handoffs = await figures(ledger, kpis.resolutions, [])
    assert rows(settled) == [{"currency": "USD", "settlements": 1, "settled amount paid": Decimal("500.00"),
                              "settled amount forgiven": Decimal("250.00"), "settlement discount": pytest.approx(1 / 3),
                              "write-offs": 1, "amount written off": Decimal("250.00")}]
    assert [(r["hand-off"], r["hand-offs"]) for r in rows(handoffs)] == [("credit_bureau", 1), ("legal_recovery", 1)]


async def test_promises_count_and_amount(ledger):
    (p,) = rows(await figures(ledger, kpis.promises, []))
    lo, hi = stats.wilson(1, 2).low, stats.wilson(1, 2).high
    assert p == {"currency": "CNY", "taken": 3, "kept": 1, "broken": 1, "broken, partly paid": 1, "kept rate": 0.5,
                 "kept rate CI low": lo, "kept rate CI high": hi, "amount promised": Decimal("500.00"),
                 "amount kept": Decimal("300.00"), "kept rate (amount)": 0.6}  # B paid 100 of 300 before its deadline


async def test_complaints_and_missed_service_levels(ledger):
    table, missed = await figures(ledger, kpis.complaints, [])
    assert rows(table) == [{"complaints opened": 1, "cases open at end": 5, "per 1,000 cases": 200.0,
                            "cases with a complaint": 1, "resolved": 1, "acknowledged late": 0, "resolved late": 1,
                            "resolved late rate": 1.0}]
    assert [(r["missed"], r["task kind"], r["times"]) for r in rows(missed)] == [
        ("complaint_resolve", "", 1), ("task", "call_back", 1)]  # F's declined hand-off is no missed level


async def test_guard_refusals_by_rule(ledger):
    found = [(r["verdict"], r["rule"], r["times"], r["per 100 planned"])
             for r in rows(await figures(ledger, kpis.guard, []))]
    per_100 = pytest.approx(100 / 11)  # 9 attempts recorded + 2 journalled refusals (the allow is none)
    assert found == [("deferred", "window.hours", 1, per_100), ("denied", "cap.daily", 1, per_100),
                     ("denied", "cap.weekly", 1, per_100)]


async def test_distress_and_vulnerability(ledger):
    (p,) = rows(await figures(ledger, kpis.protection, []))
    assert (p["cases active"], p["with distress"], p["referred to a crisis line"], p["vulnerability recorded"],
            p["hardship reported"]) == (7, 1, 1, 1, 0)
    assert p["distress per 1,000"] == pytest.approx(1000 / 7)


# --- cohorts and snapshots ---------------------------------------------------------------------


async def test_inventory_and_roll_rates(ledger):
    stock, rolls = await figures(ledger, cohorts.inventory, [])
    assert stock.rows == [["2026-03-01", "CNY", "60-89", 1, Decimal("800.00")],  # F: 20 + 49 days
                          ["2026-04-01", "CNY", "0-29", 1, Decimal("300.00")],  # E: 0 + 6 days
                          ["2026-04-01", "CNY", "60-89", 1, Decimal("900.00")]]  # B: 40 + 28 days, after paying 100
    assert [r[1:] for r in rolls.rows] == [
        ["new", "0-29", 1, pytest.approx(1 / 6)], ["new", "60-89", 1, pytest.approx(1 / 6)],
        ["new", "paid", 3, 0.5], ["new", "settled", 1, pytest.approx(1 / 6)], ["60-89", "escalated", 1, 1.0]]


async def test_cure_rate_of_the_mature_cohort(ledger):
    (c,) = rows(await figures(ledger, cohorts.cure, [], HORIZON))
    ci = stats.wilson(3, 5)
    assert c == {"opened": 6, "left out: too recent": 1, "cohort": 5, "cured": 3, "cure rate": 0.6,
                 "CI low": ci.low, "CI high": ci.high}  # D settled: not a cure; E opened too late
    by_arm = {r["arm"]: (r["cohort"], r["cured"]) for r in rows(await figures(ledger, cohorts.cure, ["arm"], HORIZON))}
    assert by_arm == {"champion": (2, 1), "challenger": (3, 2)}


async def test_plan_survival(ledger):
    summary, curve = await figures(ledger, cohorts.plan_survival, [])
    assert rows(summary) == [{"plans started": 3, "broken": 1, "completed": 1, "active": 1, "S(3 months)": None,
                              "S(6 months)": None, "S(12 months)": None}]  # none watched 3 months yet
    months = (at("03-20") - at("03-03", 11)).total_seconds() / 86400 / cohorts.MONTH_DAYS
    assert curve.rows == [[0.0, 1.0, 3, 0], [pytest.approx(months), 0.0, 1, 1]]  # A and E censored before B broke


async def test_team_comes_from_the_latest_assignment(ledger):
    teams = {r["team"]: r["cases active"] for r in rows(await figures(ledger, kpis.portfolio, ["team"]))}
    assert teams == {"team-a": 1, "(none)": 6}


# --- comparisons -------------------------------------------------------------------------------


async def test_champion_against_challenger(ledger):
    async with ledger.connect() as conn:
        rates, money = await arms.champion_challenger(conn, MARCH, HORIZON, "champion", arms.load_costs())
    champion, challenger = rows(rates)
    d = stats.newcombe(2, 3, 1, 2)
    assert (champion["policy"], champion["arm"], champion["role"]) == ("standard", "champion", "champion")
    assert (challenger["policy"], challenger["arm"], challenger["role"]) == ("standard", "challenger", "challenger")
    assert (champion["arm"], champion["cases"], champion["cured"], champion["cure rate"]) == ("champion", 2, 1, 0.5)
    assert champion["difference vs champion"] is None and champion["complaints per 1,000 cases"] == 500.0
    assert (challenger["cases"], challenger["cured"]) == (3, 2)
    difference = [challenger[f"difference{part}"] for part in (" vs champion", " CI low", " CI high")]
    assert difference == [pytest.approx(d.estimate), pytest.approx(d.low), pytest.approx(d.high)]
    assert challenger["cases per arm needed"] == stats.sample_size_two_proportions(0.5, 2 / 3)
    assert champion["contacts per case"] == 2.0 and challenger["contacts per case"] == pytest.approx(4 / 3)
    by = {(r["arm"], r["currency"]): r for r in rows(money)}
    assert by["champion", "CNY"]["collected per case"] == 550.0  # A 1000, B 100
    assert by["champion", "CNY"]["cost per case"] == pytest.approx((0.05 + 4.25) / 2)  # A: an SMS; B: robot, SMS, agent
    welch = stats.welch([500.0, 100.0], [1000.0, 100.0])  # C and H against A and B
    assert by["challenger", "CNY"]["collected difference"] == pytest.approx(welch.estimate)
    assert by["challenger", "CNY"]["difference CI low"] == pytest.approx(welch.low)
    assert by["challenger", "USD"]["collected per case"] == 500.0
    assert by["challenger", "USD"]["collected difference"] is None  # no champion case in USD to compare with
    assert by["challenger", "USD"]["cost per case"] == pytest.approx(0.07)


async def test_arms_are_compared_within_their_policy_and_cases_in_no_trial_with_nothing(ledger):
    async with ledger.connect() as conn:
        rates, money = await arms.champion_challenger(conn, MAY, HORIZON, "champion", arms.load_costs(),
                                                      {"standard": "champion", "gentle": "base"})
    got = [(r["policy"], r["arm"], r["role"], r["cases"], r["cured"]) for r in rows(rates)]
    assert got == [("gentle", "base", "champion", 2, 2), ("gentle", "call-first", "challenger", 2, 0),
                   ("standard", "champion", "champion", 2, 1), ("standard", "call-first", "challenger", 2, 2),
                   ("standard", "(none)", "not in a trial", 2, 1)]  # call-first is two arms, not one of 4 cases
    by = {(r["policy"], r["arm"]): r for r in rows(rates)}
    for (policy, arm), (mine, theirs) in {("gentle", "call-first"): ((0, 2), (2, 2)),
                                          ("standard", "call-first"): ((2, 2), (1, 2))}.items():
        d = stats.newcombe(*mine, *theirs)
        assert by[policy, arm]["difference vs champion"] == pytest.approx(d.estimate)
        assert by[policy, arm]["difference CI low"] == pytest.approx(d.low)
    none = by["standard", "(none)"]
    assert [none[c] for c in ("difference vs champion", "difference CI low", "difference CI high",
                              "cases per arm needed")] == [None] * 4
    assert "2 case(s) with no arm" in rates.note and "compared with nothing" in rates.note
    assert [(r["arm"], r["role"], r["collected difference"]) for r in rows(money) if r["policy"] == "standard"] == [
        ("champion", "champion", None), ("call-first", "challenger", 0.0), ("(none)", "not in a trial", None)]


async def test_without_a_configured_trial_the_champion_is_the_name_given(ledger):
    async with ledger.connect() as conn:
        rates, _ = await arms.champion_challenger(conn, MAY, HORIZON, "champion", arms.load_costs())
    roles = {(r["policy"], r["arm"]): (r["role"], r["difference vs champion"]) for r in rows(rates)}
    assert roles["gentle", "base"] == ("challenger", None)  # no 'champion' arm in gentle: nothing to compare with
    assert roles["standard", "call-first"][0] == "challenger" and roles["standard", "call-first"][1] is not None
    assert "No case of the champion arm 'champion' (gentle)" in rates.note


def test_champions_come_from_the_trials_configuration(tmp_path: Path):
    assert arms.champions(tmp_path) == {}  # no strategies.yaml: no trial
    (tmp_path / "strategies.yaml").write_text(kpi_ledger.TRIALS, encoding="utf-8")
    assert arms.champions(tmp_path) == {"standard": "champion", "gentle": "base"}


async def test_early_warning_against_its_control(ledger):
    async with ledger.connect() as conn:
        groups, effect = await arms.early_warning(conn, MARCH)
    assert [r[:6] for r in groups.rows] == [["warned", 5, 4, 1, 3, 0.75], ["control", 3, 3, 0, 1, pytest.approx(1 / 3)]]
    d = stats.newcombe(3, 4, 1, 3)
    n1 = statsmodels_nobs1(1 / 3, 0.75, 5 / 3)  # groups as dealt: 5 warned loans to 3 controls
    assert effect.rows == [["warned − control", pytest.approx(d.estimate), pytest.approx(d.low), pytest.approx(d.high),
                            pytest.approx(5 / 3), math.ceil(n1), math.ceil(5 / 3 * n1)]]
    assert effect.rows[0][-2:] != [stats.sample_size_two_proportions(1 / 3, 0.75)] * 2  # not as if equal


async def test_gauges_read_the_last_30_days(ledger):
    values = await gauges.refresh(ledger, MetricMeter.noop, now=at("03-14", 12))
    assert values["open_cases"] | {} == {**{s: 0 for s in values["open_cases"]}, "relationship": 3, "remote_contact": 2}
    assert values["cure_rate_30d"] == pytest.approx(3 / 7)  # A, C, H cured; G still active in the window
    assert values["collected_today"] == {"CNY": 0.0, "USD": 500.0}
    assert values["promise_kept_rate_30d"] == 0.5 and values["complaints_per_1000_30d"] == 200.0

