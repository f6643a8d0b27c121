"""What people see of a case: the `status` query, the Web UI's current details, and the search
attributes operators filter on (upserted only when they change; never personal data)."""

from __future__ import annotations

from datetime import datetime, time

from temporalio import workflow

from workflows import scripts_shown, search
from workflows.case import money
from workflows.case.core import LEANER_STEPS, REACH_AND_LAPSE, CaseRun

with workflow.unsafe.imports_passed_through():
    from domain import clock
    from domain import desk as decide
    from domain import statement as statements
    from domain.desk import PriorityFacts
    from domain.enums import Stage, VisitStatus
    from domain.scripts import ChosenScript, Situation, choose
    from domain.statement import Statement
    from domain.status import BorrowerPreferences, CaseStatus


def statement(run: CaseRun) -> Statement | None:
    """Today's statement (projected: the books record nothing for a query)."""
    books = run.s.books
    if books is None:
        return None
    locale, tz = run.s.locale or run.case.borrower.locale, run.case.borrower.timezone
    with workflow.unsafe.sandbox_unrestricted():  # Babel reads CLDR's data files once: deterministic
        return statements.build(run.case_id, books, money.today(run), run.s.offers, locale, tz, run.s.stage.terminal)


def status(run: CaseRun, with_script: bool = True) -> CaseStatus:
    s = run.s
    drawn = statement(run) if s.config else None  # the books projected once, for the balance and the statement
    return CaseStatus(
        case_id=run.case_id, stage=s.stage, segment=s.assessment.segment if s.assessment else None,
        currency=run.case.loan.currency, balance=drawn.total if drawn is not None else s.balance,
        total_paid=s.total_paid,
        days_past_due=run.days_past_due, flags=s.flags.active(), contact_counts=dict(s.counts),
        last_contacts=s.attempts[-5:], pending_promise=s.promise, plan=s.plan, visit=s.visit,
        pending_approvals=s.approvals, vulnerability=s.vulnerability, next_action=s.next_action,
        verification_missing=s.verification.missing if s.verification else [],
        policy=run.case.policy, rule_packs=run.config.rules.packs if s.config else [], run=s.runs,
        statement=drawn,
        offers=[o for o in s.offers if o.live],
        desk=s.desk, script=script(run) if s.config and with_script else None,
        strategy_arm=s.config.arm if s.config else None,
        propensity=s.scoring.probability if s.scoring else None,
        model_version=s.scoring.model_version if s.scoring else None,
        preferences=BorrowerPreferences(
            window=s.flags.borrower_window, quiet_weekdays=s.flags.borrower_quiet_weekdays,
            medium=s.flags.borrower_medium, no_home_visits=s.flags.borrower_no_home_visits, locale=s.locale),
    )


def publish(run: CaseRun) -> None:
    """Search attributes for operators' lists (when they change), and the live current details."""
    s = run.s
    values = search.case_attributes(
        s.stage, s.assessment.segment.value if s.assessment else None, run.case.borrower.country,
        run.days_past_due, float(s.balance), shown_flags(run) + (["promise"] if s.promise else [])
        + [f"awaiting_{a.kind.value}" for a in s.approvals],
        next_action_at(run),
    )
    if s.desk is not None:
        values |= desk_attributes(run, values)
    if s.config is not None and s.config.arm is not None:
        values[search.STRATEGY_ARM.name] = s.config.arm
    changes = search.updates(values, run.published)
    if changes:
        workflow.upsert_search_attributes(changes)
        run.published = values
    workflow.set_current_details(details(run))


def shown_flags(run: CaseRun) -> list[str]:
    flags = run.s.flags
    shown = flags.active(hard_stop_kinds=bool(flags.hard_stops) and not workflow.patched(REACH_AND_LAPSE))
    if run.s.desk is not None and not run.s.stage.terminal:  # a team's tasks as a list: `CaseFlags = "task:…"`
        open_tasks = run.s.desk.open_tasks()
        shown += [f"task:{t.kind.value}" for t in open_tasks] + ["task_late"] * any(t.escalated for t in open_tasks)
        shown += ["promise_broken"] * (run.s.promises_broken > 0)
    return shown


def desk_attributes(run: CaseRun, values: dict[str, object]) -> dict[str, object]:
    """The desk's attributes; the priority decided from the attributes themselves (`PriorityFacts.shown`),
    as a worklist decides it when it reads them."""
    s = run.s
    assert s.desk is not None
    lease, terminal = s.desk.lease, s.stage.terminal
    deadlines: list[datetime | None] = [t.due_at for t in s.desk.open_tasks()]
    deadlines += [a.requested_at + run.config.policy.desk.approval_within for a in s.approvals]
    dispatched = s.visit is not None and s.visit.status is VisitStatus.DISPATCHED
    deadlines += [s.review_due, s.visit.outcome_deadline if dispatched and s.visit else None]
    due_by = None if terminal else decide.due_by(deadlines)
    promise_due = clock.at_local(s.promise.due_date, time(0), run.case.borrower.timezone) if s.promise else None
    facts = PriorityFacts.shown(
        values[search.CASE_FLAGS.name], due_by, promise_due, values[search.AMOUNT_DUE.name],  # type: ignore[arg-type]
        values[search.DAYS_PAST_DUE.name], care_team=search.TEAM_BY_STAGE[s.stage] == "care")  # type: ignore[arg-type]
    return search.desk_attributes(
        team=lease.team if lease is not None and not terminal else None,
        agent=lease.agent if lease is not None and not terminal else None,
        priority=0 if terminal else decide.priority(facts, run.now), due_by=due_by, promise_due=promise_due)


