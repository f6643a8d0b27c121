"""Figures that follow cases through time rather than count events: the inventory by days-past-due
bucket at each month's snapshot and the roll rates between snapshots, the cure rate of the cases opened
in the period (a cohort, with a horizon), and the survival of hardship plans (Kaplan–Meier).

A case's days past due at t: its days past due at intake (the journal's `case_opened`) plus the days since
it opened; a case paid in full, settled or closed leaves the buckets for its exit state.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from analytics import stats
from analytics.tables import COUNT, MONEY, NUMBER, RATE, TEXT, Period, Table, dims, fetch, key, ratio

BUCKETS = ("0-29", "30-59", "60-89", "90-179", "180+")
EXITS = ("paid", "settled", "escalated", "referred", "withdrawn")
MONTH_DAYS = 30.4375  # plan survival is read in months of this many days
SURVIVAL_MONTHS = (3, 6, 12)

STATE = """
    CASE WHEN f.settled_at <= s.at THEN 'settled'
         WHEN f.paid_in_full_at <= s.at THEN 'paid'
         WHEN f.closed_at <= s.at THEN CASE f.stage WHEN 'settled' THEN 'paid' ELSE f.stage END
         ELSE CASE WHEN dpd < 30 THEN '0-29' WHEN dpd < 60 THEN '30-59' WHEN dpd < 90 THEN '60-89'
                   WHEN dpd < 180 THEN '90-179' ELSE '180+' END
    END"""


def snapshots(period: Period) -> list[datetime]:
    """The period's start, 00:00 UTC on each 1st of a month inside it, and its end."""
    out, at = [period.start], period.start
    while True:
        at = datetime(at.year + (at.month == 12), at.month % 12 + 1, 1, tzinfo=UTC)
        if at >= period.end:
            break
        out.append(at)
    return [*out, period.end]


def _states(sel: str) -> str:
    """Each case's state at each snapshot (and the snapshot before it), with its balance then."""
    return f"""
        WITH snaps AS (SELECT t AS at, lag(t) OVER (ORDER BY t) AS prev
                       FROM unnest(CAST(:snaps AS timestamptz[])) AS t),
        st AS (
            SELECT s.at, s.prev, f.case_id, f.currency, {sel} {STATE} AS state,
                   COALESCE((SELECT p.balance_after FROM kpi_payments p
                             WHERE p.case_id = f.case_id AND p.paid_at <= s.at
                             ORDER BY p.paid_at DESC LIMIT 1), f.opening_balance) AS balance
            FROM snaps s JOIN kpi_case_facts f ON f.opened_at < s.at
            CROSS JOIN LATERAL (SELECT f.dpd_at_open + floor(extract(epoch FROM s.at - f.opened_at) / 86400)::int
                                AS dpd) d
        )"""


async def inventory(conn: AsyncConnection, period: Period, by: Sequence[str]) -> list[Table]:
    """Open, unpaid cases per bucket at each snapshot (count and balance per currency), and the month-to-month
    transition rates: of the cases in a bucket at one snapshot (or opened since), the share in each state
    at the next."""
    sel, group, cols = dims(by)
    params = {"snaps": snapshots(period), "buckets": list(BUCKETS)}
    g = ", ".join(f"g_{n}" for n in by)
    rows = await fetch(conn, f"""{_states(sel)}
        SELECT at, {g + ", " if g else ""}currency, state, count(*) AS n, sum(balance) AS balance FROM st
        WHERE state = ANY(CAST(:buckets AS text[]))
        GROUP BY at, {g + ", " if g else ""}currency, state""", **params)
    order = {b: i for i, b in enumerate(BUCKETS)}
    rows.sort(key=lambda r: (r["at"], key(r, by), r["currency"], order[r["state"]]))
    stock = Table("inventory", "Inventory by days past due", "snapshot", "kpi_case_facts, kpi_payments",
                  [("snapshot", TEXT), *cols, ("currency", TEXT), ("bucket", TEXT), ("cases", COUNT),
                   ("balance", MONEY)],
                  [[f"{r['at']:%Y-%m-%d}", *key(r, by), r["currency"], r["state"], r["n"], r["balance"]] for r in rows],
                  "Open cases not yet paid, at 00:00 UTC on each date. Balance: the last balance after a payment, "
                  "else the opening balance (per currency).")
    moves = await fetch(conn, f"""{_states(sel)}
        SELECT b.at, {", ".join(f"b.g_{n}" for n in by) + ", " if by else ""}
               COALESCE(a.state, 'new') AS from_state, b.state AS to_state, count(*) AS n
        FROM st b LEFT JOIN st a ON a.case_id = b.case_id AND a.at = b.prev
        WHERE b.prev IS NOT NULL AND (a.state IS NULL OR a.state = ANY(CAST(:buckets AS text[])))
        GROUP BY b.at, {", ".join(f"b.g_{n}" for n in by) + ", " if by else ""}COALESCE(a.state, 'new'), b.state""",
                        **params)
    totals: dict[tuple[Any, ...], int] = defaultdict(int)
    for r in moves:
        totals[(r["at"], key(r, by), r["from_state"])] += r["n"]
    states = {s: i for i, s in enumerate(("new", *BUCKETS, *EXITS))}
    moves.sort(key=lambda r: (r["at"], key(r, by), states.get(r["from_state"], 99), states.get(r["to_state"], 99)))
    rolls = Table("roll_rates", "Roll rates between snapshots", "snapshot", "kpi_case_facts",
                  [("to snapshot", TEXT), *cols, ("from", TEXT), ("to", TEXT), ("cases", COUNT), ("rate", RATE)],
                  [[f"{r['at']:%Y-%m-%d}", *key(r, by), r["from_state"], r["to_state"], r["n"],
                    ratio(r["n"], totals[(r["at"], key(r, by), r["from_state"])])] for r in moves],
                  "Rate: of the cases in the 'from' bucket at the previous snapshot (or opened since: 'new'), the "
                  "share in the 'to' state at this one. Rows of one 'from' sum to 100%. Exit states absorb.")
    return [stock, rolls]


