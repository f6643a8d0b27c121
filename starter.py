"""The backend's command line: start cases, read them, and send them what happened.

    python starter.py start examples/low_risk_pays.json      # one case or a JSON list of cases
    python starter.py bulk loans.csv --rejects rejects.csv    # CSV or JSONL, streamed
    python starter.py status C-1001
    python starter.py pay C-1001 250.00 --ref BANK-778
    python starter.py statement C-1001                       # the account today, in the borrower's locale
    python starter.py offer C-1001 settlement --amount 2400.00 --by agent-7
    python starter.py worklist due-now --agent agent-1         # an agent's cases due now, by priority
    python starter.py --help                                 # every verb (also `duecourse <verb>`)

Each verb is one call of the service layer (`service.cases.Cases`; code that drives cases uses it,
not this module). Every input is validated with the same pydantic models the workflow uses, so bad
input is refused here with a clear message and nothing starts. A case id maps to workflow id
`case-<case_id>`: starting a case that exists returns the existing one and never starts a second.
Exit codes: 0 done, 1 refused (by a case, for a row, or by Temporal), 2 bad input (nothing sent).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from pydantic import BaseModel, ValidationError

from adapters.db import make_engine
from adapters.registry import Registry
from domain.enums import CeaseScope, ContactResult, DelinquencyReason, Party
from domain.errors import explain
from domain.messages import (
    ApprovalDecision,
    Assignment,
    CeaseContact,
    ContactInfoUpdate,
    ContactOutcome,
    DeliveryReceipt,
    HardshipReport,
    PauseRequest,
    Payment,
    PromiseRequest,
    Release,
    TaskDone,
    UpdateResult,
    VisitOutcome,
)
from domain.policy import ROLES
from domain.relief import ReliefAcceptance, ReliefRequest
from domain.status import CaseStatus
from service.backpressure import Backpressure
from service.bulk import start_bulk, total_rows
from service.cases import Cases, CaseServiceError, NoStatement, ledger_at
from service.desk import VIEWS, Desk
from service.rows import file_format
from settings import Settings, TelemetrySettings, connect

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer


# --- command line ----------------------------------------------------------------------------


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a UTC offset, e.g. 2026-12-01T10:00+08:00")
    return moment


def _money(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not an amount: {text!r}") from None


def add_verbs(sub: Any) -> None:
    """Every verb, on a parser's subparsers (`duecourse` offers them too)."""
    s = sub.add_parser("start", help="start cases from a JSON file (one case or a list)")
    s.add_argument("file", type=Path)
    s = sub.add_parser("bulk", help="start cases from a CSV (dotted column names) or JSONL file, streamed")
    s.add_argument("file", type=Path)
    s.add_argument("--format", choices=["csv", "jsonl"], help="default: from the file's suffix")
    s.add_argument("--concurrency", type=int, default=32, help="cases being started at once (default 32)")
    s.add_argument("--rejects", type=Path, help="write refused rows here, with line and reason, to fix and rerun")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s = sub.add_parser("status", help="a case's status (from the ledger when DATABASE_URL is set)")
    s.add_argument("case_id")
    s.add_argument("--fresh", action="store_true", help="ask the case itself (waits for a worker)")
    s = sub.add_parser("pay", help="record a payment (update record_payment)")
    s.add_argument("case_id"), s.add_argument("amount", type=_money)
    s.add_argument("--ref", required=True, help="the payment's reference: the same one twice applies once")
    s.add_argument("--paid-at", type=datetime.fromisoformat, help="ISO time with offset; default now")
    s = sub.add_parser("promise", help="record a promise to pay (update promise_to_pay)")
    s.add_argument("case_id"), s.add_argument("amount", type=_money)
    s.add_argument("due_date", type=date.fromisoformat)
    s.add_argument("--taken-by", default="agent")
    s = sub.add_parser("hardship", help="report hardship (update report_hardship)")
    s.add_argument("case_id"), s.add_argument("reason", choices=["illness", "job_loss", "force_majeure", "other"])
    s.add_argument("--details", default=""), s.add_argument("--instalments", type=int)
    s.add_argument("--waive-penalty", action="store_true")
    s = sub.add_parser("visit-outcome", help="record a field visit's outcome (update record_visit_outcome)")
    s.add_argument("case_id"), s.add_argument("visit_id")
    s.add_argument("result", choices=["met", "not_home", "refused", "moved"])
    s.add_argument("--collector", action="append", required=True, help="repeat for each collector")
    s.add_argument("--started", required=True, type=_moment, help="when they arrived, e.g. 2026-12-01T10:00+08:00")
    s.add_argument("--ended", required=True, type=_moment, help="when they left")
    s.add_argument("--distress", action="store_true"), s.add_argument("--notes", default="")
    s = sub.add_parser("update-contact", help="new contact data from a JSON file (update update_contact_info)")
    s.add_argument("case_id"), s.add_argument("file", type=Path)
    s = sub.add_parser("approve", help="decide a pending approval (update approve)")
    s.add_argument("case_id"), s.add_argument("approval_id")
    s.add_argument("--reject", action="store_true"), s.add_argument("--by", required=True)
    s.add_argument("--role", choices=list(ROLES), help="the approver's role (a relief offer's approval matrix)")
    s.add_argument("--note", default="")
    s = sub.add_parser("statement", help="the account today: owed by component, accrued, payments as applied")
    s.add_argument("case_id")
    s.add_argument("--fresh", action="store_true", help="ask the case itself (waits for a worker)")
    s.add_argument("--json", action="store_true", help="the whole statement as JSON")
    s = sub.add_parser("offer", help="offer relief (update offer_relief; the approval matrix decides who approves)")
    s.add_argument("case_id")
    s.add_argument("kind", choices=["interest_freeze", "token_payment", "longer_term", "settlement", "penalty_waiver"])
    s.add_argument("--months", type=int), s.add_argument("--amount", type=_money)
    s.add_argument("--instalments", type=int)
    s.add_argument("--by", required=True), s.add_argument("--role", choices=list(ROLES), default="agent")
    s.add_argument("--note", default="")
    s = sub.add_parser("accept", help="the borrower accepts an offer (update accept_relief)")
    s.add_argument("case_id"), s.add_argument("offer_id"), s.add_argument("--by", default="borrower")
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
    _desk_verbs(sub)


