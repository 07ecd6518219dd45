"""Alembic environment and revisions of the relational schema (run via ``storage.relational``)."""
