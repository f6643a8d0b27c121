"""When the statutory notices a pack requires fall due: pure decisions, for the workflow and the guard."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from domain.case_input import Instalments
from domain.policy import ArrearsNotice


def in_arrears(rule: ArrearsNotice, schedule: Instalments | None, paid: Decimal, balance: Decimal) -> bool:
    """The shortfall (less what the case has collected) reaches the pack's number of the last instalments,
    more of them when they fall weekly. Without the schedule an unpaid borrower is taken to be in arrears:
    an arrears notice sent when the law did not yet require it harms no one; one not sent is a breach."""
    if balance <= 0:
        return False
    if schedule is None:
        return True
    count = rule.weekly_instalments if schedule.interval_days <= 7 else rule.instalments
    return schedule.arrears - paid >= schedule.amount * count


def arrears_notice_due(rule: ArrearsNotice | None, schedule: Instalments | None, paid: Decimal, balance: Decimal,
                       last_posted: datetime | None, now: datetime) -> datetime | None:
    """When the next arrears notice is to be posted (`now` for the first: the case starts in arrears), while
    the arrears last; None when none is required."""
    if rule is None or not in_arrears(rule, schedule, paid, balance):
        return None
    return now if last_posted is None else last_posted + timedelta(days=rule.repeat_days)
