"""Randomised comparisons: the strategy arms against the champion (each case's `strategy_arm`), and the
early-warning reminders against their control group. Each arm's rates come with 95% intervals and the
difference from the champion with its own, so a challenger is judged on evidence, and the cases a
difference that size would need are shown beside it (docs/research/kpis.md, sections 3 and 5).

Arms are compared within one policy's trial only: a case's arm is one of its policy's arms, so the same
name in two policies is two arms. The champion of each policy is the one its trial in
`config/strategies.yaml` names, else the name the report is given. Cases with no arm (`(none)`: opened
before the policy had a trial, or a policy without one) were dealt nothing: they are shown, apart, and
never compared with the champion.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml
from scipy import stats as sps
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.config_files import CONFIG_DIR, load_strategies
from analytics import stats
from analytics.cohorts import COHORT, CURED, HORIZON
from analytics.tables import COUNT, MONEY, NUMBER, RATE, TEXT, Period, Table, fetch, ratio
from domain.enums import Channel

COSTS_FILE = CONFIG_DIR / "costs.yaml"
UnitCosts = Mapping[str, Mapping[str, Decimal]]  # currency -> channel -> cost of one attempt
NO_ARM = "(none)"  # a case dealt no arm: in no trial
CHAMPION, CHALLENGER, NO_TRIAL = "champion", "challenger", "not in a trial"


def champions(config_dir: Path = CONFIG_DIR) -> dict[str, str]:
    """Each policy's champion arm, as its trial in `strategies.yaml` names it (none without the file)."""
    return {policy: trial.champion.name for policy, trial in load_strategies(config_dir).trials.items()}


def sample_size_unequal(p1: float, p2: float, ratio: float, alpha: float = stats.ALPHA,
                        power: float = stats.POWER) -> tuple[int, int] | None:
    """(n1, n2) to detect p1 vs p2 (two-sided alpha, the given power) when group 2 is `ratio` times group 1,
    no continuity correction: n1 = [z_{1−α/2}·√((r+1)·p̄(1−p̄)) + z_{1−β}·√(r·p1(1−p1) + p2(1−p2))]² / (r·(p1−p2)²),
    p̄ = (p1 + r·p2)/(r+1), n2 = r·n1 (each rounded up). With r = 1 it is the equal-arms formula.

    Source: J. L. Fleiss, A. Tytun, H. K. Ury (1980), "A simple approximation for calculating sample sizes
    for comparing independent proportions", Biometrics 36:343-346; Fleiss, Levin, Paik (2003), Statistical
    Methods for Rates and Proportions, 3rd ed., section 4.4 (unequal sample sizes); the same as statsmodels'
    `samplesize_proportions_2indep_onetail(diff, prop2, power, ratio)` (pooled variance under the null).
    None when p1 = p2 (no sample is large enough) or when a group is empty (ratio 0 or unknown)."""
    for p in (p1, p2):
        if not 0 <= p <= 1:
            raise ValueError(f"a proportion must be within 0..1, not {p}")
    if p1 == p2 or not ratio > 0:
        return None
    r = ratio
    p_bar = (p1 + r * p2) / (r + 1)
    za, zb = stats.z_two_sided(alpha), float(sps.norm.ppf(power))
    root = za * math.sqrt((r + 1) * p_bar * (1 - p_bar)) + zb * math.sqrt(r * p1 * (1 - p1) + p2 * (1 - p2))
    n1 = root * root / (r * (p1 - p2) ** 2)
    return math.ceil(n1), math.ceil(r * n1)


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
        SELECT f.case_id, COALESCE(f.policy, '(none)') AS policy, COALESCE(f.strategy_arm, '(none)') AS arm,
               f.currency, ({CURED}) AS cured,
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


def _role(arm: str, champion: str) -> str:
    return NO_TRIAL if arm == NO_ARM else CHAMPION if arm == champion else CHALLENGER


