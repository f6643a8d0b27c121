"""One case's history as a readable timeline, for audits and support.

    python timeline.py EX-1001                    # text, in the borrower's local time
    python timeline.py EX-1001 --html case.html   # a standalone HTML page

Personal data appears only when the configured key decrypts it; without the key a payload reads
`[encrypted]`.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter

from domain.case_input import workflow_id_for


@dataclass
class Row:
    at: datetime
    what: str
    detail: str


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
            for d in [f["data"] for f in facts if f.get("kind") == "guard_decision"]:
                out.append(Row(at, "Guard", f"{d['verdict']} {d['rule']}: {d['reason']}"))
        elif e.HasField("activity_task_completed_event_attributes"):
            done = e.activity_task_completed_event_attributes
            name, label, *guard = scheduled.get(done.scheduled_event_id, ("activity", ""))
            result = await _open(done.result.payloads[0], converter) if done.result.payloads else None
            if isinstance(result, dict) and "outcome" in result:
                out.append(Row(at, label or name, f"{result['outcome']}" + (f" · {guard[0]}" if guard else "")))
            elif name in ("record_payment", "record_step", "hand_off"):
                out.append(Row(at, label or name, "recorded"))
        elif e.HasField("timer_started_event_attributes"):
            t = e.timer_started_event_attributes
            fires = at + t.start_to_fire_timeout.ToTimedelta()
            out.append(Row(at, "Wait", f"{await summary(e) or 'timer'} until {fires:%Y-%m-%d %H:%M} UTC"))
        elif e.HasField("workflow_execution_signaled_event_attributes"):
            s = e.workflow_execution_signaled_event_attributes
            arg = await _open(s.input.payloads[0], converter) if s.input.payloads else None
            out.append(Row(at, f"Signal {s.signal_name}", json.dumps(arg, ensure_ascii=False)))
        elif e.HasField("workflow_execution_update_accepted_event_attributes"):
            req = e.workflow_execution_update_accepted_event_attributes.accepted_request
            arg = await _open(req.input.args.payloads[0], converter) if req.input.args.payloads else None
            out.append(Row(at, f"Update {req.input.name}", json.dumps(arg, ensure_ascii=False)))
        elif e.HasField("workflow_execution_completed_event_attributes"):
            result = await _open(e.workflow_execution_completed_event_attributes.result.payloads[0], converter)
            detail = f"{result['stage']}: {result['reason']}" if isinstance(result, dict) else str(result)
            out.append(Row(at, "Case closed", detail))
        elif e.HasField("workflow_execution_continued_as_new_event_attributes"):
            out.append(Row(at, "Continued as new", "history rolled over; the case goes on"))
    return out, tz


def as_text(case_id: str, items: list[Row], tz: str) -> str:
    zone = ZoneInfo(tz)
    lines = [f"Case {case_id} (times in {tz})", ""]
    lines += [f"{r.at.astimezone(zone):%Y-%m-%d %H:%M}  {r.what:46}  {r.detail}" for r in items]
    return "\n".join(lines)


def as_html(case_id: str, items: list[Row], tz: str) -> str:
    zone = ZoneInfo(tz)
    body = "\n".join(
        f"<tr><td>{r.at.astimezone(zone):%Y-%m-%d %H:%M}</td><td>{html.escape(r.what)}</td>"
        f"<td>{html.escape(r.detail)}</td></tr>" for r in items)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Case {html.escape(case_id)}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem}}table{{border-collapse:collapse}}
td,th{{border-bottom:1px solid #ddd;padding:.35rem .7rem;text-align:left;vertical-align:top}}
th{{background:#f4f6f8}}</style></head>
<body><h1>Case {html.escape(case_id)}</h1><p>Times in {html.escape(tz)}.</p>
<table><tr><th>When</th><th>What</th><th>Detail</th></tr>
{body}
</table></body></html>
"""


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="timeline.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("case_id")
    parser.add_argument("--html", type=Path, help="write a standalone HTML page here")
    args = parser.parse_args(argv)
    from settings import connect

    client = await connect()
    history = await client.get_workflow_handle(workflow_id_for(args.case_id)).fetch_history()
    items, tz = await rows(history, client.data_converter)
    if args.html:
        args.html.write_text(as_html(args.case_id, items, tz), encoding="utf-8")
        print(f"wrote {args.html}")
    else:
        print(as_text(args.case_id, items, tz))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
