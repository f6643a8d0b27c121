"""Temporal workflows: the case (`workflows.case`), its complaints, the daily intake."""
