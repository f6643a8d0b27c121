"""When the statutory notices a pack requires fall due: pure decisions, for the workflow and the checker.

The arrears notice (CCA 1974 s.86B) is owed once the shortfall reaches the pack's number of the last
instalments. The shortfall is what the loan system sent at the case's start, one more instalment for every
interval since (none is paid unless the case collects it), less what the case collected, never more than
the balance."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_CEILING, Decimal

from domain.case_input import Instalments
from domain.policy import ArrearsNotice


def threshold(rule: ArrearsNotice, schedule: Instalments) -> Decimal:
    count = rule.weekly_instalments if schedule.interval_days <= 7 else rule.instalments
    return schedule.amount * count


def shortfall(schedule: Instalments, opened_at: datetime, now: datetime, paid: Decimal, balance: Decimal) -> Decimal:
    """What is due and unpaid at `now`."""
    grown = schedule.arrears + schedule.amount * ((now - opened_at).days // schedule.interval_days)
    return max(Decimal(0), min(balance, grown - paid))


def arrears_arise_at(rule: ArrearsNotice, schedule: Instalments | None, opened_at: datetime, paid: Decimal,
                     balance: Decimal) -> datetime | None:
    """When the shortfall reaches the threshold (the case's start if it already had), given what was paid;
    None if it never can. Without a schedule an unpaid borrower is in arrears from the start: an arrears
    notice sent when the law did not yet require it harms no one; one not sent is a breach."""
    if balance <= 0:
        return None
    if schedule is None:
        return opened_at
    needed = threshold(rule, schedule)
    if balance < needed:
        return None  # what is left to pay is below the threshold: never in arrears as s.86B counts them
    missing = needed - (schedule.arrears - paid)
    intervals = 0 if missing <= 0 else (missing / schedule.amount).to_integral_value(ROUND_CEILING)  # still to fall due
    return opened_at + timedelta(days=int(intervals) * schedule.interval_days)


def arrears_notice_due(rule: ArrearsNotice | None, schedule: Instalments | None, opened_at: datetime,
                       paid: Decimal, balance: Decimal, last_posted: datetime | None,
                       arose: datetime | None = None) -> datetime | None:
    """When the next arrears notice is to be posted: the first once the arrears arose (`arose`, when they
    first did: owed from then, whatever is paid later, s.86B(1)), then every `repeat_days` while they last;
    None when none is required."""
    if rule is None:
        return None
    arises = arrears_arise_at(rule, schedule, opened_at, paid, balance)
    if last_posted is None:
        return arose if arose is not None else arises
    return None if arises is None else max(arises, last_posted + timedelta(days=rule.repeat_days))


def first_arrears(rule: ArrearsNotice, schedule: Instalments | None, opened_at: datetime,
                  record: list[tuple[datetime, Decimal, Decimal]], until: datetime) -> datetime | None:
    """When the arrears first arose, by `until`, as a case's record shows it: `record` is (when, paid so far,
    balance) in time order, the first at the opening. Arrears arise at the opening or on a due date."""
    if schedule is None:
        return opened_at if record and record[0][2] > 0 else None
    due, step = opened_at, timedelta(days=schedule.interval_days)
    while due <= until:
        _, paid, balance = next((r for r in reversed(record) if r[0] <= due), record[0])
        if balance > 0 and shortfall(schedule, opened_at, due, paid, balance) >= threshold(rule, schedule):
            return due
        due += step
    return None
