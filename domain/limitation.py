"""When a debt is time-barred: the limitation period of the case's packs, counted from the first
missed due date (China: instalments run from their due date, Civil Code art. 189; England and Wales:
6 years for a simple contract, Limitation Act 1980 s.5). A payment or an acknowledgement can restart
the clock; this engine does not decide that (a person records it with the evidence), so an automatic
verdict here only ever makes the case stricter."""

from __future__ import annotations

from datetime import date


def time_barred(first_missed: date, today: date, years: int | None) -> bool:
    if years is None:
        return False
    try:
        ends = first_missed.replace(year=first_missed.year + years)
    except ValueError:  # 29 February: the period ends on 1 March
        ends = date(first_missed.year + years, 3, 1)
    return today >= ends
