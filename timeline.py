"""One case's story, for audits and support: its history and its journal together, every time in the
borrower's zone: stage changes with their reasons, the assessment, the guard's deferrals and denials with
their rule, holds and reviews (distress, the crisis-line referral, the reviewer's decision and who made it),
approvals and who gave them, payments and how they were applied, offers, hand-offs, contacts and waits.

    python timeline.py EX-1001                          # text
    python timeline.py EX-1001 --html case.html         # a standalone HTML page (prints as it reads)
    python timeline.py EX-1001 --kinds stage,review,approval   # only these kinds (see KINDS)

Personal data appears only when the configured key decrypts it; without the key a payload reads
`[encrypted]`.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter

from domain.case_input import workflow_id_for

KINDS = ("case", "stage", "contact", "guard", "hold", "review", "approval", "money", "offer", "notice", "handoff",
         "desk", "wait", "message", "closed")


@dataclass
class Row:
    at: datetime
    what: str
    detail: str
    kind: str = "case"


def _money(d: dict) -> str:
    applied = d.get("allocation") or {}
    parts = [f"{c} {applied[c]}" for c in ("fees", "penalty", "interest", "principal", "overpaid")
             if applied.get(c) not in (None, "0", "0.00")]
    return (f"{d.get('amount', '')} ({', '.join(parts)})" if parts else str(d.get("amount", ""))) \
        + (f" · balance {d['balance']}" if d.get("balance") else "")


def _words(value: object) -> str:
    return str(value).replace("_", " ")


# The journal's entries that tell the story: kind -> (row kind, title, detail), each from the entry's data.
STORY: dict[str, tuple[str, Callable[[dict], str], Callable[[dict], str]]] = {
    "stage_changed": ("stage", lambda d: f"Stage → {_words(d['to'])}", lambda d: d.get("why", "")),
    "assessed": ("case", lambda d: "Assessed", lambda d: f"segment {_words(d.get('segment'))} · ability "
                 f"{d.get('ability')} · willingness {d.get('willingness')}"),
    "guard_decision": ("guard", lambda d: f"Guard: {d['verdict']} {_words(d.get('action', ''))}".strip(),
                       lambda d: f"{d['rule']}: {d['reason']}"),
    "hold_started": ("hold", lambda d: f"Hold: {_words(d['kind'])}",
                     lambda d: d.get("reason", "") + (f" · until {d['until']}" if d.get("until") else "")),
    "hold_ended": ("hold", lambda d: f"Hold lifted: {_words(d['kind'])}", lambda d: d.get("reason", "")),
    "wellbeing_referral": ("review", lambda d: "Crisis-line referral", lambda d: ", ".join(
        f"{_words(k)} {_words(v)}" for k, v in d.items() if isinstance(v, str))),
    "vulnerability_recorded": ("review", lambda d: "Vulnerability recorded", lambda d: _words(d.get("source", ""))),
    "approval_requested": ("approval", lambda d: f"Approval asked: {_words(d['kind'])}",
                           lambda d: d.get("summary", "")),
    "approval_decided": ("approval", lambda d: f"{_words(d['kind']).capitalize()} {d['verdict']}",
                         lambda d: f"by {d['by']}" + (f" ({d['role']})" if d.get("role") else "")
                         + (f": {d['note']}" if d.get("note") else "")),
    "approval_withdrawn": ("approval", lambda d: f"Approval withdrawn: {_words(d['kind'])}",
                           lambda d: d.get("why", "")),
    "handed_off": ("handoff", lambda d: f"Handed off to {_words(d['kind'])}", lambda d: d.get("reason", "")),
    "payment_applied": ("money", lambda d: "Payment applied", _money),
    "overpayment": ("money", lambda d: "Overpaid: refund due", lambda d: str(d.get("amount", ""))),
    "penalty_waived": ("money", lambda d: "Penalty waived", lambda d: str(d.get("amount", ""))),
    "written_off": ("money", lambda d: "Written off", lambda d: f"{d.get('amount')} · {d.get('why', '')}"),
    "balance_corrected": ("money", lambda d: "Balance corrected", lambda d: f"to {d.get('balance')}"),
    "freeze_started": ("money", lambda d: f"Interest frozen: {_words(d['reason'])}", lambda d: f"from {d['on']}"),
    "freeze_ended": ("money", lambda d: f"Freeze ended: {_words(d['reason'])}", lambda d: f"on {d['on']}"),
    "arrangement_to_pay": ("money", lambda d: f"Arrangement to pay {d['status']}",
                           lambda d: f"{d['instalments']} instalments, {d['total']} {d['currency']}"),
    "relief_offered": ("offer", lambda d: f"Offered: {_words(d['kind'])}", lambda d: f"costs {d['cost']} "
                       f"{d['currency']} ({d['share']} of the balance) · {d['approver']} approves · by "
                       f"{d['offered_by']} · until {d['expires_at']}"),
    "relief_accepted": ("offer", lambda d: f"Accepted: {_words(d['kind'])}", lambda d: f"by {d['by']}"),
    "relief_lapsed": ("offer", lambda d: f"Lapsed: {_words(d['kind'])}", lambda d: d.get("why", "")),
    "relief_reviewed": ("offer", lambda d: f"Reviewed: {_words(d['kind'])}", lambda d: d.get("why", "")),
    "relief_broken": ("offer", lambda d: f"Broken: {_words(d['kind'])}", lambda d: d.get("why", "")),
    "relief_completed": ("offer", lambda d: f"Completed: {_words(d['kind'])}", lambda d: d.get("why", "")),
    "settlement": ("offer", lambda d: "Settled", lambda d: f"paid {d['paid']}, written off {d['written_off']}"),
    "hardship_reported": ("review", lambda d: "Hardship reported", lambda d: _words(d.get("reason", ""))),
    "notice_sent": ("notice", lambda d: f"Notice posted: {_words(d.get('kind', ''))}", lambda d: ""),
    "dispute_opened": ("hold", lambda d: "Dispute opened", lambda d: d.get("reason", "")),
    "dispute_resolved": ("hold", lambda d: "Dispute " + ("upheld" if d.get("upheld") else "resolved: debt verified"),
                         lambda d: f"by {d.get('decided_by')}: {d.get('note', '')}"),
    "hard_stop_recorded": ("hold", lambda d: f"Hard stop: {_words(d.get('kind'))}", lambda d: f"by {d.get('by')}"),
    "cease_contact": ("hold", lambda d: f"Stop contact: {_words(d.get('scope'))}", lambda d: d.get("reason", "")),
    "paid_in_full": ("money", lambda d: "Paid in full", lambda d: f"total paid {d.get('total_paid')}"),
    "visit_reported": ("contact", lambda d: f"Visit: {_words(d.get('result'))}",
                       lambda d: f"{d.get('collectors')} collectors" + (" · distress" if d.get("distress") else "")),
    "collectors_chosen": ("contact", lambda d: "Collectors chosen", lambda d: ", ".join(d.get("collectors", []))
                          + f" ({d.get('training')} current)"),
    "contact_outcome": ("desk", lambda d: f"Outcome: {_words(d['party'])}, {_words(d['result'])}",
                        lambda d: f"{_words(d['channel'])} by {d['agent']}"
                        + (f" · reason {_words(d['reason'])}" if isinstance(d.get("reason"), str) else "")
                        + (f" · call back {d['call_back_at']}" if d.get("call_back_at") else "")
                        + (f" · {d['notes']}" if isinstance(d.get("notes"), str) and d["notes"] else "")),
    "assigned": ("desk", lambda d: f"Assigned to {d['team']}" + (f": {d['agent']}" if d.get("agent") else ""),
                 lambda d: f"by {d.get('by')}" + (f" · until {d['until']}" if d.get("until") else "")),
    "released": ("desk", lambda d: f"Released by {d['agent']}", lambda d: f"to {d.get('team')}'s queue"),
    "lease_ended": ("desk", lambda d: f"Lease ended: {d.get('agent') or d.get('team')}",
                    lambda d: d.get("why") or f"back to {d.get('team')}'s queue"),
    "task_opened": ("desk", lambda d: f"Task: {_words(d['kind'])}",
                    lambda d: f"{d.get('summary', '')} · {d.get('owner') or d.get('team')} by {d.get('due_at')}"),
    "task_closed": ("desk", lambda d: f"Task closed: {_words(d['kind'])}",
                    lambda d: f"by {d.get('by')}" + (f": {d['finding']}" if isinstance(d.get("finding"), str)
                                                     and d.get("finding") else "")),
}


async def _open(payload: Payload, converter: DataConverter) -> object:
    try:
        if converter.payload_codec is not None:
            payload = (await converter.payload_codec.decode([payload]))[0]
        return json.loads(payload.data) if payload.data else None
    except Exception:
        return "[encrypted]"


async def rows(history: WorkflowHistory, converter: DataConverter) -> tuple[list[Row], str]:
    """The events a person cares about, with what they carried; and the borrower's timezone."""
    out: list[Row] = []
    scheduled: dict[int, tuple[str, ...]] = {}  # event id -> activity, summary[, guard]
    tz = "UTC"

    async def summary(event: HistoryEvent) -> str:
        if event.HasField("user_metadata") and event.user_metadata.HasField("summary"):
            value = await _open(event.user_metadata.summary, converter)
            return value if isinstance(value, str) else ""
        return ""

    for e in history.events:
        at = e.event_time.ToDatetime().replace(tzinfo=ZoneInfo("UTC"))
        if e.HasField("workflow_execution_started_event_attributes"):
            case = await _open(e.workflow_execution_started_event_attributes.input.payloads[0], converter)
            if isinstance(case, dict):
                tz = case["borrower"]["timezone"]
                loan = case["loan"]
                out.append(Row(at, "Case opened", f"{case['borrower']['name']} · {loan['outstanding_balance']} "
                                                   f"{loan['currency']} · {loan['days_past_due']} days past due · "
                                                   f"policy {case['policy']}"))
            else:
                out.append(Row(at, "Case opened", "[encrypted]"))
        elif e.HasField("activity_task_scheduled_event_attributes"):
            sched = e.activity_task_scheduled_event_attributes
            scheduled[e.event_id] = (sched.activity_type.name, await summary(e))
            request = await _open(sched.input.payloads[0], converter) if sched.input.payloads else None
            if isinstance(request, dict) and "guard" in request:
                scheduled[e.event_id] += (f"guard {request['guard']['rule']} ({', '.join(request['guard']['packs'])})",)
            facts = (request.get("facts") or request.get("owed") or []) if isinstance(request, dict) else []
            for fact in facts:
                story = STORY.get(fact.get("kind", ""))
                if story is not None and isinstance(fact.get("data"), dict):
                    kind, title, detail = story
                    try:
                        out.append(Row(at, title(fact["data"]), detail(fact["data"]), kind))
                    except (KeyError, TypeError):  # an entry of an older shape: its kind, as it is
                        out.append(Row(at, _words(fact["kind"]).capitalize(), "", kind))
        elif e.HasField("activity_task_completed_event_attributes"):
            done = e.activity_task_completed_event_attributes
            name, label, *guard = scheduled.get(done.scheduled_event_id, ("activity", ""))
            result = await _open(done.result.payloads[0], converter) if done.result.payloads else None
            if isinstance(result, dict) and "outcome" in result:
                distress = " · distress" if result.get("distress") else ""
                judged = f" · {guard[0]}" if guard else ""
                out.append(Row(at, label or name, f"{result['outcome']}{distress}{judged}", "contact"))
            elif name == "record_payment":
                out.append(Row(at, label or name, "recorded", "money"))
        elif e.HasField("timer_started_event_attributes"):
            t = e.timer_started_event_attributes
            fires = (at + t.start_to_fire_timeout.ToTimedelta()).astimezone(ZoneInfo(tz))
            out.append(Row(at, "Wait", f"{await summary(e) or 'timer'} until {fires:%Y-%m-%d %H:%M}", "wait"))
        elif e.HasField("workflow_execution_signaled_event_attributes"):
            s = e.workflow_execution_signaled_event_attributes
            arg = await _open(s.input.payloads[0], converter) if s.input.payloads else None
            out.append(Row(at, f"Signal {s.signal_name}", _fields(arg), "message"))
        elif e.HasField("workflow_execution_update_accepted_event_attributes"):
            req = e.workflow_execution_update_accepted_event_attributes.accepted_request
            arg = await _open(req.input.args.payloads[0], converter) if req.input.args.payloads else None
            out.append(Row(at, f"Update {req.input.name}", _fields(arg), "message"))
        elif e.HasField("workflow_execution_completed_event_attributes"):
            result = await _open(e.workflow_execution_completed_event_attributes.result.payloads[0], converter)
            closed = f"{result['stage']}: {result['reason']}" if isinstance(result, dict) else str(result)
            out.append(Row(at, "Case closed", closed, "closed"))
        elif e.HasField("workflow_execution_continued_as_new_event_attributes"):
            out.append(Row(at, "Continued as new", "history rolled over; the case goes on"))
    return out, tz