async def champion_challenger(conn: AsyncConnection, period: Period, horizon_days: int, champion: str,
                              costs: UnitCosts, trials: Mapping[str, str] | None = None) -> list[Table]:
    """Per policy and arm: cure rate, its difference from the policy's champion, contacts and complaints per
    case; per policy, arm and currency: collected and cost per case with their differences from the champion
    (Welch). `trials`: each policy's champion by name (`champions()`); a policy not in it has `champion`.
    Cases with no arm are shown last in their policy, not in a trial, and compared with nothing."""
    arms: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in await cohort(conn, period, horizon_days):
        arms[r["policy"], r["arm"]].append(r)
    named = dict(trials or {})

    def champion_of(policy: str) -> str:
        return named.get(policy, champion)

    def order(key: tuple[str, str]) -> tuple[str, int, str]:
        policy, arm = key
        return policy, {CHAMPION: 0, CHALLENGER: 1, NO_TRIAL: 2}[_role(arm, champion_of(policy))], arm

    keys = sorted(arms, key=order)
    policies = sorted({policy for policy, _ in keys})
    challengers = {policy: sum(_role(a, champion_of(policy)) == CHALLENGER for p, a in keys if p == policy)
                   for policy in policies}
    missing = [f"{champion_of(policy)!r} ({policy})" for policy in policies
               if challengers[policy] and (policy, champion_of(policy)) not in arms]
    found = (f" No case of the champion arm {', '.join(missing)} is in the cohort: no differences there."
             if missing else "")
    none = sum(len(arms[k]) for k in keys if k[1] == NO_ARM)
    apart = (f" {none} case(s) with no arm ({NO_ARM}: dealt in no trial) are shown apart, compared with nothing."
             if none else "")
    out = []
    for key in keys:
        policy, arm = key
        cases, role = arms[key], _role(arm, champion_of(policy))
        base = arms.get((policy, champion_of(policy)), []) if role == CHALLENGER else []
        base_cured = sum(bool(r["cured"]) for r in base)
        n, cured = len(cases), sum(bool(r["cured"]) for r in cases)
        ci = stats.wilson(cured, n)
        diff = stats.newcombe(cured, n, base_cured, len(base)) if base else None
        needed = stats.sample_size_two_proportions(base_cured / len(base), cured / n) if base else None
        contacts = _mean([float(sum(r["channels"].values())) for r in cases])
        out.append([policy, arm, role, n, cured, ci.estimate, ci.low, ci.high,
                    *(([diff.estimate, diff.low, diff.high]) if diff else [None] * 3), needed, *contacts,
                    1000 * sum(r["complaints"] for r in cases) / n])
    rates = Table("arms", f"Champion and challengers: cure within {horizon_days} days", "cohort", "kpi_case_facts",
                  [("policy", TEXT), ("arm", TEXT), ("role", TEXT), ("cases", COUNT), ("cured", COUNT),
                   ("cure rate", RATE), ("CI low", RATE), ("CI high", RATE), ("difference vs champion", RATE),
                   ("difference CI low", RATE), ("difference CI high", RATE), ("cases per arm needed", COUNT),
                   ("contacts per case", NUMBER), ("contacts CI low", NUMBER), ("contacts CI high", NUMBER),
                   ("complaints per 1,000 cases", NUMBER)],
                  out, "Cohort: cases opened in the period whose horizon ended by its end, by the policy and the arm "
                  "they were dealt; each challenger is compared with its own policy's champion only. 95% Wilson "
                  "intervals; the difference (arm minus champion) with Newcombe's hybrid score interval. Cases per "
                  "arm needed: for the observed difference to be significant at 5% (two-sided) with 80% power, "
                  "with arms of equal size. With more than one challenger in a policy, read each difference at "
                  "5%/(challengers) (Bonferroni)." + apart + found, thin="cases")
    money = []
    for key in keys:
        policy, arm = key
        role = _role(arm, champion_of(policy))
        base = arms.get((policy, champion_of(policy)), []) if role == CHALLENGER else []
        for currency in sorted({r["currency"] for r in arms[key]}):
            cases = [r for r in arms[key] if r["currency"] == currency]
            theirs = [r for r in base if r["currency"] == currency]
            unit = costs.get(currency)
            collected = [float(r["collected"]) for r in cases]
            cost = [_cost(r["channels"], unit) for r in cases]
            vs = bool(theirs)
            base_cost = [_cost(r["channels"], unit) or 0.0 for r in theirs]
            money.append([policy, arm, role, currency, len(cases), *_mean(list(collected)),
                          *(_welch(collected, [float(r["collected"]) for r in theirs]) if vs else [None] * 3),
                          *_mean(cost),
                          *(_welch([c or 0.0 for c in cost], base_cost) if vs and unit else [None] * 3)])
    spend = Table("arms_money", f"Champion and challengers: money per case within {horizon_days} days", "cohort",
                  "kpi_payments, kpi_contacts, config/costs.yaml",
                  [("policy", TEXT), ("arm", TEXT), ("role", TEXT), ("currency", TEXT), ("cases", COUNT),
                   ("collected per case", MONEY), ("collected CI low", MONEY), ("collected CI high", MONEY),
                   ("collected difference", MONEY), ("difference CI low", MONEY), ("difference CI high", MONEY),
                   ("cost per case", MONEY), ("cost CI low", MONEY), ("cost CI high", MONEY),
                   ("cost difference", MONEY), ("cost difference CI low", MONEY), ("cost difference CI high", MONEY)],
                  money,
                  "Per policy and currency. Means with t intervals; differences from the policy's champion with "
                  "Welch's interval (none for the champion itself, nor for cases in no trial). Cost: placed "
                  "attempts times the lender's own unit costs (config/costs.yaml: assumptions, not measurements); "
                  "blank for a currency the file does not price.", thin="cases")
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
        allocation = warned["loans"] / control["loans"]  # as dealt (the control share is 20% by default)
        needed = sample_size_unequal(control["on_time"] / control["known"], warned["on_time"] / warned["known"],
                                     allocation)
        effect.append(["warned − control", d.estimate, d.low, d.high, allocation, *(needed or (None, None))])
    return [table, Table("early_warning_effect", "Early warning: the reminder's effect", "cohort",
                         "kpi_early_warnings",
                         [("comparison", TEXT), ("difference", RATE), ("CI low", RATE), ("CI high", RATE),
                          ("warned loans per control loan", NUMBER), ("control loans needed", COUNT),
                          ("warned loans needed", COUNT)], effect,
                         "Newcombe's hybrid score interval (95%). Loans needed: in each group, for the observed "
                         "difference to be significant at 5% (two-sided) with 80% power, with the groups in the "
                         "proportion they were dealt (the control group is the smaller: 20% by default), by the "
                         "formula for unequal groups (Fleiss, Tytun and Ury 1980). Empty until both groups have "
                         "outcomes.")]
