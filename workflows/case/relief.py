"""Relief offers: made by an operator or by collectors at a visit, priced on today's books, approved by the
role the policy's matrix names, accepted by the borrower before they expire, and followed by durable
timers: an offer not accepted lapses, a settlement not paid lapses, a freeze or token payments come up for
review. Each step is a journal entry with its amounts (`relief_offered`, `relief_accepted`, `settlement`,
`written_off`, `relief_lapsed`, `relief_reviewed`). The decisions are `domain.relief`."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from temporalio import workflow

from workflows.case import hardship_plan, money
from workflows.case.core import CaseRun

with workflow.unsafe.imports_passed_through():
    from domain import clock
    from domain import relief as offers
    from domain.enums import ApprovalKind, HardshipReason, HoldKind, PlanStatus, ReliefStatus, Stage
    from domain.messages import ApprovalDecision, HardshipReport
    from domain.plans import token_instalments
    from domain.relief import ReliefAcceptance, ReliefOffer, ReliefRequest

CLOSED_TO_OFFERS = (Stage.WELLBEING_HOLD, Stage.RELATIONSHIP)


# --- making an offer -------------------------------------------------------------------------

def check_offer(run: CaseRun, request: ReliefRequest, validating: bool = True) -> None:
    """Refused with the reason, leaving history untouched: a closed case, an offer outside the policy's
    limits (no role may grant it), an amount finer than the currency."""
    run.reject_if_closed()
    if request.amount is not None:
        run.exact(request.amount, refuse=validating)
    if run.s.config is None:
        return  # checked again by the handler once the case is open
    books = run.s.books
    if books is None:
        raise ValueError("this case was opened before relief offers: its books are the loan system's")
    if run.s.stage in CLOSED_TO_OFFERS:
        raise ValueError(f"no relief is offered in stage {run.s.stage.value}")
    if request.kind in ("token_payment", "longer_term") and run.s.plan is not None \
            and run.s.plan.status in (PlanStatus.PENDING_APPROVAL, PlanStatus.ACTIVE):
        raise ValueError(f"an arrangement is already {run.s.plan.status.value}")
    if any(o.live and o.kind == request.kind for o in run.s.offers):
        raise ValueError(f"a {request.kind} offer is already open")
    today_books = money.shown(run)
    assert today_books is not None
    policy = run.config.policy.books.relief
    problem = offers.problem(request, today_books, policy)
    if problem:
        raise ValueError(problem)
    cost = _price(run, request)
    role, share = offers.approver(cost, today_books.balance, request, policy, books.currency)
    if role is None:
        raise ValueError(f"outside the policy's limits: no role may grant a {request.kind} costing {cost} "
                         f"{books.currency} ({share:.2%} of the balance)")


def _price(run: CaseRun, request: ReliefRequest) -> Decimal:
    books = money.shown(run)
    assert books is not None
    policy = run.config.policy
    return offers.price(request, books, policy.hardship, policy.books.freeze_during_plan, run.now,
                        run.case.borrower.timezone)


def offer(run: CaseRun, request: ReliefRequest) -> tuple[str, str]:
    """Price the offer on today's books; open to the borrower at once if within its offerer's role,
    else awaiting the approver's role."""
    run.recheck(lambda r: check_offer(run, r, validating=False), request)
    money.accrue(run)
    s, books, policy = run.s, run.s.books, run.config.policy.books.relief
    assert books is not None
    cost = _price(run, request)
    role, share = offers.approver(cost, books.balance, request, policy, books.currency)
    assert role is not None
    needs_approval = offers.rank(role) > offers.rank(request.role)
    made = ReliefOffer(
        offer_id=run.key("offer"), kind=request.kind, months=request.months, amount=request.amount,
        instalments=request.instalments, cost=cost, share=share, balance=books.balance, approver=role,
        credit_effect=run.config.rules.credit_effects.get(request.kind, "as the lender reports it"),
        offered_by=request.offered_by,
        status=ReliefStatus.PENDING_APPROVAL if needs_approval else ReliefStatus.OFFERED,
        made_at=run.now, expires_at=offers.expires(run.now, policy))
    s.offers.append(made)
    run.wake = True
    run.event("relief_offered", {
        "offer_id": made.offer_id, "kind": made.kind, "months": made.months,
        "amount": str(made.amount) if made.amount is not None else None, "instalments": made.instalments,
        "cost": str(cost), "share": str(share), "balance": str(books.balance), "currency": books.currency,
        "approver": role, "offered_by": request.offered_by, "role": request.role,
        "expires_at": made.expires_at.isoformat(), "credit_effect": made.credit_effect})
    if needs_approval:
        run.ask_approval(ApprovalKind.RELIEF, made.offer_id,
                         f"Relief ({role} to approve): {offers.describe(made, books.currency)}")
        return f"{made.kind} offer awaits a {role}'s approval", made.offer_id
    return f"{made.kind} offered until {made.expires_at:%Y-%m-%d %H:%M} UTC", made.offer_id