def _desk_verbs(sub: Any) -> None:
    s = sub.add_parser("outcome", help="what a call or visit came to (update record_contact_outcome)")
    s.add_argument("case_id"), s.add_argument("--agent", required=True, help="the agent's or collector's staff id")
    s.add_argument("--channel", choices=["agent_call", "visit"], default="agent_call")
    s.add_argument("--party", choices=[p.value for p in Party], required=True, help="who answered")
    s.add_argument("--reason", choices=[r.value for r in DelinquencyReason], help="why the loan is late")
    s.add_argument("--result", choices=[r.value for r in ContactResult], default="none")
    s.add_argument("--attempt", help="the agent call task's attempt key"), s.add_argument("--visit", help="visit id")
    s.add_argument("--call-back-at", type=_moment), s.add_argument("--promise-amount", type=_money)
    s.add_argument("--promise-date", type=date.fromisoformat), s.add_argument("--duration", type=int, default=0)
    s.add_argument("--at", type=_moment, help="when it happened (default now)"), s.add_argument("--notes", default="")
    s = sub.add_parser("assign", help="to a team's queue, or an agent's with a lease (update assign)")
    s.add_argument("case_id"), s.add_argument("team"), s.add_argument("--agent")
    s.add_argument("--lease", help="ISO 8601 duration, e.g. PT4H (default: the policy's)")
    s.add_argument("--by", default="operator")
    s = sub.add_parser("release", help="the agent who holds a case gives it back to the team (update release)")
    s.add_argument("case_id"), s.add_argument("--agent", required=True), s.add_argument("--note", default="")
    s = sub.add_parser("task-done", help="close a task (update complete_task)")
    s.add_argument("case_id"), s.add_argument("task_id"), s.add_argument("--by", required=True)
    s.add_argument("--finding", default=""), s.add_argument("--cancel", action="store_true")
    s = sub.add_parser("worklist", help="a worklist by priority (the same cases as its Web UI query)")
    s.add_argument("view", choices=list(VIEWS)), s.add_argument("--agent"), s.add_argument("--team")
    s.add_argument("--zone", default="UTC", help="the team's time zone (promises due today)")
    s.add_argument("--json", action="store_true")


def parser(prog: str = "starter.py") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    add_verbs(p.add_subparsers(dest="verb", required=True))
    return p


def _print(obj: Any) -> None:
    if isinstance(obj, BaseModel):
        obj = obj.model_dump(mode="json")
    print(json.dumps(obj, indent=2, ensure_ascii=False, default=str))


class Message(NamedTuple):
    send: Callable[[Cases], Awaitable[BaseModel | None]]
    signal: str | None = None  # the signal's name, for the confirmation; None for an update (it answers)


