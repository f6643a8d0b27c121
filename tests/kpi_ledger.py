"""A small ledger whose every KPI is worked out by hand (tests/test_kpis.py says how), for the KPI and
report tests: eight cases, their contacts, payments, promises, plans, journal and hand-offs, in March
2026, and an early-warning holdout. Written in a database of its own, so other tests' rows never
change the counts.

    A  CNY champion low_risk  opened 03-02, dpd 10, 1000: paid 400 + 600 by 03-06 (cured), team-a
    B  CNY champion high_risk opened 03-03, dpd 40, 1000: promise 300 broken (100 paid), a complaint
                                                          resolved late, a plan broken, a credit report
    C  CNY challenger low_risk opened 03-05, dpd 5, 500: promise 200 kept, paid in full 03-12 (cured)
    D  USD challenger hardship opened 03-10, dpd 95, 750: settled 03-14 (500 paid, 250 forgiven), distress
    E  CNY champion low_risk  opened 03-25 (too recent for a 10-day cohort), guard refusals, open promise
    F  CNY (no arm)           opened 01-10, dpd 20: handed to legal / recovery 03-15
    G  CNY (no arm)           opened 02-10, closed 02-20 (not active in March)
    H  CNY challenger low_risk opened 03-04, dpd 0, 100: paid in full 03-08 (cured)

And in May (`TRIAL_CASES`, for the arms within their policy; all closed, so nothing of March changes): two
policies, each with a trial (strategies in `TRIALS`: `standard`'s champion is `champion`, `gentle`'s is
`base`), both with an arm named `call-first`, and two `standard` cases in no trial (no arm).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters import db
from adapters.ledger import Ledger
from testkit import postgres

START, END = date(2026, 3, 1), date(2026, 4, 1)
HORIZON = 10


def at(day: str, hour: int = 9) -> datetime:
    """A moment in 2026: '03-05' at 09:00 UTC."""
    month, d = (int(x) for x in day.split("-"))
    return datetime(2026, month, d, hour, tzinfo=UTC)


CASES = [  # id, currency, arm, segment, opened, dpd, opening balance, stage, closed
    ("A", "CNY", "champion", "low_risk", "03-02", 10, "1000.00", "relationship", None),
    ("B", "CNY", "champion", "high_risk", "03-03", 40, "1000.00", "remote_contact", None),
    ("C", "CNY", "challenger", "low_risk", "03-05", 5, "500.00", "relationship", None),
    ("D", "USD", "challenger", "hardship", "03-10", 95, "750.00", "settled", "03-20"),
    ("E", "CNY", "champion", "low_risk", "03-25", 0, "300.00", "remote_contact", None),
    ("F", "CNY", None, None, "01-10", 20, "800.00", "escalated", "03-15"),
    ("G", "CNY", None, None, "02-10", 30, "200.00", "referred", "02-20"),
    ("H", "CNY", "challenger", "low_risk", "03-04", 0, "100.00", "relationship", None),
]

MAY_START, MAY_END = date(2026, 5, 1), date(2026, 6, 1)
TRIAL_CASES = [  # id, policy, arm, opened, paid in full (cured) on, closed
    ("MS1", "standard", "champion", "05-02", "05-05", "05-05"),
    ("MS2", "standard", "champion", "05-03", None, "05-25"),
    ("MS3", "standard", "call-first", "05-04", "05-06", "05-06"),
    ("MS4", "standard", "call-first", "05-05", "05-07", "05-07"),
    ("MS5", "standard", None, "05-06", "05-08", "05-08"),
    ("MS6", "standard", None, "05-07", None, "05-27"),
    ("MG1", "gentle", "base", "05-02", "05-04", "05-04"),
    ("MG2", "gentle", "base", "05-03", "05-06", "05-06"),
    ("MG3", "gentle", "call-first", "05-04", None, "05-24"),
    ("MG4", "gentle", "call-first", "05-05", None, "05-25"),
]
TRIALS = """version: "1"
trials:
  standard:
    salt: s1
    arms:
      - {name: champion, champion: true, weight: 50}
      - {name: call-first, weight: 50}
  gentle:
    salt: g1
    arms:
      - {name: call-first, weight: 50}
      - {name: base, champion: true, weight: 50}
