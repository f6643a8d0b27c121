"""Randomised comparisons: the strategy arms against the champion (each case's `strategy_arm`), and the
early-warning reminders against their control group. Each arm's rates come with 95% intervals and the
difference from the champion with its own, so a challenger is judged on evidence, and the cases per arm
a difference that size would need are shown beside it (docs/research/kpis.md, sections 3 and 5).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.config_files import CONFIG_DIR
from analytics import stats
from analytics.cohorts import COHORT, CURED, HORIZON
from analytics.tables import COUNT, MONEY, NUMBER, RATE, TEXT, Period, Table, fetch, ratio
from domain.enums import Channel

COSTS_FILE = CONFIG_DIR / "costs.yaml"
UnitCosts = Mapping[str, Mapping[str, Decimal]]  # currency -> channel -> cost of one attempt


def load_costs(path: Path = COSTS_FILE) -> UnitCosts:
    """The lender's unit costs per channel and currency (config/costs.yaml); every channel for each currency."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    channels = {c.value for c in Channel}
    out: dict[str, dict[str, Decimal]] = {}
    for currency, costs in (data.get("currencies") or {}).items():
        if not isinstance(costs, dict) or set(costs) != channels:
            raise ValueError(f"{path}: {currency} must give a cost for each of {', '.join(sorted(channels))}")
        try:
            out[str(currency)] = {ch: Decimal(str(v)) for ch, v in costs.items()}
        except InvalidOperation:
            raise ValueError(f"{path}: {currency}: costs must be numbers") from None
        if any(v < 0 for v in out[str(currency)].values()):
            raise ValueError(f"{path}: {currency}: costs cannot be negative")
    return out


def _cost(channels: Mapping[str, int], costs: Mapping[str, Decimal] | None) -> float | None:
    if costs is None:
        return None
    return float(sum((costs.get(ch, Decimal(0)) * n for ch, n in channels.items()), Decimal(0)))


def _welch(a: list[float], b: list[float]) -> tuple[float | None, float | None, float | None]:
    if len(a) < 2 or len(b) < 2:
        return None, None, None
    ci = stats.welch(a, b)
    return ci.estimate, ci.low, ci.high


def _mean(values: list[float | None]) -> tuple[float | None, float | None, float | None]:
    known = [v for v in values if v is not None]
    if not known:
        return None, None, None
    ci = stats.mean_interval(known)
    return ci.estimate, ci.low, ci.high


async def cohort(conn: AsyncConnection, period: Period, horizon_days: int) -> list[dict[str, Any]]:
    """One row per mature case opened in the period: its arm and what happened within the horizon."""
    rows = await fetch(conn, f"""
        SELECT f.case_id, COALESCE(f.strategy_arm, '(none)') AS arm, f.currency, ({CURED}) AS cured,
               COALESCE(pay.amount, 0) AS collected, COALESCE(k.channels, '{{}}'::jsonb) AS channels,
               COALESCE(cm.n, 0) AS complaints
        FROM kpi_case_facts f
        LEFT JOIN LATERAL (SELECT sum(p.amount) AS amount FROM kpi_payments p WHERE p.case_id = f.case_id
                           AND p.paid_at >= f.opened_at AND p.paid_at < f.opened_at + {HORIZON}) pay ON true
        LEFT JOIN LATERAL (SELECT jsonb_object_agg(c.channel, c.n) AS channels FROM (
                               SELECT x.channel, count(*) AS n FROM kpi_contacts x WHERE x.case_id = f.case_id
                               AND x.placed AND x.at >= f.opened_at AND x.at < f.opened_at + {HORIZON}
                               GROUP BY x.channel) c) k ON true
        LEFT JOIN LATERAL (SELECT count(*) AS n FROM kpi_complaints c WHERE c.case_id = f.case_id
                           AND c.opened_at >= f.opened_at AND c.opened_at < f.opened_at + {HORIZON}) cm ON true
        WHERE {COHORT} ORDER BY f.case_id""", **period.params(), horizon=horizon_days)
    for r in rows:
        if isinstance(r["channels"], str):
            r["channels"] = json.loads(r["channels"])
    return rows


