"""What a borrower may do on their own page: each action is one of the case's own messages (with its own
validator), wrapped so the case journals it with the channel `self_service`. The page can do nothing an
operator's update could not."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from domain.contacts import normalize
from domain.messages import (
    CeaseContact,
    ComplaintRequest,
    ContactInfoUpdate,
    ContactPreferences,
    DisputeRequest,
    HardshipReport,
    PromiseRequest,
)
from domain.relief import ReliefAcceptance
from domain.values import Model

SELF_SERVICE = "self_service"  # the channel every action from the page is journaled with

ActionKind = Literal["promise", "plan", "hardship", "accept_offer", "dispute", "complaint", "preferences",
                     "contact_data", "stop", "talk_to_person"]

# Which field of the request carries each kind's message.
PAYLOAD: dict[str, str] = {"promise": "promise", "plan": "hardship", "hardship": "hardship",
                           "accept_offer": "offer", "dispute": "dispute", "complaint": "complaint",
                           "preferences": "preferences", "contact_data": "contact_data", "stop": "stop"}


class SelfServiceRequest(Model):
    """One borrower action from the page: `kind` names it and exactly the matching message is given
    (none for `talk_to_person`). `session` is a short, opaque reference to the page's session, for the
    audit (never a token)."""

    kind: ActionKind
    session: str = Field(min_length=1, max_length=32)
    promise: PromiseRequest | None = None
    hardship: HardshipReport | None = None
    offer: ReliefAcceptance | None = None
    dispute: DisputeRequest | None = None
    complaint: ComplaintRequest | None = None
    preferences: ContactPreferences | None = None
    contact_data: ContactInfoUpdate | None = None
    stop: CeaseContact | None = None

    @model_validator(mode="after")
    def _one_message(self) -> SelfServiceRequest:
        given = {name for name in set(PAYLOAD.values()) if getattr(self, name) is not None}
        wanted = {PAYLOAD[self.kind]} if self.kind in PAYLOAD else set()
        if given != wanted:
            raise ValueError(f"a {self.kind} request carries {' '.join(sorted(wanted)) or 'no message'}")
        if self.kind == "plan" and (self.hardship is None or self.hardship.requested_instalments is None):
            raise ValueError("a plan names its number of instalments")
        if self.kind == "stop" and self.stop is not None and self.stop.scope.value == "number":
            raise ValueError("from the page a borrower stops a channel, or all contact")
        return self

    @property
    def message(self) -> object | None:
        return getattr(self, PAYLOAD[self.kind]) if self.kind in PAYLOAD else None


MAX_NUMBERS = 5  # ContactInfoUpdate.mobile_numbers' limit


def numbers_with(on_file: list[str], given: list[str], region: str) -> list[str]:
    """The numbers on file with those given on the page first: a number already there (however typed) is
    not added twice but kept as filed, and none on file is dropped (each keeps its consent); more than five
    is refused."""
    def same(number: str) -> str:
        return normalize(number, region) or number

    filed = {same(n): n for n in on_file}
    first = list(dict.fromkeys(filed.get(same(n), n) for n in given))
    merged = [*first, *(n for n in on_file if n not in first)]
    if len(merged) > MAX_NUMBERS:
        raise ValueError(f"{len(on_file)} numbers are on file already: call us to replace one")
    return merged