def _message(args: argparse.Namespace) -> Message:
    """What an update or signal verb sends; its validation errors surface here, before connecting."""
    v, case_id = args.verb, args.case_id
    if v == "pay":
        payment = Payment(amount=args.amount, reference=args.ref, paid_at=args.paid_at or datetime.now(UTC))
        return Message(lambda cases: cases.pay(case_id, payment))
    if v == "promise":
        promise = PromiseRequest(amount=args.amount, due_date=args.due_date, taken_by=args.taken_by)
        return Message(lambda cases: cases.promise(case_id, promise))
    if v == "hardship":
        report = HardshipReport(reason=args.reason, details=args.details, requested_instalments=args.instalments,
                                waive_penalty=args.waive_penalty)
        return Message(lambda cases: cases.hardship(case_id, report))
    if v == "visit-outcome":
        outcome = VisitOutcome(visit_id=args.visit_id, result=args.result, collectors=args.collector,
                               started_at=args.started, ended_at=args.ended, distress=args.distress, notes=args.notes)
        return Message(lambda cases: cases.visit_outcome(case_id, outcome))
    if v == "update-contact":
        update = ContactInfoUpdate.model_validate_json(args.file.read_text())
        return Message(lambda cases: cases.update_contact(case_id, update))
    if v == "approve":
        decision = ApprovalDecision(approval_id=args.approval_id, approve=not args.reject, decided_by=args.by,
                                    role=args.role, note=args.note)
        return Message(lambda cases: cases.approve(case_id, decision))
    if v == "offer":
        relief = ReliefRequest(kind=args.kind, months=args.months, amount=args.amount, instalments=args.instalments,
                               offered_by=args.by, role=args.role, note=args.note)
        return Message(lambda cases: cases.offer_relief(case_id, relief))
    if v == "accept":
        acceptance = ReliefAcceptance(offer_id=args.offer_id, by=args.by)
        return Message(lambda cases: cases.accept_relief(case_id, acceptance))
    if v in ("outcome", "assign", "release", "task-done"):
        return _desk_message(args)
    if v == "receipt":
        receipt = DeliveryReceipt(attempt_key=args.attempt_key, outcome=args.outcome, distress=args.distress)
        return Message(lambda cases: cases.receipt(case_id, receipt), "delivery_receipt")
    if v == "cease":
        scope = CeaseScope.ALL if args.all else CeaseScope.CHANNEL if args.channel else CeaseScope.NUMBER
        cease = CeaseContact(scope=scope, channel=args.channel, number=args.number, reason=args.reason)
        return Message(lambda cases: cases.cease(case_id, cease), "cease_contact")
    request = PauseRequest(reason=args.reason, by=args.by)
    if v == "pause":
        return Message(lambda cases: cases.pause(case_id, request), "pause")
    return Message(lambda cases: cases.resume(case_id, request), "resume")


def _desk_message(args: argparse.Namespace) -> Message:
    v, case_id = args.verb, args.case_id
    if v == "outcome":
        promise = PromiseRequest(amount=args.promise_amount, due_date=args.promise_date, taken_by=args.agent) \
            if args.promise_amount is not None or args.promise_date is not None else None
        outcome = ContactOutcome(
            channel=args.channel, attempt_key=args.attempt, visit_id=args.visit, party=args.party, reason=args.reason,
            result=args.result, call_back_at=args.call_back_at, promise=promise, duration_seconds=args.duration,
            agent=args.agent, at=args.at or datetime.now(UTC), notes=args.notes)
        return Message(lambda cases: _with_desk(cases, lambda desk: desk.record_outcome(case_id, outcome)))
    if v == "assign":
        assignment = Assignment(team=args.team, agent=args.agent, lease=args.lease, by=args.by)
        return Message(lambda cases: _with_desk(cases, lambda desk: desk.assign(case_id, assignment)))
    if v == "release":
        release = Release(agent=args.agent, note=args.note)
        return Message(lambda cases: _with_desk(cases, lambda desk: desk.release(case_id, release)))
    done = TaskDone(task_id=args.task_id, by=args.by, finding=args.finding, cancelled=args.cancel)
    return Message(lambda cases: _with_desk(cases, lambda desk: desk.complete_task(case_id, done)))


async def _with_desk(cases: Cases, call: Callable[[Desk], Awaitable[UpdateResult]]) -> UpdateResult:
    """One call of the desk's service; with a ledger configured, an assignment's agent is checked in the
    registry before anything is sent."""
    url = Settings().database_url
    engine = make_engine(url, pool_size=1) if url else None
    try:
        return await call(Desk(cases, cases.client, Registry(engine) if engine is not None else None))
    finally:
        if engine is not None:
            await engine.dispose()


async def _worklist(cases: Cases, args: argparse.Namespace) -> int:
    try:
        found = await Desk(cases, cases.client).worklist(args.view, agent=args.agent, team=args.team, zone=args.zone)
    except (ValueError, KeyError) as e:  # an agent's list without the agent, an unknown time zone
        print(f"error: {str(e).strip(chr(34) + chr(39))}", file=sys.stderr)
        return 2
    if args.json:
        _print({"view": found.view, "query": found.query, "truncated": found.truncated,
                "items": [i.model_dump(mode="json") for i in found.items]})
        return 0
    more = " (more matched: narrow it by --team or --agent)" if found.truncated else ""
    print(f"# {found.view}: {len(found.items)} cases{more} · Web UI query: {found.query}")
    for i in found.items:
        due = f" due {i.due_by:%Y-%m-%d %H:%M}Z" if i.due_by else ""
        print(f"{i.priority:>10}  {i.case_id:<24} {i.stage or '':<15} {i.team or '':<12} {i.agent or '-':<12}"
              f" {i.days_past_due or 0:>4}d {i.amount_due or 0:>12,.2f}{due}  {' '.join(i.flags)}")
    return 0


