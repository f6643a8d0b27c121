"""What a contact's outcome says about whether the borrower can be reached.

Failures in a row count towards the rule packs' "unreachable" threshold (after which emergency
contacts may be asked to pass on a message); any interaction or a delivered message resets the count.
A third party's phone says nothing about the borrower's. A number the borrower asked us not to use
does not make them unreachable: asking their contacts instead would go around their request.
"""

from __future__ import annotations

from domain.enums import Outcome, Person


def failures_after(failures: int, person: Person | str, outcome: Outcome) -> int:
    """The borrower's consecutive failures after this outcome."""
    if person != Person.BORROWER:
        return failures
    if outcome.is_failure:
        return failures + 1
    if outcome.is_interaction or outcome is Outcome.DELIVERED:
        return 0
    return failures


def unreachable(*, verified_without_number: bool, failures: int, limit: int) -> bool:
    """No valid number of their own after verification, or `limit` failures in a row."""
    return verified_without_number or failures >= limit