"""

ATTEMPTS = [  # case, channel, outcome, day, distress
    ("A", "sms", "sent", "03-03", False),
    ("B", "robot_call", "answered", "03-04", False), ("B", "sms", "sent", "03-04", False),
    ("B", "agent_call", "no_answer", "03-05", False),
    ("C", "robot_call", "conversation", "03-06", False), ("C", "sms", "delivered", "03-06", False),
    ("D", "sms", "delivered", "03-11", False), ("D", "robot_call", "answered", "03-12", True),
    ("E", "sms", "skipped", "03-26", False),
]

PAYMENTS = [  # case, amount, balance after, day, hour
    ("A", "400.00", "600.00", "03-04", 9), ("A", "600.00", "0.00", "03-06", 9),
    ("B", "100.00", "900.00", "03-08", 9),
    ("C", "200.00", "300.00", "03-08", 9), ("C", "300.00", "0.00", "03-12", 9),
    ("D", "500.00", "250.00", "03-14", 10),
    ("H", "100.00", "0.00", "03-08", 9),
]


def journal() -> dict[str, list[tuple[str, datetime, dict[str, Any]]]]:
    """Each case's journal in order: (kind, at, data); keys follow the engine's `<case>:<kind>:<seq>`."""
    out: dict[str, list[tuple[str, datetime, dict[str, Any]]]] = {}
    for case_id, _, _, _, opened, dpd, balance, _, _ in CASES:
        out[case_id] = [("case_opened", at(opened), {"days_past_due": dpd, "balance": balance, "policy": "standard@1"})]
    out["A"] += [("assigned", at("03-02", 10), {"team": "team-x", "agent": None}),
                 ("assigned", at("03-03", 10), {"team": "team-a", "agent": None}),
                 ("arrangement_to_pay", at("03-02", 11), {"plan_id": "plan-A", "status": "active"}),
                 ("arrangement_to_pay", at("03-06", 11), {"plan_id": "plan-A", "status": "completed"}),
                 ("paid_in_full", at("03-06", 10), {"total_paid": "1000.00"})]
    out["B"] += [("arrangement_to_pay", at("03-03", 11), {"plan_id": "plan-B", "status": "active"}),
                 ("stage_changed", at("03-05", 10), {"from": "remote_contact", "to": "promise"}),
                 ("complaint_opened", at("03-07"), {"complaint_id": "complaint-B-1", "category": "fees",
                                                    "channel": "phone"}),
                 ("complaint_acknowledged", at("03-08"), {"complaint_id": "complaint-B-1", "by": "sup-1"}),
                 ("handed_off", at("03-18"), {"kind": "credit_bureau", "reason": {"$sealed": "x"}}),
                 ("arrangement_to_pay", at("03-20"), {"plan_id": "plan-B", "status": "broken"}),
                 ("complaint_resolved", at("03-20", 12), {"complaint_id": "complaint-B-1", "upheld": False,
                                                          "compensation": "0", "acknowledged_late": False,
                                                          "resolved_late": True})]
    out["C"] += [("paid_in_full", at("03-12", 10), {"total_paid": "500.00"})]
    out["D"] += [("guard_decision", at("03-11", 8), {"channel": "sms", "verdict": "defer", "rule": "window.hours",
                                                     "reason": "outside hours", "packs": ["us"]}),
                 ("wellbeing_referral", at("03-12", 10), {"automated_contact": "stopped"}),
                 ("vulnerability_recorded", at("03-13"), {"driver": {"$sealed": "x"}, "source": "agent"}),
                 ("written_off", at("03-14", 11), {"amount": "250.00"}),
                 ("settlement", at("03-14", 11), {"offer_id": "offer-1", "paid": "500.00", "written_off": "250.00",
                                                  "currency": "USD"}),
                 ("paid_in_full", at("03-15"), {"total_paid": "500.00"})]
    out["E"] += [("guard_decision", at("03-26"), {"channel": "robot_call", "verdict": "deny", "rule": "cap.weekly",
                                                  "reason": "cap", "packs": ["cn"]}),
                 ("guard_decision", at("03-26", 10), {"channel": "sms", "verdict": "allow", "rule": "ok",
                                                      "reason": "", "packs": ["cn"]}),
                 ("arrangement_to_pay", at("03-26", 11), {"plan_id": "plan-E", "status": "active"})]
    out["F"] += [("handed_off", at("03-15"), {"kind": "legal_recovery", "reason": {"$sealed": "x"}})]
    out["H"] += [("paid_in_full", at("03-08", 10), {"total_paid": "100.00"})]
    for case_id, _, _, opened, cured, _ in TRIAL_CASES:
        out[case_id] = [("case_opened", at(opened), {"days_past_due": 10, "balance": "100.00"})]
        if cured:
            out[case_id].append(("paid_in_full", at(cured), {"total_paid": "100.00"}))
    return out


async def seed(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(insert(db.cases), [
            {"case_id": c, "workflow_id": f"case-{c}", "policy": "standard", "rule_packs": ["cn"], "country": "CN",
             "currency": cur, "principal": Decimal(bal), "balance": Decimal(bal), "stage": stage, "segment": seg,
             "opened_at": at(opened), "closed_at": at(closed) if closed else None, "strategy_arm": arm}
            for c, cur, arm, seg, opened, _, bal, stage, closed in CASES]
            + [{"case_id": c, "workflow_id": f"case-{c}", "policy": policy, "rule_packs": ["cn"], "country": "CN",
                "currency": "CNY", "principal": Decimal(100), "balance": Decimal(0 if cured else 100),
                "stage": "relationship" if cured else "escalated", "segment": "low_risk", "opened_at": at(opened),
                "closed_at": at(closed), "strategy_arm": arm} for c, policy, arm, opened, cured, closed in TRIAL_CASES])
        await conn.execute(insert(db.contact_attempts), [
            {"case_id": c, "idempotency_key": f"{c}:{ch}:{i}", "channel": ch, "person": "borrower",
             "robot": ch == "robot_call", "outcome": outcome,
             "guard_rule": "cap.daily" if outcome == "skipped" else "ok",
             "guard_packs": ["cn"], "planned_at": at(day), "distress": distress}
            for i, (c, ch, outcome, day, distress) in enumerate(ATTEMPTS)])
        await conn.execute(insert(db.payments), [
            {"case_id": c, "reference": f"PAY-{i}", "amount": Decimal(a), "currency": "USD" if c == "D" else "CNY",
             "paid_at": at(day, hour), "balance_after": Decimal(b)} for i, (c, a, b, day, hour) in enumerate(PAYMENTS)])
        await conn.execute(insert(db.promises), [
            {"case_id": "B", "promise_id": "B:promise:5", "amount": Decimal("300.00"), "due_date": date(2026, 3, 9),
             "deadline": at("03-10"), "taken_by": "agent", "status": "broken",
             "created_at": at("11-30")},  # written late (as under a time-skipping clock): taken at its stage change
            {"case_id": "C", "promise_id": "C:promise:3", "amount": Decimal("200.00"), "due_date": date(2026, 3, 8),
             "deadline": at("03-09"), "taken_by": "borrower", "status": "kept", "created_at": at("03-06", 12)},
            {"case_id": "E", "promise_id": "E:promise:2", "amount": Decimal("100.00"), "due_date": date(2026, 4, 4),
             "deadline": at("04-05"), "taken_by": "borrower", "status": "open", "created_at": at("03-28")}])
        await conn.execute(insert(db.plans), [
            {"case_id": c, "plan_id": f"plan-{c}", "status": status, "reason": "job_loss", "instalments": [],
             "penalty_waived": Decimal(0), "credit_effect": "none"}
            for c, status in (("A", "completed"), ("B", "broken"), ("E", "active"))])
        await conn.execute(insert(db.escalations), [
            {"case_id": "B", "idempotency_key": "complaint-B-1:sla-resolve", "kind": "supervisor",
             "reason": "complaint complaint-B-1: resolve SLA missed", "at": at("03-15")},
            {"case_id": "B", "idempotency_key": "B:handoff-supervisor:9", "kind": "supervisor",
             "reason": "task task-1 (call_back) late: call the borrower back", "at": at("03-16")},
            {"case_id": "F", "idempotency_key": "F:handoff-supervisor:4", "kind": "supervisor",
             "reason": "hand-off declined", "at": at("03-15")}])
        warnings = [("warned", "paid_on_time")] * 3 + [("warned", "overdue"), ("warned", None),
                                                       ("control", "paid_on_time"), ("control", "overdue"),
                                                       ("control", "overdue")]
        await conn.execute(insert(db.early_warnings), [
            {"case_id": f"EW-{i}", "loan_id": f"L-{i}", "group": g, "risk": Decimal("0.4"), "risk_by": "rules",
             "country": "CN", "currency": "CNY", "amount_due": Decimal("100.00"), "due_date": date(2026, 3, 10 + i),
             "started_at": at("03-01"), "outcome": o} for i, (g, o) in enumerate(warnings)]
            + [{"case_id": "EW-feb", "loan_id": "L-feb", "group": "warned", "risk": None, "risk_by": "rules",
                "country": "CN",
                "currency": "CNY", "amount_due": Decimal("100.00"), "due_date": date(2026, 2, 20),
                "started_at": at("02-15"), "outcome": "overdue"}])
    ledger = Ledger(engine)
    for case_id, entries in journal().items():
        seq = 0
        for kind, when, data in entries:
            seq += 1
            if case_id == "B" and kind == "stage_changed":
                seq = 6  # right after the promise's key (B:promise:5)
            await ledger.record_event(case_id, f"{case_id}:{kind}:{seq}", kind, when, data)


def fresh_database(database_url: str) -> str:
    """A database of its own on the tests' server, migrated to head."""
    url = postgres.create_database(database_url, f"kpi_{uuid.uuid4().hex[:8]}")
    postgres.migrate(url)
    return url