# Cases opened in the period whose horizon has ended by the period's end (mature), and cured within it.
HORIZON = "make_interval(days => CAST(:horizon AS integer))"
COHORT = f"f.opened_at >= :start AND f.opened_at < :end AND f.opened_at + {HORIZON} <= :end"
CURED = f"f.cured_at IS NOT NULL AND f.cured_at < f.opened_at + {HORIZON}"


async def cure(conn: AsyncConnection, period: Period, by: Sequence[str], horizon_days: int) -> Table:
    """Of the cases opened in the period and mature by its end, those paid in full by payments within the
    horizon; the immature ones are counted and left out."""
    sel, group, cols = dims(by)
    rows = await fetch(conn, f"""
        SELECT {sel} count(*) AS opened,
               count(*) FILTER (WHERE {COHORT}) AS n, count(*) FILTER (WHERE {COHORT} AND {CURED}) AS cured
        FROM kpi_case_facts f WHERE f.opened_at >= :start AND f.opened_at < :end {group} ORDER BY 1""",
                       **period.params(), horizon=horizon_days)
    out = []
    for r in rows:
        ci = stats.wilson(r["cured"], r["n"]) if r["n"] else None
        out.append([*key(r, by), r["opened"], r["opened"] - r["n"], r["n"], r["cured"], ratio(r["cured"], r["n"]),
                    ci.low if ci else None, ci.high if ci else None])
    return Table("cure", f"Cure rate within {horizon_days} days (cohort)", "cohort", "kpi_case_facts",
                 [*cols, ("opened", COUNT), ("left out: too recent", COUNT), ("cohort", COUNT), ("cured", COUNT),
                  ("cure rate", RATE), ("CI low", RATE), ("CI high", RATE)], out,
                 f"Cases opened in the period whose {horizon_days} days ended by its end; cured: paid in full by "
                 "payments (a settlement's write-off is not a cure). 95% Wilson intervals.", thin="cohort")


async def plan_survival(conn: AsyncConnection, period: Period, by: Sequence[str]) -> list[Table]:
    """Kaplan–Meier over hardship plans started in the period: broken is the event; completed and still
    active plans are censored (at their end, or at the period's end)."""
    sel, _, cols = dims(by)
    rows = await fetch(conn, f"""
        SELECT {sel} x.status, x.started_at, x.ended_at FROM kpi_plans x JOIN kpi_case_facts f ON f.case_id = x.case_id
        WHERE x.started_at >= :start AND x.started_at < :end""", **period.params())
    groups: dict[tuple[str, ...], list[tuple[float, bool, str]]] = defaultdict(list)
    everyone: list[tuple[float, bool, str]] = []
    for r in rows:
        ended = r["ended_at"] if r["ended_at"] is not None and r["ended_at"] < period.end else None
        until = ended or period.end
        broken = r["status"] == "broken" and ended is not None
        months = max(0.0, (until - r["started_at"]).total_seconds() / 86400 / MONTH_DAYS)
        groups[key(r, by)].append((months, broken, r["status"]))
        everyone.append((months, broken, r["status"]))
    out = []
    for k in sorted(groups):
        plans = groups[k]
        curve = stats.kaplan_meier([m for m, _, _ in plans], [b for _, b, _ in plans])
        watched = max(m for m, _, _ in plans)
        out.append([*k, len(plans), sum(b for _, b, _ in plans), sum(s == "completed" for _, _, s in plans),
                    sum(s == "active" for _, _, s in plans),
                    *[stats.survival_at(curve, t) if watched >= t else None for t in SURVIVAL_MONTHS]])
    summary = Table("plan_survival", "Hardship plans: survival", "cohort", "kpi_plans",
                    [*cols, ("plans started", COUNT), ("broken", COUNT), ("completed", COUNT), ("active", COUNT),
                     *[(f"S({t} months)", RATE) for t in SURVIVAL_MONTHS]], out,
                    "Kaplan–Meier: the share of plans not broken after t months; completed and active plans are "
                    "censored. Blank where no plan has been watched that long.", thin="plans started")
    curve = stats.kaplan_meier([m for m, _, _ in everyone], [b for _, b, _ in everyone])
    points = Table("plan_survival_curve", "Hardship plans: survival curve (all plans)", "cohort", "kpi_plans",
                   [("months", NUMBER), ("survival", RATE), ("at risk", COUNT), ("broken", COUNT)],
                   [[0.0, 1.0, len(everyone), 0]] * bool(everyone) + [[t, s, n, d] for t, s, n, d in curve])
    return [summary, points]
