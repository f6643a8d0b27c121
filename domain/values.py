"""Shared value types of the domain: money, time zones, aware datetimes, codes, and the strict base model."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from domain.money import known_currency, not_a_number

# An amount: a decimal string, at most as fine as any currency's minor units (3 places); each is taken to its
# own currency's minor units where the currency is known (`domain.money.in_minor_units`).
Money = Annotated[Decimal, BeforeValidator(not_a_number), Field(max_digits=17, decimal_places=3)]


PositiveMoney = Annotated[Decimal, BeforeValidator(not_a_number), Field(gt=0, max_digits=17, decimal_places=3)]


def _check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise ValueError(f"unknown IANA timezone {name!r}") from e
    return name


def _check_aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("must carry a timezone offset, e.g. 2026-12-01T10:00:00+08:00")
    return value


Timezone = Annotated[str, AfterValidator(_check_timezone)]


AwareDatetime = Annotated[datetime, AfterValidator(_check_aware)]


CountryCode = Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")]


CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217"), AfterValidator(known_currency)]


CASE_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)



# A staff member's id in the registry (agents, collectors, supervisors): an id, never a name.
# An e-mail address as lenders hold them: one @, a dotted domain, no spaces (deliverability is the relay's word).
EmailAddress = Annotated[str, Field(pattern=r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$", max_length=254)]
StaffId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="a staff id from the registry")]
