"""Alembic migrations of the hotline's database (SQLite and PostgreSQL)."""
