"""The case workflow `OverdueCase`, one module per stage (see `workflow.py` for the run loop)."""

from workflows.overdue_case import OverdueCase

__all__ = ["OverdueCase"]
