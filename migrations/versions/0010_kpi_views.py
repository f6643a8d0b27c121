"""kpi views: the portfolio report's facts, read from the ledger and its journal (plain fields only: no
sealed personal field, no number, no name, no free text)

Revision ID: 0010
Revises: 0009
"""
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def num(expr: str) -> str:
    """A journal amount (a decimal string) as numeric; NULL for anything else, so one bad entry never
    breaks the report."""
    return f"(CASE WHEN ({expr}) ~ '^-?[0-9]+(\\.[0-9]+)?$' THEN ({expr})::numeric END)"


VIEWS: dict[str, str] = {
    # One row per contact attempt: what was placed, by which channel, and whether it reached the borrower.
    "kpi_contacts": """
        SELECT a.id AS attempt_id, a.case_id, a.planned_at AS at, a.channel, a.person, a.outcome, a.robot,
               a.distress, a.guard_rule,
               a.outcome NOT IN ('skipped', 'pending') AS placed,
               a.channel IN ('robot_call', 'agent_call') AS voice,
               (a.channel IN ('robot_call', 'agent_call') AND a.person = 'borrower'
                AND a.outcome IN ('answered', 'conversation')) AS right_party
        FROM contact_attempts a""",
    "kpi_payments": """
        SELECT p.case_id, p.paid_at, p.amount, p.currency, p.balance_after FROM payments p""",
    # A promise's money: paid between its taking and its deadline (a kept promise counts in full). The
    # promise row has no taking time of its own: the journal's move to the promise stage that follows
    # the promise's key, else the row's creation.
    "kpi_promises": """
        SELECT b.promise_id, b.case_id, b.currency, b.amount, b.due_date, b.deadline, b.status, b.taken_at,
               b.paid_by_deadline,
               CASE WHEN b.status = 'kept' THEN b.amount ELSE LEAST(b.paid_by_deadline, b.amount) END AS kept_amount
        FROM (
            SELECT t.*, (SELECT COALESCE(sum(p.amount), 0) FROM payments p WHERE p.case_id = t.case_id
                         AND p.paid_at >= t.taken_at AND p.paid_at <= t.deadline) AS paid_by_deadline
            FROM (
                SELECT pr.promise_id, pr.case_id, c.currency, pr.amount, pr.due_date, pr.deadline, pr.status,
                       LEAST(COALESCE(sc.at, pr.created_at), pr.deadline) AS taken_at
                FROM promises pr
                JOIN cases c ON c.case_id = pr.case_id
                LEFT JOIN case_events sc ON sc.kind = 'stage_changed' AND sc.data ->> 'to' = 'promise'
                    AND split_part(pr.promise_id, ':', 3) ~ '^[0-9]{1,9}$'
                    AND sc.idempotency_key = pr.case_id || ':stage_changed:'
                        || (CASE WHEN split_part(pr.promise_id, ':', 3) ~ '^[0-9]{1,9}$'
                                 THEN split_part(pr.promise_id, ':', 3)::int + 1 END)
            ) t
        ) b""",
    # Distress, crisis-line referrals, vulnerability and hardship, as dated facts (never the driver or reason).
    "kpi_protection": """
        SELECT a.case_id, a.planned_at AS at, 'distress' AS kind FROM contact_attempts a WHERE a.distress
        UNION ALL
        SELECT e.case_id, e.at, 'distress' FROM case_events e
            WHERE e.kind = 'visit_reported' AND e.data -> 'distress' = 'true'::jsonb
        UNION ALL
        SELECT e.case_id, e.at, CASE e.kind WHEN 'wellbeing_referral' THEN 'wellbeing_referral'
                                            WHEN 'vulnerability_recorded' THEN 'vulnerability'
                                            ELSE 'hardship' END
        FROM case_events e WHERE e.kind IN ('wellbeing_referral', 'vulnerability_recorded', 'hardship_reported')""",
    # Settlements, write-offs and hand-offs. A settlement's write-off is also a `written_off` entry: sum
    # write-offs from those entries only.
    "kpi_outcome_events": f"""
        SELECT e.case_id, e.at, e.kind, c.currency,
               CASE WHEN e.kind = 'settlement' THEN {num("e.data ->> 'paid'")} END AS paid,
               CASE WHEN e.kind = 'settlement' THEN {num("e.data ->> 'written_off'")}
                    WHEN e.kind = 'written_off' THEN {num("e.data ->> 'amount'")} END AS written_off,
               CASE WHEN e.kind = 'handed_off' THEN e.data ->> 'kind' END AS handoff_kind
        FROM case_events e JOIN cases c ON c.case_id = e.case_id
        WHERE e.kind IN ('settlement', 'written_off', 'handed_off')""",
    "kpi_complaints": """
        SELECT o.data ->> 'complaint_id' AS complaint_id, o.case_id, o.at AS opened_at,
               o.data ->> 'category' AS category, o.data ->> 'channel' AS channel,
               a.at AS acknowledged_at, r.at AS resolved_at,
               r.data -> 'acknowledged_late' = 'true'::jsonb AS acknowledged_late,
               r.data -> 'resolved_late' = 'true'::jsonb AS resolved_late,
               r.data -> 'upheld' = 'true'::jsonb AS upheld
        FROM case_events o
        LEFT JOIN case_events a ON a.case_id = o.case_id AND a.kind = 'complaint_acknowledged'
            AND a.data ->> 'complaint_id' = o.data ->> 'complaint_id'
        LEFT JOIN case_events r ON r.case_id = o.case_id AND r.kind = 'complaint_resolved'
            AND r.data ->> 'complaint_id' = o.data ->> 'complaint_id'
        WHERE o.kind = 'complaint_opened'""",
    # Missed service levels, from the supervisor hand-offs the engine makes when a deadline passes: a
    # complaint's acknowledge and resolve timers, a desk task past its due time plus `late_after`, a
    # wellbeing or vulnerability review overdue, a visit outcome not reported. The reason text stays out.
    "kpi_service_levels": """
        SELECT s.case_id, s.at, s.missed, s.task_kind FROM (
            SELECT e.case_id, e.at,
                   CASE WHEN e.idempotency_key LIKE '%:sla-acknowledge' THEN 'complaint_acknowledge'
                        WHEN e.idempotency_key LIKE '%:sla-resolve' THEN 'complaint_resolve'
                        WHEN e.reason LIKE 'task % late:%' THEN 'task'
                        WHEN e.reason = 'wellbeing review overdue' THEN 'review'
                        WHEN e.reason = 'visit outcome not reported by its deadline' THEN 'visit_report'
                   END AS missed,
                   CASE WHEN e.reason LIKE 'task % late:%'
                        THEN substring(e.reason FROM '^task [^ ]+ \\(([a-z_]+)\\) late:') END AS task_kind
            FROM escalations e WHERE e.kind = 'supervisor'
        ) s WHERE s.missed IS NOT NULL""",
    # The guard's "not now" and "no": journalled decisions (contacts, dials, hand-offs) and any attempt row
    # the guard skipped. The reason text stays out; the rule names it.
    "kpi_guard": """
        SELECT e.case_id, e.at, 'journal' AS source, e.data ->> 'verdict' AS verdict, e.data ->> 'rule' AS rule,
               COALESCE(e.data ->> 'channel', e.data ->> 'action') AS channel
        FROM case_events e WHERE e.kind = 'guard_decision' AND e.data ->> 'verdict' IN ('deny', 'defer')
        UNION ALL
        SELECT a.case_id, a.planned_at, 'attempt', 'deny', a.guard_rule, a.channel
        FROM contact_attempts a WHERE a.outcome = 'skipped'""",
    # Hardship plans that became active: when they started and, if they ended, when (events first, the
    # plan row's own times for histories older than the arrangement events).
    "kpi_plans": """
        SELECT pl.plan_id, pl.case_id, pl.status,
               COALESCE(ev.started_at, pl.created_at) AS started_at,
               COALESCE(ev.ended_at, CASE WHEN pl.status IN ('broken', 'completed') THEN pl.updated_at END) AS ended_at
        FROM plans pl
        LEFT JOIN (
            SELECT e.data ->> 'plan_id' AS plan_id,
                   min(e.at) FILTER (WHERE e.data ->> 'status' = 'active') AS started_at,
                   min(e.at) FILTER (WHERE e.data ->> 'status' IN ('broken', 'completed')) AS ended_at
            FROM case_events e WHERE e.kind = 'arrangement_to_pay' GROUP BY 1
        ) ev ON ev.plan_id = pl.plan_id
        WHERE pl.status IN ('active', 'completed', 'broken')""",
    "kpi_early_warnings": """
        SELECT w.case_id, w."group" AS warning_group, w.outcome, w.risk, w.risk_by, w.country, w.currency,
               w.amount_due, w.due_date, w.started_at, w.reminded_at, w.outcome_at
        FROM early_warnings w""",
    # One row per case: its attributes for grouping, its milestones, and its lifetime totals. Team: the
    # team of the case's latest assignment. Cured: paid in full by payments (a settlement's write-off is
    # not a cure).
    "kpi_case_facts": f"""
        SELECT c.case_id, c.opened_at, c.closed_at, c.stage, c.segment, c.policy, c.strategy_arm, c.country,
               c.currency, t.team,
               COALESCE(o.dpd_at_open, 0) AS dpd_at_open,
               COALESCE(o.opening_balance, c.principal) AS opening_balance,
               c.balance,
               COALESCE(p.collected, 0) AS collected,
               e.paid_in_full_at,
               CASE WHEN e.settled_at IS NULL OR e.settled_at > e.paid_in_full_at
                    THEN e.paid_in_full_at END AS cured_at,
               e.settled_at, COALESCE(e.written_off, 0) AS written_off, e.legal_handoff_at,
               COALESCE(k.contacts, 0) AS contacts, COALESCE(k.right_party_contacts, 0) AS right_party_contacts,
               COALESCE(pr.promises_made, 0) AS promises_made, COALESCE(pr.promises_kept, 0) AS promises_kept,
               COALESCE(pr.promises_broken, 0) AS promises_broken,
               COALESCE(pr.promised_amount, 0) AS promised_amount, COALESCE(pr.kept_amount, 0) AS kept_amount,
               COALESCE(e.complaints, 0) AS complaints,
               d.distress_at, e.vulnerable_at
        FROM cases c
        LEFT JOIN (
            SELECT DISTINCT ON (x.case_id) x.case_id,
                   CASE WHEN x.data ->> 'days_past_due' ~ '^[0-9]{{1,6}}$' THEN (x.data ->> 'days_past_due')::int END
                       AS dpd_at_open,
                   {num("x.data ->> 'balance'")} AS opening_balance
            FROM case_events x WHERE x.kind = 'case_opened' ORDER BY x.case_id, x.seq
        ) o ON o.case_id = c.case_id
        LEFT JOIN (
            SELECT DISTINCT ON (x.case_id) x.case_id, x.data ->> 'team' AS team
            FROM case_events x WHERE x.kind = 'assigned' ORDER BY x.case_id, x.seq DESC
        ) t ON t.case_id = c.case_id
        LEFT JOIN (
            SELECT x.case_id,
                   min(x.at) FILTER (WHERE x.kind = 'paid_in_full') AS paid_in_full_at,
                   min(x.at) FILTER (WHERE x.kind = 'settlement') AS settled_at,
                   min(x.at) FILTER (WHERE x.kind = 'handed_off' AND x.data ->> 'kind' = 'legal_recovery')
                       AS legal_handoff_at,
                   sum({num("x.data ->> 'amount'")}) FILTER (WHERE x.kind = 'written_off') AS written_off,
                   min(x.at) FILTER (WHERE x.kind = 'vulnerability_recorded') AS vulnerable_at,
                   count(*) FILTER (WHERE x.kind = 'complaint_opened') AS complaints
            FROM case_events x
            WHERE x.kind IN ('paid_in_full', 'settlement', 'handed_off', 'written_off', 'vulnerability_recorded',
                             'complaint_opened')
            GROUP BY x.case_id
        ) e ON e.case_id = c.case_id
        LEFT JOIN (SELECT x.case_id, sum(x.amount) AS collected FROM payments x GROUP BY x.case_id) p
            ON p.case_id = c.case_id
        LEFT JOIN (
            SELECT x.case_id, count(*) FILTER (WHERE x.placed) AS contacts,
                   count(*) FILTER (WHERE x.right_party) AS right_party_contacts
            FROM kpi_contacts x GROUP BY x.case_id
        ) k ON k.case_id = c.case_id
        LEFT JOIN (
            SELECT x.case_id, count(*) AS promises_made, count(*) FILTER (WHERE x.status = 'kept') AS promises_kept,
                   count(*) FILTER (WHERE x.status = 'broken') AS promises_broken,
                   sum(x.amount) FILTER (WHERE x.status IN ('kept', 'broken')) AS promised_amount,
                   sum(x.kept_amount) FILTER (WHERE x.status IN ('kept', 'broken')) AS kept_amount
            FROM kpi_promises x GROUP BY x.case_id
        ) pr ON pr.case_id = c.case_id
        LEFT JOIN (SELECT x.case_id, min(x.at) AS distress_at FROM kpi_protection x WHERE x.kind = 'distress'
                   GROUP BY x.case_id) d ON d.case_id = c.case_id""",
}


def upgrade() -> None:
    # Straight to the driver: the views' literals hold colons (idempotency keys), which text() would bind.
    for name, body in VIEWS.items():
        op.get_bind().exec_driver_sql(f"CREATE VIEW {name} AS {body}")


def downgrade() -> None:
    for name in reversed(list(VIEWS)):
        op.get_bind().exec_driver_sql(f"DROP VIEW IF EXISTS {name}")
