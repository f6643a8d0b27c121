"""The case workflow `OverdueCase`: the run loop in `workflow.py`, one module per stage, the message
handlers in `messages.py` and `protections.py`, what people see in `presentation.py`."""

from workflows.case.workflow import OverdueCase

__all__ = ["OverdueCase"]