async def _bulk(args: argparse.Namespace, settings: Settings, tracer: Tracer | None) -> int:
    from tqdm import tqdm

    try:
        fmt = file_format(args.file, args.format)
        total = total_rows(args.file, fmt)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.concurrency < 1:
        print("error: --concurrency must be at least 1", file=sys.stderr)
        return 2
    cases = Cases(await connect(settings, tracer), settings.task_queue)
    with tqdm(total=total, unit="case", disable=args.quiet or None, file=sys.stderr) as bar:
        summary = await start_bulk(cases, args.file, fmt=fmt, concurrency=args.concurrency, rejects=args.rejects,
                                   progress=bar.update, pressure=Backpressure(cases.client, cases.task_queue,
                                                                              settings.start_max_backlog))
    print(summary.text())
    if args.rejects and (summary.rejected or summary.failed):
        print(f"refused rows written to {args.rejects} (fix them and run it again: nothing starts twice)")
    return 1 if summary.rejected or summary.failed else 0


async def _status(cases: Cases, settings: Settings, case_id: str, fresh: bool) -> CaseStatus:
    """From the ledger's case row when a ledger is configured (no wait on a busy worker), else the query."""
    if fresh or not settings.database_url:
        return await cases.status(case_id, fresh=True)
    ledger = ledger_at(settings.database_url, pool_size=1)
    try:
        return await Cases(cases.client, cases.task_queue, ledger).status(case_id)
    finally:
        if ledger is not None:
            await ledger.engine.dispose()


async def execute(args: argparse.Namespace, tracer: Tracer | None = None) -> int:
    """Run one parsed command. Exit codes: 0 done, 1 refused (a case, a row or Temporal said no),
    2 bad input (nothing was sent)."""
    settings = Settings()
    if args.verb == "bulk":
        return await _bulk(args, settings, tracer)
    try:
        if args.verb == "start":
            data = json.loads(args.file.read_text(encoding="utf-8"))
        elif args.verb not in ("status", "statement", "worklist"):
            message = _message(args)
    except (ValidationError, json.JSONDecodeError, OSError) as e:
        msg = explain(e) if isinstance(e, ValidationError) else str(e)
        print(f"error: {msg}", file=sys.stderr)
        return 2
    cases = Cases(await connect(settings, tracer), settings.task_queue)
    try:
        if args.verb == "start":
            reports = await cases.start_all(data, Backpressure(cases.client, cases.task_queue,
                                                               settings.start_max_backlog).admit)
            for r in reports:
                print(f"{r.case_id}: {r.status}" + (f" ({r.detail})" if r.detail else ""))
            return 1 if any(r.status == "rejected" for r in reports) else 0
        if args.verb == "worklist":
            return await _worklist(cases, args)
        if args.verb == "status":
            _print(await _status(cases, settings, args.case_id, args.fresh))
            return 0
        if args.verb == "statement":
            statement = (await _status(cases, settings, args.case_id, args.fresh)).statement
            if statement is None:
                raise NoStatement(args.case_id)
            if args.json:
                _print(statement.model_dump(mode="json", exclude={"books"}))
            else:
                print(f"{statement.case_id} · {statement.as_of} · {statement.currency}")
                print("\n".join(statement.lines))
            return 0
        answer = await message.send(cases)
        if message.signal is None:
            _print(answer)
        else:
            print(f"{message.signal} sent to case {args.case_id}")
        return 0
    except CaseServiceError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


async def run(argv: list[str], tracer: Tracer | None = None) -> int:
    return await execute(parser().parse_args(argv), tracer)


def invoke(args: argparse.Namespace) -> int:
    """Run a parsed command in its own event loop; traced only when OTEL_TRACES_EXPORTER asks for it."""
    import telemetry

    telemetry.configure_logging("WARNING")
    observed = TelemetrySettings()
    if not observed.traces_exporter:  # a command line traces only when asked to
        return asyncio.run(execute(args))
    provider = telemetry.tracer_provider("duecourse-starter", observed)
    try:
        return asyncio.run(execute(args, provider.get_tracer("duecourse.starter")))
    finally:
        provider.shutdown()  # flush this command's spans


def main() -> None:
    sys.exit(invoke(parser().parse_args()))


if __name__ == "__main__":
    main()
