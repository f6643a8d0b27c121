"""Validation errors, said so that an operator or a backend developer can act on them."""

from __future__ import annotations

from pydantic import ValidationError


def explain(error: ValidationError) -> str:
    """`loan.outstanding_balance: Input should be greater than 0; borrower.timezone: ...`"""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in error.errors()
    )
