"""The read-only unit of work: no session, no connection, no round trip until a query.

``Database.unit_of_work(..., read_only=True)`` returns a ``LazyReadUnitOfWork``. A route
that answers from a cache (``GET /api/v1/users/me`` once warm) opens and closes one for
nothing: its session is made when ``uow.session`` is first read, and it takes a
connection at its first statement. On PostgreSQL that statement's transaction begins by
setting the tenant (``_scope_read_transaction``): BEGIN, the tenant, the query, ROLLBACK.
On a SQLite file it runs on the read pool, without BEGIN (``Database``). Measured by
benchmarks/http.py.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from chainflow.core.tenancy import TenantContext
from chainflow.storage.relational.unit_of_work import (
    _SET_BYPASS,
    _SET_TENANT,
    SYSTEM_INFO_KEY,
    TENANT_INFO_KEY,
    AfterCommit,
    TimestampingSession,
    UnitOfWork,
    WriteSession,
)


class LazyReadSession(TimestampingSession):
    """The session of a read-only unit of work: its transaction begins at the first query."""


@event.listens_for(LazyReadSession, "after_begin")
def _scope_read_transaction(session: Any, _transaction: Any, connection: Any) -> None:
    # PostgreSQL's RLS reads the tenant from a transaction-local setting, set here as the
    # transaction begins (a write unit of work sets it when it opens).
    if connection.dialect.name != "postgresql":
        return
    tenant: TenantContext | None = session.info.get(TENANT_INFO_KEY)
    if tenant is not None:
        connection.execute(_SET_TENANT, {"tenant_id": tenant.tenant_id})
    if session.info.get(SYSTEM_INFO_KEY):
        connection.execute(_SET_BYPASS)


class LazyReadUnitOfWork(UnitOfWork):
    """A read-only unit of work whose session exists only once something reads it."""

    _open = False

    @property
    def session(self) -> WriteSession:
        """Return the session, made now if this is the first use (inside the block only)."""
        if self._session is None and self._open:
            session = self._sessionmaker()
            session.info[TENANT_INFO_KEY] = self._tenant
            session.info[SYSTEM_INFO_KEY] = self._system
            self._session = session
        return super().session

    def after_commit(self, callback: AfterCommit) -> None:
        """Refuse: a read-only unit of work never commits."""
        raise RuntimeError("a read-only unit of work never commits; it takes no after_commit")

    async def __aenter__(self) -> LazyReadUnitOfWork:
        if self._used:
            raise RuntimeError(
                "a UnitOfWork is single use; open a new one with Database.unit_of_work()"
            )
        self._used = True
        self._open = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._open = False
        await super().__aexit__(exc_type, exc, traceback)

    async def _begin(self, session: AsyncSession) -> None:
        return None
