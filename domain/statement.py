"""A statement of the case's account, as a borrower or an operator reads it: what is owed today by
component, what accrued this statement period (monthly from the day the case opened), every payment and
how it was applied, every freeze and relief offer, in the loan's currency and the borrower's locale
(amounts formatted by CLDR's rules through Babel)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.numbers import format_currency
from pydantic import Field

from domain.balance import Freeze
from domain.books import AppliedPayment, Books, period_start, projected
from domain.relief import ReliefOffer
from domain.values import Model, Money

LABELS = {
    "en": {"principal": "Principal", "interest": "Interest", "penalty": "Penalty interest", "fees": "Fees",
           "total": "Total owed", "accrued": "Accrued since {start}", "paid": "Paid {on} ({reference})",
           "credit": "Overpaid, to be refunded", "written_off": "Written off", "waived": "Waived",
           "frozen": "Interest frozen ({reason}) from {start}"},
    "zh": {"principal": "本金", "interest": "利息", "penalty": "罚息", "fees": "费用", "total": "应还合计",
           "accrued": "{start} 起新增", "paid": "{on} 还款（{reference}）", "credit": "多付，待退还",
           "written_off": "已核销", "waived": "已减免", "frozen": "{start} 起停息（{reason}）"},
}


class Statement(Model):
    """As of a day: a workflow's query answers as of the case's last activity (its clock moves only when it
    works), so the service layer draws it again for today from `books` (`again`)."""

    case_id: str
    currency: str
    locale: str
    timezone: str
    opened_on: date
    as_of: date
    period_start: date
    principal: Money
    interest: Money
    penalty: Money
    fees: Money
    total: Money
    accrued_interest: Money  # this period
    accrued_penalty: Money
    capped: bool  # a pack's cap cut some accrual this period
    payments: list[AppliedPayment] = Field(default_factory=list)
    freezes: list[Freeze] = Field(default_factory=list)
    reliefs: list[ReliefOffer]
    waived: Money
    written_off: Money
    credit: Money  # overpaid: owed back to the borrower
    lines: list[str] = Field(default_factory=list)  # the same, in the borrower's language and number format
    books: Books  # as recorded (not projected): what a later day's statement is drawn from
    closed: bool = False  # the case is closed: its account stays as it ended


def build(case_id: str, recorded: Books, today: date, offers: list[ReliefOffer], locale: str, timezone: str,
          closed: bool = False) -> Statement:
    """The statement for `today`: the recorded books projected to it (a closed case's stay as they ended)."""
    books = recorded if closed else projected(recorded, today)
    start = period_start(books.opened_on, today)
    period = [a for a in books.accruals if a.start >= start]
    owed = books.owed
    statement = Statement(
        case_id=case_id, currency=books.currency, locale=locale, timezone=timezone, opened_on=books.opened_on,
        as_of=today, books=recorded,
        period_start=start,
        principal=owed.principal, interest=owed.interest, penalty=owed.penalty, fees=owed.fees, total=owed.total,
        accrued_interest=sum((a.interest for a in period), Decimal(0)),
        accrued_penalty=sum((a.penalty for a in period), Decimal(0)), capped=any(a.capped for a in period),
        payments=books.payments, freezes=books.freezes, reliefs=offers, waived=books.waived,
        written_off=books.written_off, credit=books.credit, closed=closed, lines=[])
    statement.lines = lines(statement, locale)
    return statement


def again(statement: Statement, today: date) -> Statement:
    """The same account drawn again from its books, for `today` where that is later (the service layer's today,
    where the query's was older); also what the ledger's copy leaves out (`SNAPSHOT_LEAVES_OUT`)."""
    return build(statement.case_id, statement.books, max(today, statement.as_of), statement.reliefs,
                 statement.locale, statement.timezone, statement.closed)


# What the ledger's copy of a status leaves out of its statement: drawn again from the books when read.
SNAPSHOT_LEAVES_OUT = {"lines", "payments", "freezes"}


@lru_cache(maxsize=64)
def _locale(tag: str) -> Locale:
    """Parsed once: parsing is most of the cost of formatting an amount (a case's status carries its
    statement, drawn at every ledger write). A language CLDR does not know reads English."""
    try:
        return Locale.parse(tag.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        return Locale.parse("en")


def lines(s: Statement, locale: str) -> list[str]:
    """The statement as text in the borrower's language ("zh-CN": Chinese, else English) and number format."""
    words = LABELS["zh" if locale.startswith("zh") else "en"]
    where = _locale(locale)

    def money(amount: Decimal) -> str:
        return format_currency(amount, s.currency, locale=where)

    out = [f"{words[c]}: {money(getattr(s, c))}" for c in ("principal", "interest", "penalty", "fees", "total")]
    out.append(f"{words['accrued'].format(start=s.period_start)}: {money(s.accrued_interest + s.accrued_penalty)}")
    for p in s.payments:
        applied = " · ".join(f"{words[c]} {money(getattr(p.allocation, c))}"
                             for c in ("fees", "penalty", "interest", "principal") if getattr(p.allocation, c))
        out.append(f"{words['paid'].format(on=p.on, reference=p.reference)}: {money(p.amount)}"
                   + (f" ({applied})" if applied else ""))
    out += [words["frozen"].format(reason=f.reason, start=f.start) + (f" – {f.end}" if f.end else "")
            for f in s.freezes]
    for key in ("waived", "written_off", "credit"):
        if getattr(s, key):
            out.append(f"{words[key]}: {money(getattr(s, key))}")
    return out
