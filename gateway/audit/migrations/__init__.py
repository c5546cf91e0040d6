"""Alembic migrations of the audit store, shared by SQLite and PostgreSQL."""