def script(run: CaseRun) -> ChosenScript | None:
    """What to say now, and why: from the worker's script library (shown only; it decides nothing)."""
    library, s = scripts_shown.installed(), run.s
    if library is None or s.stage.terminal:
        return None
    reason = s.desk.profile.reason if s.desk is not None else None
    flags = s.flags
    chosen = choose(library, Situation(
        stage=s.stage, segment=s.assessment.segment if s.assessment else None, reason=reason,
        vulnerable=flags.distress or flags.vulnerable or flags.vulnerability_on_record,
        locale=s.locale or run.case.borrower.locale))
    if chosen is None:
        return None
    said = chosen.text.format(sender_name=run.config.policy.sender.name, amount=money.balance_today(run),
                              currency=run.case.loan.currency)  # the library allows only these placeholders
    return chosen.model_copy(update={"text": said})


def next_action_at(run: CaseRun) -> datetime | None:
    """When a case next needs work. A paid case's light reminders are none: it leaves the due lists
    (and its reminders cost no upsert each)."""
    s = run.s
    if s.next_action is None or s.stage.terminal:
        return None
    if s.stage is Stage.RELATIONSHIP and workflow.patched(LEANER_STEPS):
        return None
    return s.next_action.at


def details(run: CaseRun) -> str:
    """The case at a glance, for the Web UI (a query, not stored in history); times in the borrower's zone."""
    s, loan, tz = run.s, run.case.loan, run.case.borrower.timezone
    books = money.shown(run)
    balance = books.balance if books is not None else s.balance
    lines = [f"### {s.stage.value.replace('_', ' ').capitalize()}"
             + (f" · {s.assessment.segment.value.replace('_', ' ')}" if s.assessment else ""),
             f"**Balance** {balance} {loan.currency} (paid {s.total_paid}) · **{run.days_past_due}** days past due"]
    if s.flags.active():
        lines.append("**Flags** " + ", ".join(s.flags.active()))
    if s.next_action:
        when = f" at {clock.local(s.next_action.at, tz):%Y-%m-%d %H:%M} {tz}" if s.next_action.at else ""
        lines.append(f"**Next** {s.next_action.what}{when}")
    for item in s.approvals:
        lines.append(f"**Awaiting approval** {item.summary} (`{item.approval_id}`)")
    if s.promise:
        lines.append(f"**Promise** {s.promise.amount} by {s.promise.due_date}")
    steering = ([f"arm `{s.config.arm}`"] if s.config is not None and s.config.arm else []) + (
        [f"propensity {s.scoring.probability:.2f} (`{s.scoring.model_version}`)"]
        if s.scoring is not None and s.scoring.probability is not None else [])
    if steering:
        lines.append("**Steering** " + " · ".join(steering))
    lines += desk_lines(run)
    if books is not None:
        owed = books.owed
        lines.append(f"**Owed** principal {owed.principal} · interest {owed.interest} · penalty {owed.penalty}"
                     f" · fees {owed.fees}" + (f" · frozen: {', '.join(sorted(books.open_freezes()))}"
                                               if books.open_freezes() else ""))
    for offer in s.offers:
        if offer.live:
            lines.append(f"**Relief** {offer.kind.replace('_', ' ')} {offer.status.value} until "
                         f"{clock.local(offer.review_at or offer.expires_at, tz):%Y-%m-%d} (`{offer.offer_id}`)")
    if s.attempts:
        lines.append("**Last contacts**")
        lines += [f"- {clock.local(a.at, tz):%m-%d %H:%M} {a.channel.value} → {a.outcome.value}"
                  for a in s.attempts[-5:]]
    return "\n\n".join(lines[:4]) + ("\n\n" + "\n".join(lines[4:]) if lines[4:] else "")


def desk_lines(run: CaseRun) -> list[str]:
    """Who works the case, what is owed by when, what the borrower told us, and what to say now."""
    s, tz = run.s, run.case.borrower.timezone
    lines = []
    if s.desk is not None:
        lease, profile = s.desk.lease, s.desk.profile
        if lease is not None and lease.agent is not None:
            until = f" until {clock.local(lease.until, tz):%Y-%m-%d %H:%M}" if lease.until else ""
            lines.append(f"**Assigned** {lease.team} · {lease.agent}{until}")
        elif lease is not None:
            lines.append(f"**Assigned** {lease.team} (the team's queue)")
        for task in s.desk.open_tasks():
            late = " · **late**" if task.escalated else ""
            owner = f" ({task.owner})" if task.owner else ""
            lines.append(f"**Task** {task.kind.value.replace('_', ' ')}{owner} due "
                         f"{clock.local(task.due_at, tz):%Y-%m-%d %H:%M}{late}: {task.summary} (`{task.task_id}`)")
        if profile.reasons or profile.right_party_contacts:
            reason = profile.reason.value.replace("_", " ") if profile.reason else "not told"
            lines.append(f"**Profile** reason: {reason} · right-party contacts {profile.right_party_contacts}"
                         f" · refusals {profile.refusals}")
    chosen = script(run) if s.config else None
    if chosen is not None:
        lines.append(f"**Script** `{chosen.script_id}` ({chosen.why}): {chosen.text}")
    return lines