def _fields(arg: object) -> str:
    """A message's fields as `name value`, the empty ones left out."""
    if not isinstance(arg, dict):
        return json.dumps(arg, ensure_ascii=False)
    return " · ".join(f"{k} {json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else v}"
                      for k, v in arg.items() if v not in (None, "", [], {}))


def only(items: list[Row], kinds: set[str] | None) -> list[Row]:
    return [r for r in items if kinds is None or r.kind in kinds]


def as_text(case_id: str, items: list[Row], tz: str) -> str:
    zone = ZoneInfo(tz)
    lines = [f"Case {case_id} (times in {tz})", ""]
    lines += [f"{r.at.astimezone(zone):%Y-%m-%d %H:%M}  {r.kind:8}  {r.what:40}  {r.detail}" for r in items]
    return "\n".join(lines)


def as_html(case_id: str, items: list[Row], tz: str) -> str:
    zone = ZoneInfo(tz)
    body = "\n".join(
        f"<tr class=\"{r.kind}\"><td>{r.at.astimezone(zone):%Y-%m-%d %H:%M}</td><td>{r.kind}</td>"
        f"<td>{html.escape(r.what)}</td><td>{html.escape(r.detail)}</td></tr>" for r in items)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Case {html.escape(case_id)}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem}}table{{border-collapse:collapse}}
