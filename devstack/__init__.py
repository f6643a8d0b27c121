"""The embedded stack: Temporal dev server, Postgres and the worker on one machine, no Docker."""
