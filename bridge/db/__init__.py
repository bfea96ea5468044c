"""Persistence: engine and sessions, relational workflow tables, Alembic migrations."""
