"""Whether a field visit is possible once remote contact has failed.

A visit is a last resort (the seed's 电话联系无果后, 安排外访): only on a treatment that allows it, once
per case, above the policy's minimum balance, to a complete verified address, and never where the
borrower has ceased all contact or visits, or asked for another way or place.
"""

from __future__ import annotations

from decimal import Decimal

from domain.enums import Channel


def visit_possible(*, treatment_allows: bool, already_visited: bool, balance: Decimal, min_balance: Decimal,
                   address_complete: bool, cease_all: bool, ceased_channels: list[str],
                   vulnerability_on_record: bool = False, borrower_declines: bool = False) -> bool:
    """`borrower_declines`: their home does not suit them, or they want to be contacted one way only."""
    return (treatment_allows and not already_visited and balance >= min_balance and address_complete
            and not cease_all and Channel.VISIT.value not in ceased_channels and not vulnerability_on_record
            and not borrower_declines)
