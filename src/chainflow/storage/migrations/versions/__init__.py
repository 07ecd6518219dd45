"""Alembic revisions, oldest first; ``0001_initial`` is the root."""
