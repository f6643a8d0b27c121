"""Bulk files (CSV or JSONL) are started by `service.bulk`, which `starter.py bulk` also uses (an entry
point imports no other entry point, so the code lives in the service layer); this name stays for
callers of the intake package."""

from service.bulk import BulkSummary, Rejects, start_bulk, total_rows

__all__ = ["BulkSummary", "Rejects", "start_bulk", "total_rows"]
