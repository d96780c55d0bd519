"""Alembic migrations (run with `backhaul db upgrade`)."""
