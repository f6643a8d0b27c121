"""Adapters: the real clients behind the activities (Postgres, channel providers, templates)."""