# --- approving and accepting -------------------------------------------------------------------

def find(run: CaseRun, offer_id: str) -> ReliefOffer | None:
    return next((o for o in run.s.offers if o.offer_id == offer_id), None)


def check_approval(run: CaseRun, decision: ApprovalDecision) -> None:
    """The approval matrix: only the role it names, or a higher one, may approve an offer."""
    made = find(run, decision.approval_id)
    if made is None or not decision.approve:
        return
    if offers.rank(decision.role) < offers.rank(made.approver):
        raise ValueError(f"a {made.approver} or above must approve this offer ({made.cost} "
                         f"{run.case.loan.currency}, {made.share:.2%} of the balance); "
                         f"{decision.role or 'no role'} given")


def decide(run: CaseRun, offer_id: str, approve: bool) -> None:
    """Approved, the borrower has the offer's whole time to accept it from now."""
    made = find(run, offer_id)
    assert made is not None
    made.status = ReliefStatus.OFFERED if approve else ReliefStatus.REJECTED
    if approve:
        made.expires_at = offers.expires(run.now, run.config.policy.books.relief)


def check_acceptance(run: CaseRun, acceptance: ReliefAcceptance) -> None:
    """Open, not expired, and the case still one it can apply to (the case may have moved since the offer)."""
    run.reject_if_closed()
    made = find(run, acceptance.offer_id)
    if made is None:
        raise ValueError(f"no offer {acceptance.offer_id!r} on this case")
    if made.status is ReliefStatus.OFFERED and run.now >= made.expires_at:
        raise ValueError(f"the offer expired at {made.expires_at.isoformat()}")
    if made.status is not ReliefStatus.OFFERED:
        raise ValueError(f"the offer is {made.status.value}, not open to acceptance")
    if run.s.stage in CLOSED_TO_OFFERS or run.s.balance <= 0:
        raise ValueError(f"the case is in stage {run.s.stage.value}: no relief applies now")
    if made.kind in ("token_payment", "longer_term") and run.s.plan is not None \
            and run.s.plan.status in (PlanStatus.PENDING_APPROVAL, PlanStatus.ACTIVE):
        raise ValueError(f"an arrangement is already {run.s.plan.status.value}")
    today = money.shown(run)
    assert today is not None
    request = ReliefRequest(kind=made.kind, months=made.months, amount=made.amount, instalments=made.instalments,
                            offered_by=made.offered_by)
    problem = offers.problem(request, today, run.config.policy.books.relief)
    if problem:  # paid since, the balance may no longer bear the offer
        raise ValueError(f"the offer no longer applies: {problem}")


def accept(run: CaseRun, acceptance: ReliefAcceptance) -> tuple[str, str]:
    run.recheck(lambda a: check_acceptance(run, a), acceptance)
    s, tz = run.s, run.case.borrower.timezone
    made = find(run, acceptance.offer_id)
    assert made is not None
    made.status, made.accepted_at, made.paid_at_start = ReliefStatus.ACCEPTED, run.now, s.total_paid
    assert s.books is not None
    made.credit_at_start = s.books.credit
    if made.months is not None:
        made.review_at = offers.review_at(run.now, made.months, tz)
    run.wake = True
    run.event("relief_accepted", {"offer_id": made.offer_id, "kind": made.kind, "by": acceptance.by,
                                  "review_at": made.review_at.isoformat() if made.review_at else None})
    match made.kind:
        case "settlement":  # contact rests while the borrower pays; paid in time, the rest is written off
            if run.s.flags.hold(HoldKind.PAUSE) is None:  # an operator's pause stands as it is
                run.start_hold(HoldKind.PAUSE, "settlement accepted: awaiting its payment", until=made.expires_at,
                               ref=made.offer_id)
            return f"settlement of {made.amount} accepted: payable by {made.expires_at:%Y-%m-%d}", made.offer_id
        case "penalty_waiver":  # what was priced and approved, no more
            money.waive_penalty(run, f"relief {made.offer_id}", made.cost)
            money.end_offer(run, made.offer_id, ReliefStatus.COMPLETED, "applied")
            return "penalty interest waived", made.offer_id
        case "interest_freeze":
            money.sync(run)
            return f"interest frozen until {made.review_at:%Y-%m-%d}", made.offer_id
        case "token_payment" | "longer_term":
            _arrangement(run, made)
            return f"{made.kind.replace('_', ' ')} arrangement active", made.offer_id
    raise AssertionError(made.kind)


