"""What the loan system sends to start a case: borrower, contacts, loan, profile."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import Field, field_validator, model_validator

from domain.money import in_minor_units, strict
from domain.state import CaseState, EarlyWarningCarry
from domain.values import (
    CASE_ID_PATTERN,
    CountryCode,
    CurrencyCode,
    EmailAddress,
    Model,
    Money,
    PositiveMoney,
    Timezone,
)


class Address(Model):
    """Where a field visit would go. Completeness is checked by verification, not here."""

    line1: str = ""
    line2: str = ""
    city: str = ""
    region: str = ""
    postal_code: str = ""
    country: CountryCode | None = None


class Borrower(Model):
    name: str = Field(min_length=1, max_length=200)
    mobile_numbers: list[str] = Field(default_factory=list, max_length=5)
    email: EmailAddress | None = Field(default=None, description="an address the borrower gave for the loan")
    address: Address = Field(default_factory=Address)
    timezone: Timezone
    country: CountryCode
    locale: str = Field(default="zh-CN", pattern=r"^[a-z]{2}(-[A-Z]{2})?$")
    robot_call_consent: list[str] = Field(
        default_factory=list, max_length=5,
        description="numbers (of mobile_numbers) with the borrower's recorded prior express consent to "
                    "prerecorded or artificial-voice calls, where a rule pack requires it (TCPA)")

    @model_validator(mode="after")
    def _consent_for_own_numbers(self) -> Borrower:
        unknown = [n for n in self.robot_call_consent if n not in self.mobile_numbers]
        if unknown:
            raise ValueError(f"robot_call_consent names {len(unknown)} number(s) not among mobile_numbers")
        return self


class EmergencyContact(Model):
    """Not a party to the loan: their data serves only to locate the borrower."""

    name: str = Field(min_length=1, max_length=200)
    relation: str = Field(min_length=1, max_length=50)
    phone: str = Field(min_length=1, max_length=40)


class Instalments(Model):
    """The loan's repayment schedule as the loan system knows it: what an arrears notice is judged on."""

    amount: PositiveMoney = Field(description="one instalment")
    interval_days: int = Field(ge=1, le=366, description="days between instalments (7: weekly, 30: monthly)")
    arrears: Money = Field(ge=0, description="the shortfall now: what is due and unpaid")


class Loan(Model):
    loan_id: str = Field(min_length=1, max_length=64)
    principal: PositiveMoney
    outstanding_balance: PositiveMoney
    currency: CurrencyCode
    due_date: date
    days_past_due: int = Field(ge=0, le=36500)
    annual_interest_rate: Decimal = Field(default=Decimal("0"), ge=0, le=1)
    daily_penalty_rate: Decimal = Field(default=Decimal("0"), ge=0, le=Decimal("0.01"))
    penalties_accrued: Money = Field(default=Decimal("0"), ge=0)
    instalments: Instalments | None = Field(default=None, description="for an arrears notice where a rule pack "
                                            "requires one; without it the borrower is taken to be in arrears")


class BorrowerProfile(Model):
    """The inputs of the assessment scorecard (`domain.scorecard`)."""

    monthly_income: Money = Field(ge=0)
    monthly_debt_payments: Money = Field(ge=0)
    on_time_payments: int = Field(default=0, ge=0)
    late_payments: int = Field(default=0, ge=0)
    missed_payments: int = Field(default=0, ge=0)
    broken_promises: int = Field(default=0, ge=0)


class CaseInput(Model):
    """What starts a case. `state` is set only by the workflow itself, on continue-as-new."""

    case_id: str
    borrower: Borrower
    emergency_contacts: list[EmergencyContact] = Field(default_factory=list, max_length=5)
    loan: Loan
    profile: BorrowerProfile
    policy: str = Field(default="standard", pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")
    extra_rule_packs: list[str] = Field(
        default_factory=list, description="stricter packs added to the country's own"
    )
    state: CaseState | None = None
    early_warning: EarlyWarningCarry | None = Field(
        default=None, description="set only by an early warning handing its loan over as it falls overdue")

    @field_validator("case_id")
    @classmethod
    def _case_id(cls, v: str) -> str:
        if not CASE_ID_PATTERN.match(v):
            raise ValueError("case_id: 1-64 of letters, digits, '_', '-', '.', starting alphanumeric")
        return v

    @model_validator(mode="after")
    def _balance(self) -> CaseInput:
        loan, profile, currency = self.loan, self.profile, self.loan.currency
        for owner, prefix, names in ((loan, "loan", ("principal", "outstanding_balance", "penalties_accrued")),
                                     (loan.instalments, "loan.instalments", ("amount", "arrears")),
                                     (profile, "profile", ("monthly_income", "monthly_debt_payments"))):
            for name in names if owner is not None else ():
                exact = in_minor_units(getattr(owner, name), currency, f"{prefix}.{name}", refuse=strict())
                setattr(owner, name, exact)
        if self.loan.outstanding_balance > self.loan.principal * 3:
            raise ValueError("loan.outstanding_balance is more than three times the principal")
        return self

    @property
    def workflow_id(self) -> str:
        return workflow_id_for(self.case_id)


def workflow_id_for(case_id: str) -> str:
    return f"case-{case_id}"



CaseInput.model_rebuild()
