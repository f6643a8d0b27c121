"""The backend's command line and API: start cases, read them, and send them what happened.

    python starter.py start examples/low_risk_pays.json      # one case or a JSON list of cases
    python starter.py bulk loans.csv --rejects rejects.csv    # CSV or JSONL, streamed
    python starter.py status C-1001
    python starter.py pay C-1001 250.00 --ref BANK-778
    python starter.py --help                                 # every verb

Every input is validated with the same pydantic models the workflow uses, so bad input is refused
here with a clear message and nothing starts. A case id maps to workflow id `case-<case_id>`:
starting a case that exists returns the existing one and never starts a second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from domain.case_input import CaseInput, workflow_id_for
from domain.errors import explain
from domain.messages import (
    ApprovalDecision,
    CeaseContact,
    ContactInfoUpdate,
    DeliveryReceipt,
    HardshipReport,
    PauseRequest,
    Payment,
    PromiseRequest,
    UpdateResult,
    VisitOutcome,
)
from settings import Settings, connect
from workflows.case import OverdueCase


@dataclass
class StartReport:
    case_id: str
    status: Literal["started", "already_running", "already_closed", "rejected"]
    detail: str = ""
    run_id: str | None = None


def parse_cases(data: Any) -> list[CaseInput | StartReport]:
    """Each item of a case file as a valid `CaseInput`, or a rejection that says why."""
    items = data if isinstance(data, list) else [data]
    out: list[CaseInput | StartReport] = []
    for n, item in enumerate(items, start=1):
        label = item.get("case_id", f"item {n}") if isinstance(item, dict) else f"item {n}"
        if isinstance(item, dict) and item.get("state") is not None:
            out.append(StartReport(str(label), "rejected", "state is set by the workflow only"))
            continue
        try:
            out.append(CaseInput.model_validate(item))
        except ValidationError as e:
            out.append(StartReport(str(label), "rejected", explain(e)))
    return out


async def start_case(client: Client, case: CaseInput, task_queue: str) -> StartReport:
    """Start the case once. An existing case (running or closed) is reported, never duplicated."""
    try:
        loan = case.loan
        handle = await client.start_workflow(
            OverdueCase.run, case, id=case.workflow_id, task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            static_summary=f"Case {case.case_id}: {loan.outstanding_balance} {loan.currency}, "
                           f"{loan.days_past_due} days past due",
            static_details=f"**Loan** {loan.loan_id} · principal {loan.principal} {loan.currency} · due "
                           f"{loan.due_date}\n\n**Policy** {case.policy} · **Country** {case.borrower.country} · "
                           f"**Timezone** {case.borrower.timezone}",
        )
        return StartReport(case.case_id, "started", run_id=handle.result_run_id)
    except WorkflowAlreadyStartedError:
        described = await client.get_workflow_handle(case.workflow_id).describe()
        if described.status == WorkflowExecutionStatus.RUNNING:
            return StartReport(case.case_id, "already_running", run_id=described.run_id)
        return StartReport(case.case_id, "already_closed", described.status.name.lower(), described.run_id)


async def start_cases(client: Client, data: Any, task_queue: str) -> list[StartReport]:
    reports = []
    for item in parse_cases(data):
        reports.append(item if isinstance(item, StartReport) else await start_case(client, item, task_queue))
    return reports


async def send_update(client: Client, case_id: str, update: str, payload: BaseModel) -> UpdateResult:
    handle = client.get_workflow_handle(workflow_id_for(case_id))
    return await handle.execute_update(update, payload, result_type=UpdateResult)


async def send_signal(client: Client, case_id: str, signal: str, payload: BaseModel) -> None:
    await client.get_workflow_handle(workflow_id_for(case_id)).signal(signal, payload)


# --- command line ----------------------------------------------------------------------------


def _money(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not an amount: {text!r}") from None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="starter.py", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="verb", required=True)
    s = sub.add_parser("start", help="start cases from a JSON file (one case or a list)")
    s.add_argument("file", type=Path)
    s = sub.add_parser("bulk", help="start cases from a CSV (dotted column names) or JSONL file, streamed")
    s.add_argument("file", type=Path)
    s.add_argument("--format", choices=["csv", "jsonl"], help="default: from the file's suffix")
    s.add_argument("--concurrency", type=int, default=32, help="cases being started at once (default 32)")
    s.add_argument("--rejects", type=Path, help="write refused rows here, with line and reason, to fix and rerun")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s = sub.add_parser("status", help="a case's status")
    s.add_argument("case_id")
    s = sub.add_parser("pay", help="record a payment (update record_payment)")
    s.add_argument("case_id"), s.add_argument("amount", type=_money)
    s.add_argument("--ref", required=True, help="the payment's reference: the same one twice applies once")
    s.add_argument("--paid-at", type=datetime.fromisoformat, help="ISO time with offset; default now")
    s = sub.add_parser("promise", help="record a promise to pay (update promise_to_pay)")
    s.add_argument("case_id"), s.add_argument("amount", type=_money), s.add_argument("due_date", type=date.fromisoformat)
    s.add_argument("--taken-by", default="agent")
    s = sub.add_parser("hardship", help="report hardship (update report_hardship)")
    s.add_argument("case_id"), s.add_argument("reason", choices=["illness", "job_loss", "force_majeure", "other"])
    s.add_argument("--details", default=""), s.add_argument("--instalments", type=int)
    s.add_argument("--waive-penalty", action="store_true")
    s = sub.add_parser("visit-outcome", help="record a field visit's outcome (update record_visit_outcome)")
    s.add_argument("case_id"), s.add_argument("visit_id")
    s.add_argument("result", choices=["met", "not_home", "refused", "moved"])
    s.add_argument("--collector", action="append", required=True, help="repeat for each collector")
    s.add_argument("--distress", action="store_true"), s.add_argument("--notes", default="")
    s = sub.add_parser("update-contact", help="new contact data from a JSON file (update update_contact_info)")
    s.add_argument("case_id"), s.add_argument("file", type=Path)
    s = sub.add_parser("approve", help="decide a pending approval (update approve)")
    s.add_argument("case_id"), s.add_argument("approval_id")
    s.add_argument("--reject", action="store_true"), s.add_argument("--by", required=True)
    s.add_argument("--note", default="")
    s = sub.add_parser("receipt", help="a provider's delivery receipt (signal delivery_receipt)")
    s.add_argument("case_id"), s.add_argument("attempt_key")
    s.add_argument("outcome", choices=["delivered", "failed", "no_answer", "answered", "conversation"])
    s.add_argument("--distress", action="store_true")
    s = sub.add_parser("cease", help="stop contact (signal cease_contact)")
    s.add_argument("case_id")
    g = s.add_mutually_exclusive_group(required=True)
    g.add_argument("--all", action="store_true"), g.add_argument("--channel", choices=["sms", "voice", "visit"])
    g.add_argument("--number")
    s.add_argument("--reason", default="")
    for verb in ("pause", "resume"):
        s = sub.add_parser(verb, help=f"{verb} all contact (signal {verb})")
        s.add_argument("case_id"), s.add_argument("--reason", required=True), s.add_argument("--by", default="operator")
    return p


def _print(obj: Any) -> None:
    if isinstance(obj, BaseModel):
        obj = obj.model_dump(mode="json")
    print(json.dumps(obj, indent=2, ensure_ascii=False, default=str))


def _payload(args: argparse.Namespace) -> tuple[str, str, BaseModel]:
    """(kind, name, payload) for an update or signal verb; validation errors surface here."""
    v = args.verb
    if v == "pay":
        return "update", "record_payment", Payment(
            amount=args.amount, reference=args.ref, paid_at=args.paid_at or datetime.now(UTC))
    if v == "promise":
        return "update", "promise_to_pay", PromiseRequest(amount=args.amount, due_date=args.due_date,
                                                          taken_by=args.taken_by)
    if v == "hardship":
        return "update", "report_hardship", HardshipReport(
            reason=args.reason, details=args.details, requested_instalments=args.instalments,
            waive_penalty=args.waive_penalty)
    if v == "visit-outcome":
        return "update", "record_visit_outcome", VisitOutcome(
            visit_id=args.visit_id, result=args.result, collectors=args.collector, distress=args.distress,
            notes=args.notes)
    if v == "update-contact":
        return "update", "update_contact_info", ContactInfoUpdate.model_validate_json(args.file.read_text())
    if v == "approve":
        return "update", "approve", ApprovalDecision(approval_id=args.approval_id, approve=not args.reject,
                                                      decided_by=args.by, note=args.note)
    if v == "receipt":
        return "signal", "delivery_receipt", DeliveryReceipt(attempt_key=args.attempt_key, outcome=args.outcome,
                                                             distress=args.distress)
    if v == "cease":
        scope = "all" if args.all else "channel" if args.channel else "number"
        return "signal", "cease_contact", CeaseContact(scope=scope, channel=args.channel, number=args.number,
                                                       reason=args.reason)
    return "signal", v, PauseRequest(reason=args.reason, by=args.by)


async def _bulk(client: Client, args: argparse.Namespace, settings: Settings) -> int:
    from tqdm import tqdm

    from intake.bulk import start_bulk, total_rows
    from intake.rows import file_format

    try:
        fmt = file_format(args.file, args.format)
        total = total_rows(args.file, fmt)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.concurrency < 1:
        print("error: --concurrency must be at least 1", file=sys.stderr)
        return 2
    with tqdm(total=total, unit="case", disable=args.quiet or None, file=sys.stderr) as bar:
        summary = await start_bulk(client, args.file, settings.task_queue, fmt=fmt, concurrency=args.concurrency,
                                   rejects=args.rejects, progress=bar.update)
    print(summary.text())
    if args.rejects and (summary.rejected or summary.failed):
        print(f"refused rows written to {args.rejects} (fix them and run it again: nothing starts twice)")
    return 1 if summary.rejected or summary.failed else 0


async def run(argv: list[str], tracer=None) -> int:
    args = _parser().parse_args(argv)
    settings = Settings()
    if args.verb == "bulk":
        return await _bulk(await connect(settings, tracer), args, settings)
    try:
        if args.verb == "start":
            data = json.loads(args.file.read_text(encoding="utf-8"))
            payload = None
        elif args.verb != "status":
            kind, name, payload = _payload(args)
    except (ValidationError, json.JSONDecodeError, OSError) as e:
        msg = explain(e) if isinstance(e, ValidationError) else str(e)
        print(f"error: {msg}", file=sys.stderr)
        return 2
    client = await connect(settings, tracer)
    try:
        if args.verb == "start":
            reports = await start_cases(client, data, settings.task_queue)
            for r in reports:
                print(f"{r.case_id}: {r.status}" + (f" ({r.detail})" if r.detail else ""))
            return 1 if any(r.status == "rejected" for r in reports) else 0
        if args.verb == "status":
            handle = client.get_workflow_handle(workflow_id_for(args.case_id))
            _print(await handle.query(OverdueCase.status))
            return 0
        if kind == "update":
            _print(await send_update(client, args.case_id, name, payload))
        else:
            await send_signal(client, args.case_id, name, payload)
            print(f"{name} sent to case {args.case_id}")
        return 0
    except WorkflowUpdateFailedError as e:
        cause = e.cause
        print(f"error: {getattr(cause, 'message', None) or cause}", file=sys.stderr)
        return 1
    except RPCError as e:
        print(f"error: {e.message}", file=sys.stderr)
        return 1


def main() -> None:
    import telemetry

    telemetry.configure_logging("WARNING")
    if not os.environ.get("OTEL_TRACES_EXPORTER"):  # a command line traces only when asked to
        sys.exit(asyncio.run(run(sys.argv[1:])))
    provider = telemetry.tracer_provider("duecourse-starter")
    try:
        code = asyncio.run(run(sys.argv[1:], provider.get_tracer("duecourse.starter")))
    finally:
        provider.shutdown()  # flush this command's spans
    sys.exit(code)


if __name__ == "__main__":
    main()
