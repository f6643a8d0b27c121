"""The portfolio's period figures, read from the KPI views (migration 0010) for a period [start, end),
grouped by any of `analytics.tables.GROUPS`: cases, contacts, money collected, promises, settlements and
write-offs, complaints and missed service levels, the guard's refusals, distress and vulnerability.

Definitions and sources: docs/kpis.md. Money is grouped by currency too, never summed across currencies.
Cohort and snapshot figures (cure, inventory, roll rates, plan survival) are in `analytics.cohorts`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from analytics import stats
from analytics.tables import COUNT, MONEY, NUMBER, RATE, TEXT, Period, Table, dims, fetch, key, ratio

IN_PERIOD = "{col} >= :start AND {col} < :end"
ACTIVE = "f.opened_at < :end AND (f.closed_at IS NULL OR f.closed_at >= :start)"
OPEN_AT_END = "f.opened_at < :end AND (f.closed_at IS NULL OR f.closed_at >= :end)"


def _wilson(k: int, n: int) -> tuple[float | None, float | None]:
    if not n:
        return None, None
    ci = stats.wilson(k, n)
    return ci.low, ci.high


async def portfolio(conn: AsyncConnection, period: Period, by: Sequence[str]) -> Table:
    sel, group, cols = dims(by)
    rows = await fetch(conn, f"""
        SELECT {sel} count(*) FILTER (WHERE {ACTIVE}) AS active,
               count(*) FILTER (WHERE {IN_PERIOD.format(col="f.opened_at")}) AS opened,
               count(*) FILTER (WHERE {IN_PERIOD.format(col="f.closed_at")}) AS closed,
               count(*) FILTER (WHERE {OPEN_AT_END}) AS open_at_end
        FROM kpi_case_facts f WHERE {ACTIVE} {group} ORDER BY 1""", **period.params())
    return Table("portfolio", "Cases in the period", "period", "kpi_case_facts",
                 [*cols, ("cases active", COUNT), ("opened", COUNT), ("closed", COUNT), ("open at end", COUNT)],
                 [[*key(r, by), r["active"], r["opened"], r["closed"], r["open_at_end"]] for r in rows],
                 "Active: open at any moment of the period.")


async def contacts(conn: AsyncConnection, period: Period, by: Sequence[str]) -> Table:
    sel, group, cols = dims(by)
    rows = await fetch(conn, f"""
        SELECT {sel} count(*) AS planned, count(*) FILTER (WHERE x.placed) AS placed,
               count(*) FILTER (WHERE x.placed AND x.voice) AS voice, count(*) FILTER (WHERE x.right_party) AS rpc,
               count(DISTINCT x.case_id) FILTER (WHERE x.placed) AS worked,
               count(DISTINCT x.case_id) FILTER (WHERE x.right_party) AS reached
        FROM kpi_contacts x JOIN kpi_case_facts f ON f.case_id = x.case_id
        WHERE {IN_PERIOD.format(col="x.at")} {group} ORDER BY 1""", **period.params())
    return Table("contacts", "Contacts and right-party contacts", "period", "kpi_contacts",
                 [*cols, ("attempts placed", COUNT), ("voice attempts placed", COUNT), ("right-party contacts", COUNT),
                  ("RPC rate (per voice attempt)", RATE), ("contacts per RPC", NUMBER), ("cases worked", COUNT),
                  ("cases reached", COUNT), ("RPC rate (per case)", RATE)],
                 [[*key(r, by), r["placed"], r["voice"], r["rpc"], ratio(r["rpc"], r["voice"]),
                   ratio(r["placed"], r["rpc"]), r["worked"], r["reached"], ratio(r["reached"], r["worked"])]
                  for r in rows],
                 "RPC: a robot or agent call answered by the borrower, identity confirmed (answered or conversation). "
                 "Placed: every attempt but those the guard skipped and those still pending.", thin="cases worked")


async def collected(conn: AsyncConnection, period: Period, by: Sequence[str]) -> Table:
    sel, group, cols = dims(by, ["currency"])
    rows = await fetch(conn, f"""
        SELECT {sel} count(*) AS payments, count(DISTINCT p.case_id) AS paying, sum(p.amount) AS amount
        FROM kpi_payments p JOIN kpi_case_facts f ON f.case_id = p.case_id
        WHERE {IN_PERIOD.format(col="p.paid_at")} {group} ORDER BY 1""", **period.params())
    names = [c for c, _ in cols]
    return Table("collected", "Amount collected (gross)", "period", "kpi_payments",
                 [*cols, ("payments", COUNT), ("paying cases", COUNT), ("amount collected", MONEY)],
                 [[*key(r, names), r["payments"], r["paying"], r["amount"]] for r in rows],
                 "Per currency. Gross: the ledger records no refunds or reversals yet.")


async def promises(conn: AsyncConnection, period: Period, by: Sequence[str]) -> Table:
    sel, group, cols = dims(by, ["currency"])
    due = IN_PERIOD.format(col="x.deadline") + " AND x.status IN ('kept', 'broken')"
    rows = await fetch(conn, f"""
        SELECT {sel} count(*) FILTER (WHERE {IN_PERIOD.format(col="x.taken_at")}) AS taken,
               count(*) FILTER (WHERE {due} AND x.status = 'kept') AS kept,
               count(*) FILTER (WHERE {due} AND x.status = 'broken') AS broken,
               count(*) FILTER (WHERE {due} AND x.status = 'broken' AND x.paid_by_deadline > 0) AS partial,
               COALESCE(sum(x.amount) FILTER (WHERE {due}), 0) AS promised,
               COALESCE(sum(x.kept_amount) FILTER (WHERE {due}), 0) AS kept_amount
        FROM kpi_promises x JOIN kpi_case_facts f ON f.case_id = x.case_id
        WHERE {IN_PERIOD.format(col="x.taken_at")} OR ({due}) {group} ORDER BY 1""", **period.params())
    names = [c for c, _ in cols]
    out = []
    for r in rows:
        decided = r["kept"] + r["broken"]
        out.append([*key(r, names), r["taken"], r["kept"], r["broken"], r["partial"], ratio(r["kept"], decided),
                    *_wilson(r["kept"], decided), r["promised"], r["kept_amount"],
                    ratio(r["kept_amount"], r["promised"])])
    return Table("promises", "Promises to pay", "period", "kpi_promises",
                 [*cols, ("taken", COUNT), ("kept", COUNT), ("broken", COUNT), ("broken, partly paid", COUNT),
                  ("kept rate", RATE), ("kept rate CI low", RATE), ("kept rate CI high", RATE),
                  ("amount promised", MONEY), ("amount kept", MONEY), ("kept rate (amount)", RATE)], out,
                 "Kept and broken: promises whose deadline (due date plus grace) falls in the period; open and "
                 "superseded ones are left out. Amount kept: paid between taking and deadline, at most the promise.")


async def resolutions(conn: AsyncConnection, period: Period, by: Sequence[str]) -> list[Table]:
    sel, group, cols = dims(by, ["currency"])
    rows = await fetch(conn, f"""
        SELECT {sel} count(*) FILTER (WHERE x.kind = 'settlement') AS settlements,
               COALESCE(sum(x.paid) FILTER (WHERE x.kind = 'settlement'), 0) AS settled_paid,
               COALESCE(sum(x.written_off) FILTER (WHERE x.kind = 'settlement'), 0) AS settled_forgiven,
               count(*) FILTER (WHERE x.kind = 'written_off') AS write_offs,
               COALESCE(sum(x.written_off) FILTER (WHERE x.kind = 'written_off'), 0) AS written_off
        FROM kpi_outcome_events x JOIN kpi_case_facts f ON f.case_id = x.case_id
        WHERE {IN_PERIOD.format(col="x.at")} AND x.kind IN ('settlement', 'written_off') {group} ORDER BY 1""",
                       **period.params())
    names = [c for c, _ in cols]
    money = Table("settlements", "Settlements and write-offs", "period", "kpi_outcome_events",
                  [*cols, ("settlements", COUNT), ("settled amount paid", MONEY), ("settled amount forgiven", MONEY),
                   ("settlement discount", RATE), ("write-offs", COUNT), ("amount written off", MONEY)],
                  [[*key(r, names), r["settlements"], r["settled_paid"], r["settled_forgiven"],
                    ratio(r["settled_forgiven"], r["settled_paid"] + r["settled_forgiven"]), r["write_offs"],
                    r["written_off"]] for r in rows],
                  "Discount = forgiven / (paid + forgiven). Write-offs include what settlements forgave.")
    sel, group, cols = dims(by)
    rows = await fetch(conn, f"""
        SELECT {sel} x.handoff_kind AS handoff, count(*) AS n, count(DISTINCT x.case_id) AS cases
        FROM kpi_outcome_events x JOIN kpi_case_facts f ON f.case_id = x.case_id
        WHERE {IN_PERIOD.format(col="x.at")} AND x.kind = 'handed_off' {group}{", " if group else "GROUP BY "}handoff
        ORDER BY 1, 2""", **period.params())
    handoffs = Table("handoffs", "Hand-offs by kind", "period", "kpi_outcome_events",
                     [*cols, ("hand-off", TEXT), ("hand-offs", COUNT), ("cases", COUNT)],
                     [[*key(r, by), r["handoff"], r["n"], r["cases"]] for r in rows],
                     "legal_recovery ends the case with a legal / recovery partner; credit_bureau is a report.")
    return [money, handoffs]


async def complaints(conn: AsyncConnection, period: Period, by: Sequence[str]) -> list[Table]:
    sel, group, cols = dims(by)
    rows = await fetch(conn, f"""
        SELECT {sel} count(*) FILTER (WHERE {OPEN_AT_END}) AS open_at_end, COALESCE(sum(k.opened), 0) AS opened,
               count(*) FILTER (WHERE k.opened > 0) AS complaining, COALESCE(sum(k.resolved), 0) AS resolved,
               COALESCE(sum(k.ack_late), 0) AS ack_late, COALESCE(sum(k.res_late), 0) AS res_late
        FROM kpi_case_facts f LEFT JOIN (
            SELECT x.case_id, count(*) FILTER (WHERE {IN_PERIOD.format(col="x.opened_at")}) AS opened,
                   count(*) FILTER (WHERE {IN_PERIOD.format(col="x.resolved_at")}) AS resolved,
                   count(*) FILTER (WHERE {IN_PERIOD.format(col="x.resolved_at")} AND x.acknowledged_late) AS ack_late,
                   count(*) FILTER (WHERE {IN_PERIOD.format(col="x.resolved_at")} AND x.resolved_late) AS res_late
            FROM kpi_complaints x GROUP BY x.case_id) k ON k.case_id = f.case_id
        WHERE {ACTIVE} {group} ORDER BY 1""", **period.params())
    table = Table("complaints", "Complaints", "period", "kpi_complaints, kpi_case_facts",
                  [*cols, ("complaints opened", COUNT), ("cases open at end", COUNT), ("per 1,000 cases", NUMBER),
                   ("cases with a complaint", COUNT), ("resolved", COUNT), ("acknowledged late", COUNT),
                   ("resolved late", COUNT), ("resolved late rate", RATE)],
                  [[*key(r, by), r["opened"], r["open_at_end"],
                    None if not r["open_at_end"] else 1000 * r["opened"] / r["open_at_end"], r["complaining"],
                    r["resolved"], r["ack_late"], r["res_late"], ratio(r["res_late"], r["resolved"])] for r in rows],
                  "Per 1,000: complaints opened in the period per 1,000 cases open at its end (as the FCA's "
                  "firm-level data). Late: past the complaint's acknowledge or resolve deadline.",
                  thin="cases open at end")
    rows = await fetch(conn, f"""
        SELECT {sel} x.missed, COALESCE(x.task_kind, '') AS task_kind, count(*) AS n
        FROM kpi_service_levels x JOIN kpi_case_facts f ON f.case_id = x.case_id
        WHERE {IN_PERIOD.format(col="x.at")} {group}{", " if group else "GROUP BY "}x.missed, x.task_kind
        ORDER BY 1, 2""", **period.params())
    missed = Table("service_levels", "Missed service levels", "period", "kpi_service_levels",
                   [*cols, ("missed", TEXT), ("task kind", TEXT), ("times", COUNT)],
                   [[*key(r, by), r["missed"], r["task_kind"], r["n"]] for r in rows],
                   "Each is a supervisor hand-off the engine made when a deadline passed: a complaint not "
                   "acknowledged or resolved in time, a desk task past due plus late_after, a wellbeing or "
                   "vulnerability review overdue, a visit outcome not reported.")
    return [table, missed]


async def guard(conn: AsyncConnection, period: Period, by: Sequence[str]) -> Table:
    sel, group, cols = dims(by)
    rows = await fetch(conn, f"""
        SELECT {sel} x.verdict, x.rule, count(*) AS n, count(DISTINCT x.case_id) AS cases
        FROM kpi_guard x JOIN kpi_case_facts f ON f.case_id = x.case_id
        WHERE {IN_PERIOD.format(col="x.at")} {group}{", " if group else "GROUP BY "}x.verdict, x.rule
        ORDER BY 1, 2, 3""", **period.params())
    planned: dict[tuple[str, ...], int] = defaultdict(int)
    # Planned: every attempt recorded, and every refusal journalled (a skipped attempt is in both: once).
    for source, only in (("kpi_contacts", "true"), ("kpi_guard", "x.source = 'journal'")):
        for r in await fetch(conn, f"""
                SELECT {sel} count(*) AS n FROM {source} x JOIN kpi_case_facts f ON f.case_id = x.case_id
                WHERE {IN_PERIOD.format(col="x.at")} AND {only} {group}""", **period.params()):
            planned[key(r, by)] += r["n"]
    verdicts = {"deny": "denied", "defer": "deferred"}
    return Table("guard", "The guard's deferrals and denials, by rule", "period", "kpi_guard, kpi_contacts",
                 [*cols, ("verdict", TEXT), ("rule", TEXT), ("times", COUNT), ("cases", COUNT),
                  ("per 100 planned", NUMBER)],
                 [[*key(r, by), verdicts.get(r["verdict"], r["verdict"]), r["rule"], r["n"], r["cases"],
                   None if not planned[key(r, by)] else 100 * r["n"] / planned[key(r, by)]] for r in rows],
                 "Planned: attempts recorded plus the guard's journalled refusals in the period.")


async def protection(conn: AsyncConnection, period: Period, by: Sequence[str]) -> Table:
    sel, group, cols = dims(by)
    rows = await fetch(conn, f"""
        SELECT {sel} count(*) AS active, count(*) FILTER (WHERE x.distress > 0) AS distress,
               count(*) FILTER (WHERE x.referral > 0) AS referral,
               count(*) FILTER (WHERE x.vulnerable > 0) AS vulnerable,
               count(*) FILTER (WHERE x.hardship > 0) AS hardship
        FROM kpi_case_facts f LEFT JOIN (
            SELECT p.case_id, count(*) FILTER (WHERE p.kind = 'distress') AS distress,
                   count(*) FILTER (WHERE p.kind = 'wellbeing_referral') AS referral,
                   count(*) FILTER (WHERE p.kind = 'vulnerability') AS vulnerable,
                   count(*) FILTER (WHERE p.kind = 'hardship') AS hardship
            FROM kpi_protection p WHERE {IN_PERIOD.format(col="p.at")} GROUP BY p.case_id) x
            ON x.case_id = f.case_id
        WHERE {ACTIVE} {group} ORDER BY 1""", **period.params())
    per_1000: list[tuple[str, str]] = []
    out: list[list[Any]] = []
    for name in ("distress", "referral", "vulnerable", "hardship"):
        per_1000.append((f"{name} per 1,000", NUMBER))
    for r in rows:
        counts = [r["distress"], r["referral"], r["vulnerable"], r["hardship"]]
        out.append([*key(r, by), r["active"], *counts,
                    *[None if not r["active"] else 1000 * n / r["active"] for n in counts]])
    return Table("protection", "Distress, referrals, vulnerability and hardship (cases)", "period",
                 "kpi_protection, kpi_case_facts",
                 [*cols, ("cases active", COUNT), ("with distress", COUNT), ("referred to a crisis line", COUNT),
                  ("vulnerability recorded", COUNT), ("hardship reported", COUNT), *per_1000], out,
                 "Cases with at least one such fact in the period, per 1,000 active cases. The vulnerability's "
                 "driver is sealed personal data: it is not read, so there is no split by driver.", thin="cases active")


async def period_figures(conn: AsyncConnection, period: Period, by: Sequence[str]) -> list[Table]:
    """Every period figure, in the report's order."""
    return [await portfolio(conn, period, by), await contacts(conn, period, by), await collected(conn, period, by),
            await promises(conn, period, by), *await resolutions(conn, period, by),
            *await complaints(conn, period, by), await guard(conn, period, by), await protection(conn, period, by)]
