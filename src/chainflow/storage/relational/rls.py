"""PostgreSQL row-level security for tenant-owned tables; no-ops on SQLite.

Each tenant table gets RLS enabled *and forced* (so the owning role is bound too) and one
policy, ``tenant_isolation``: a row is visible and writable only when its ``tenant_id``
equals the transaction's ``app.tenant_id``, or when ``app.rls_bypass`` is ``on`` (a
``system=True`` unit of work). The unit of work sets both transaction-locally.

Superusers and ``BYPASSRLS`` roles skip RLS whatever the table says: the application must
connect as an ordinary role (``Database.health()`` reports ``rls_enforced``).

In a migration::

    from chainflow.storage.relational.rls import enable_tenant_rls

    def upgrade() -> None:
        op.create_table("notes", ...)
        enable_tenant_rls(op, "notes")
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.engine import Connection

POLICY_NAME = "tenant_isolation"
TENANT_MATCHES = (
    "(tenant_id = current_setting('app.tenant_id', true) "
    "OR current_setting('app.rls_bypass', true) = 'on')"
)


class MigrationOperations(Protocol):
    """The part of Alembic's ``op`` these helpers use."""

    def get_bind(self) -> Connection: ...

    def execute(self, sqltext: str) -> object: ...


def enable_tenant_rls_statements(quoted_table: str) -> list[str]:
    """Return the DDL that turns tenant isolation on for ``quoted_table`` (idempotent)."""
    return [
        f"ALTER TABLE {quoted_table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {quoted_table} FORCE ROW LEVEL SECURITY",
        f"DROP POLICY IF EXISTS {POLICY_NAME} ON {quoted_table}",
        f"CREATE POLICY {POLICY_NAME} ON {quoted_table} "
        f"USING {TENANT_MATCHES} WITH CHECK {TENANT_MATCHES}",
    ]


def disable_tenant_rls_statements(quoted_table: str) -> list[str]:
    """Return the DDL that undoes ``enable_tenant_rls_statements`` (idempotent)."""
    return [
        f"DROP POLICY IF EXISTS {POLICY_NAME} ON {quoted_table}",
        f"ALTER TABLE {quoted_table} NO FORCE ROW LEVEL SECURITY",
        f"ALTER TABLE {quoted_table} DISABLE ROW LEVEL SECURITY",
    ]


def enable_tenant_rls(target: Connection | MigrationOperations, table_name: str) -> None:
    """Enable and force RLS with the ``tenant_isolation`` policy on ``table_name``.

    ``target`` is Alembic's ``op`` inside a migration or a sync ``Connection`` (from an
    async one: ``await connection.run_sync(enable_tenant_rls, "notes")``). No-op on SQLite.
    """
    _run(target, table_name, enable_tenant_rls_statements)


def disable_tenant_rls(target: Connection | MigrationOperations, table_name: str) -> None:
    """Drop the policy and disable RLS on ``table_name``. No-op on SQLite."""
    _run(target, table_name, disable_tenant_rls_statements)


def tables_without_tenant_rls(connection: Connection, table_names: Iterable[str]) -> list[str]:
    """Return which of ``table_names`` lack forced RLS or the ``tenant_isolation`` policy.

    On SQLite there is nothing to check and the result is empty.
    """
    names = sorted(set(table_names))
    if connection.dialect.name != "postgresql" or not names:
        return []
    protected = connection.execute(
        text(
            "SELECT c.relname FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_policies p ON p.schemaname = n.nspname AND p.tablename = c.relname "
            "WHERE n.nspname = current_schema() AND c.relrowsecurity "
            "AND c.relforcerowsecurity AND p.policyname = :policy"
        ),
        {"policy": POLICY_NAME},
    ).scalars()
    found = set(protected)
    return [name for name in names if name not in found]


def _run(
    target: Connection | MigrationOperations,
    table_name: str,
    statements: Callable[[str], list[str]],
) -> None:
    connection = target if isinstance(target, Connection) else target.get_bind()
    if connection.dialect.name != "postgresql":
        return
    quoted = connection.dialect.identifier_preparer.quote(table_name)
    for statement in statements(quoted):
        if isinstance(target, Connection):
            target.exec_driver_sql(statement)
        else:
            target.execute(statement)