def _arrangement(run: CaseRun, made: ReliefOffer) -> None:
    """Token payments or a longer term run as an arrangement to pay (the hardship plan's machinery)."""
    tz = run.case.borrower.timezone
    report = HardshipReport(reason=HardshipReason.OTHER, requested_instalments=made.instalments)
    token = None
    if made.kind == "token_payment":
        assert made.months is not None and made.amount is not None and made.review_at is not None
        token = (token_instalments(made.months, made.amount, run.now, tz, run.config.policy.hardship.grace),
                 made.review_at, made.credit_effect)
    hardship_plan.propose(run, report, approved=True, offer_id=made.offer_id, token=token)


# --- timers ----------------------------------------------------------------------------------

def due(run: CaseRun) -> datetime | None:
    """Lapse what expired, settle what was paid, review what reached its date; when to look again."""
    s = run.s
    wake: datetime | None = None
    for made in s.offers:
        if made.status in (ReliefStatus.PENDING_APPROVAL, ReliefStatus.OFFERED) and run.now >= made.expires_at:
            if made.status is ReliefStatus.PENDING_APPROVAL:
                s.approvals = [a for a in s.approvals if a.approval_id != made.offer_id]
            money.end_offer(run, made.offer_id, ReliefStatus.LAPSED, "not accepted before it expired")
        elif made.status is ReliefStatus.ACCEPTED and made.kind == "settlement":
            assert made.amount is not None
            if s.total_paid - made.paid_at_start >= made.amount:
                settle(run, made)
            elif run.now >= made.expires_at:
                money.end_offer(run, made.offer_id, ReliefStatus.LAPSED,
                                "the settlement was not paid before it expired")
        elif made.status is ReliefStatus.ACCEPTED and made.kind == "interest_freeze":
            assert made.review_at is not None
            if run.now >= made.review_at:
                money.end_offer(run, made.offer_id, ReliefStatus.REVIEWED, "its review date came")
        wake = clock.earliest(wake, _next(made))
    return wake


def _next(made: ReliefOffer) -> datetime | None:
    """When `due` must look at this offer again: an open offer's expiry, an accepted settlement's, an
    interest freeze's review. Token payments and a longer term are their plan's to end (`hardship_plan`)."""
    if made.status in (ReliefStatus.PENDING_APPROVAL, ReliefStatus.OFFERED):
        return made.expires_at
    if made.status is ReliefStatus.ACCEPTED and made.kind == "settlement":
        return made.expires_at
    if made.status is ReliefStatus.ACCEPTED and made.kind == "interest_freeze":
        return made.review_at
    return None


def settle(run: CaseRun, made: ReliefOffer) -> None:
    """A settlement paid: the rest is written off, and the case is paid in full (the relationship follows).
    Paid beyond the settlement's sum is a credit to refund, never absorbed into the write-off."""
    assert made.amount is not None
    books = run.s.books
    assert books is not None
    paid = run.s.total_paid - made.paid_at_start
    credited = books.credit - made.credit_at_start  # paid beyond the whole balance: a credit already
    beyond = max(paid - made.amount - credited, Decimal(0))
    written_off = money.write_off(run, f"settlement {made.offer_id}", refund=beyond)
    if beyond:
        run.event("overpayment", {"reference": made.offer_id, "amount": str(beyond),
                                  "action": "refund due to the borrower"})
    run.event("settlement", {"offer_id": made.offer_id, "paid": str(made.amount), "written_off": str(written_off),
                             "currency": run.case.loan.currency, "credit_effect": made.credit_effect})
    money.end_offer(run, made.offer_id, ReliefStatus.COMPLETED, "paid")
    hold = run.s.flags.hold(HoldKind.PAUSE)
    if hold is not None and hold.ref == made.offer_id:  # its own pause only, never an operator's
        run.end_hold(HoldKind.PAUSE, "settlement paid")


def paid_in_full(run: CaseRun) -> None:
    """The case is paid in full: an accepted settlement is settled (what was paid beyond it refunded), every
    other offer still live ends."""
    for made in run.s.offers:
        if made.status is ReliefStatus.ACCEPTED and made.kind == "settlement":
            settle(run, made)
        elif made.live:
            status = ReliefStatus.COMPLETED if made.status is ReliefStatus.ACCEPTED else ReliefStatus.LAPSED
            money.end_offer(run, made.offer_id, status, "paid in full")
