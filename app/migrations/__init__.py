"""Alembic environment and versioned migration scripts (run by `platform-migrate`)."""