td,th{{border-bottom:1px solid #ddd;padding:.35rem .7rem;text-align:left;vertical-align:top}}
th{{background:#f4f6f8}}tr.stage td,tr.closed td{{font-weight:600}}
tr.review td,tr.hold td{{background:#fff8e6}}tr.guard td,tr.wait td{{color:#555}}
@media print{{body{{margin:0;font-size:10pt}}tr{{break-inside:avoid}}}}</style></head>
<body><h1>Case {html.escape(case_id)}</h1><p>Times in {html.escape(tz)}.</p>
<table><tr><th>When</th><th>Kind</th><th>What</th><th>Detail</th></tr>
{body}
</table></body></html>
"""


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="timeline.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("case_id")
    parser.add_argument("--html", type=Path, help="write a standalone HTML page here")
    parser.add_argument("--kinds", help=f"only these kinds, comma-separated: {', '.join(KINDS)}")
    args = parser.parse_args(argv)
    kinds = set(args.kinds.split(",")) if args.kinds else None
    if kinds is not None and kinds - set(KINDS):
        parser.error(f"unknown kinds: {', '.join(sorted(kinds - set(KINDS)))} (known: {', '.join(KINDS)})")
    from settings import connect

    client = await connect()
    history = await client.get_workflow_handle(workflow_id_for(args.case_id)).fetch_history()
    items, tz = await rows(history, client.data_converter)
    items = only(items, kinds)
    if args.html:
        args.html.write_text(as_html(args.case_id, items, tz), encoding="utf-8")
        print(f"wrote {args.html}")
    else:
        print(as_text(args.case_id, items, tz))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
