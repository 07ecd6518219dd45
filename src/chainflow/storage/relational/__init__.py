"""Relational storage: engine, unit of work, declarative base, repositories, RLS, migrations.

SQLite (aiosqlite) by default, PostgreSQL (asyncpg) with row-level security at scale.
"""

from chainflow.storage.relational.base import (
    Base,
    IdMixin,
    TenantOwned,
    TimestampMixin,
    is_tenant_owned,
    tenant_tables,
)
from chainflow.storage.relational.column_types import UTCDateTime
from chainflow.storage.relational.database import Database
from chainflow.storage.relational.lean_read import LeanRead, ReadStatement
from chainflow.storage.relational.migrate import current_revision, head_revision, upgrade
from chainflow.storage.relational.repository import Page, Repository, TenantRepository
from chainflow.storage.relational.rls import (
    disable_tenant_rls,
    enable_tenant_rls,
    tables_without_tenant_rls,
)
from chainflow.storage.relational.unit_of_work import ReadSession, UnitOfWork, WriteSession

__all__ = [
    "Base",
    "Database",
    "IdMixin",
    "LeanRead",
    "Page",
    "ReadSession",
    "ReadStatement",
    "Repository",
    "TenantOwned",
    "TenantRepository",
    "TimestampMixin",
    "UTCDateTime",
    "UnitOfWork",
    "WriteSession",
    "current_revision",
    "disable_tenant_rls",
    "enable_tenant_rls",
    "head_revision",
    "is_tenant_owned",
    "tables_without_tenant_rls",
    "tenant_tables",
    "upgrade",
]