async def champion_challenger(conn: AsyncConnection, period: Period, horizon_days: int, champion: str,
                              costs: UnitCosts) -> list[Table]:
    """Per arm: cure rate, its difference from the champion, contacts and complaints per case; per arm and
    currency: collected and cost per case with their differences from the champion (Welch)."""
    arms: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in await cohort(conn, period, horizon_days):
        arms[r["arm"]].append(r)
    base = arms.get(champion, [])
    base_cured = sum(bool(r["cured"]) for r in base)
    found = "" if base else f" No case of the champion arm {champion!r} is in the cohort: no differences."
    out = []
    for arm in sorted(arms, key=lambda a: (a != champion, a)):
        cases = arms[arm]
        n, cured = len(cases), sum(bool(r["cured"]) for r in cases)
        ci = stats.wilson(cured, n)
        diff = stats.newcombe(cured, n, base_cured, len(base)) if base and arm != champion else None
        needed = (stats.sample_size_two_proportions(base_cured / len(base), cured / n)
                  if base and arm != champion else None)
        contacts = _mean([float(sum(r["channels"].values())) for r in cases])
        out.append([arm, "champion" if arm == champion else "challenger", n, cured, ci.estimate, ci.low, ci.high,
                    *(([diff.estimate, diff.low, diff.high]) if diff else [None] * 3), needed, *contacts,
                    1000 * sum(r["complaints"] for r in cases) / n])
    rates = Table("arms", f"Champion and challengers: cure within {horizon_days} days", "cohort", "kpi_case_facts",
                  [("arm", TEXT), ("role", TEXT), ("cases", COUNT), ("cured", COUNT), ("cure rate", RATE),
                   ("CI low", RATE), ("CI high", RATE), ("difference vs champion", RATE), ("difference CI low", RATE),
                   ("difference CI high", RATE), ("cases per arm needed", COUNT), ("contacts per case", NUMBER),
                   ("contacts CI low", NUMBER), ("contacts CI high", NUMBER), ("complaints per 1,000 cases", NUMBER)],
                  out, "Cohort: cases opened in the period whose horizon ended by its end, by the arm they were "
                  "dealt. 95% Wilson intervals; the difference (arm minus champion) with Newcombe's hybrid score "
                  "interval. Cases per arm needed: for the observed difference to be significant at 5% "
                  "(two-sided) with 80% power. With more than one challenger, read each difference at "
                  "5%/(arms−1) (Bonferroni)." + found, thin="cases")
    money = []
    for arm in sorted(arms, key=lambda a: (a != champion, a)):
        for currency in sorted({r["currency"] for r in arms[arm]}):
            cases = [r for r in arms[arm] if r["currency"] == currency]
            theirs = [r for r in base if r["currency"] == currency]
            unit = costs.get(currency)
            collected = [float(r["collected"]) for r in cases]
            cost = [_cost(r["channels"], unit) for r in cases]
            vs = arm != champion and theirs
            base_cost = [_cost(r["channels"], unit) or 0.0 for r in theirs]
            money.append([arm, currency, len(cases), *_mean(list(collected)),
                          *(_welch(collected, [float(r["collected"]) for r in theirs]) if vs else [None] * 3),
                          *_mean(cost),
                          *(_welch([c or 0.0 for c in cost], base_cost) if vs and unit else [None] * 3)])
    spend = Table("arms_money", f"Champion and challengers: money per case within {horizon_days} days", "cohort",
                  "kpi_payments, kpi_contacts, config/costs.yaml",
                  [("arm", TEXT), ("currency", TEXT), ("cases", COUNT), ("collected per case", MONEY),
                   ("collected CI low", MONEY), ("collected CI high", MONEY), ("collected difference", MONEY),
                   ("difference CI low", MONEY), ("difference CI high", MONEY), ("cost per case", MONEY),
                   ("cost CI low", MONEY), ("cost CI high", MONEY), ("cost difference", MONEY),
                   ("cost difference CI low", MONEY), ("cost difference CI high", MONEY)], money,
                  "Per currency. Means with t intervals; differences from the champion with Welch's interval. "
                  "Cost: placed attempts times the lender's own unit costs (config/costs.yaml: assumptions, "
                  "not measurements); blank for a currency the file does not price.", thin="cases")
    return [rates, spend]


async def early_warning(conn: AsyncConnection, period: Period) -> list[Table]:
    """Loans due in the period that were flagged at risk: the warned group against the control group
    (intention to treat: a warned loan whose reminder was not sent stays warned)."""
    rows = await fetch(conn, """
        SELECT x.warning_group AS grp, count(*) AS loans, count(x.outcome) AS known,
               count(*) FILTER (WHERE x.outcome = 'paid_on_time') AS on_time
        FROM kpi_early_warnings x WHERE x.due_date >= :first AND x.due_date < :last
        GROUP BY x.warning_group ORDER BY x.warning_group DESC""",
                       first=period.start.date(), last=period.end.date())
    seen = {r["grp"]: r for r in rows}
    groups = []
    for r in rows:
        ci = stats.wilson(r["on_time"], r["known"]) if r["known"] else None
        groups.append([r["grp"], r["loans"], r["known"], r["loans"] - r["known"], r["on_time"],
                       ratio(r["on_time"], r["known"]), ci.low if ci else None, ci.high if ci else None])
    table = Table("early_warning", "Early warning: paid on time, warned against control", "cohort",
                  "kpi_early_warnings",
                  [("group", TEXT), ("loans", COUNT), ("outcome known", COUNT), ("pending", COUNT),
                   ("paid on time", COUNT), ("on-time rate", RATE), ("CI low", RATE), ("CI high", RATE)], groups,
                  "Loans flagged at risk before their due date (due in the period), dealt into a warned group "
                  "(reminded) or a control group (not contacted). 95% Wilson intervals over outcomes known.",
                  thin="outcome known")
    effect = []
    warned, control = seen.get("warned"), seen.get("control")
    if warned and control and warned["known"] and control["known"]:
        d = stats.newcombe(warned["on_time"], warned["known"], control["on_time"], control["known"])
        needed = stats.sample_size_two_proportions(control["on_time"] / control["known"],
                                                   warned["on_time"] / warned["known"])
        effect.append(["warned − control", d.estimate, d.low, d.high, needed])
    return [table, Table("early_warning_effect", "Early warning: the reminder's effect", "cohort",
                         "kpi_early_warnings",
                         [("comparison", TEXT), ("difference", RATE), ("CI low", RATE), ("CI high", RATE),
                          ("loans per group needed", COUNT)], effect,
                         "Newcombe's hybrid score interval (95%). Empty until both groups have outcomes.")]
