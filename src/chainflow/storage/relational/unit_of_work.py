"""The unit of work: one session, one transaction, side effects released after the commit.

The edge (a route, a WebSocket handler, a bus consumer, a job) opens it; services and
repositories use ``uow.session`` and never commit (STYLE.md section 1.4)::

    async with database.unit_of_work(tenant) as uow:
        note = await NoteRepository(uow.session, tenant).add(Note(text="hi"))
        uow.after_commit(lambda: bus.publish(note_created_topic(tenant), payload))

Clean exit commits, then runs the ``after_commit`` callbacks in registration order. An
exception rolls back, drops the callbacks and propagates.

Do not nest units of work: pass ``uow.session`` down instead. On SQLite a unit of work
takes the write lock when it begins (``BEGIN IMMEDIATE``), so an inner one would wait for
the outer one until the busy timeout expires.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, NewType

from sqlalchemy import event, inspect, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, UOWTransaction

from chainflow.core.clock import Clock
from chainflow.core.logging import get_logger
from chainflow.core.tenancy import TenantContext
from chainflow.storage.relational.base import TimestampMixin

log = get_logger("chainflow.storage.relational")

ReadSession = NewType("ReadSession", AsyncSession)
"""A session for reads only (a reporting query may run on a replica)."""
WriteSession = NewType("WriteSession", ReadSession)
"""A session inside a unit of work's write transaction; usable wherever a read one is."""

AfterCommit = Callable[[], Awaitable[object]]

CLOCK_INFO_KEY = "chainflow.clock"
TENANT_INFO_KEY = "chainflow.tenant"
SYSTEM_INFO_KEY = "chainflow.system"
SQLITE_BEGIN_OPTION = "chainflow_sqlite_begin"

_SET_TENANT = text("SELECT set_config('app.tenant_id', :tenant_id, true)")
_SET_BYPASS = text("SELECT set_config('app.rls_bypass', 'on', true)")


class TimestampingSession(Session):
    """The sync session behind every unit of work: stamps ``TimestampMixin`` columns."""


@event.listens_for(TimestampingSession, "before_flush")
def _stamp_timestamps(session: Session, _context: UOWTransaction, _instances: Any) -> None:
    clock: Clock | None = session.info.get(CLOCK_INFO_KEY)
    if clock is None:
        return
    now = clock.now()
    for instance in session.new:
        if isinstance(instance, TimestampMixin):
            if instance.created_at is None:
                instance.created_at = now
            if instance.updated_at is None:
                instance.updated_at = instance.created_at
    for instance in session.dirty:
        if not isinstance(instance, TimestampMixin) or not session.is_modified(instance):
            continue
        if not inspect(instance).attrs.updated_at.history.has_changes():
            instance.updated_at = now


class UnitOfWork:
    """One session and one transaction; commits on clean exit, rolls back on exception.

    Single use: open a new one with ``Database.unit_of_work()`` for the next transaction.
    On PostgreSQL the transaction starts by setting ``app.tenant_id`` (and
    ``app.rls_bypass`` for ``system=True``) transaction-locally, which the RLS policies
    read.
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        dialect: str,
        tenant: TenantContext | None,
        system: bool,
        read_only: bool = False,
    ) -> None:
        self._read_only = read_only
        self._sessionmaker = sessionmaker
        self._dialect = dialect
        self._tenant = tenant
        self._system = system
        self._session: AsyncSession | None = None
        self._used = False
        self._after_commit: list[AfterCommit] = []

    @property
    def tenant(self) -> TenantContext | None:
        """Return the tenant this unit of work acts for, or ``None``."""
        return self._tenant

    @property
    def is_system(self) -> bool:
        """Return whether this unit of work may see every tenant's rows."""
        return self._system

    @property
    def session(self) -> WriteSession:
        """Return the session of the open transaction."""
        if self._session is None:
            raise RuntimeError(
                "UnitOfWork.session is available only inside `async with "
                "database.unit_of_work() as uow:`; the unit of work is not open"
            )
        return WriteSession(ReadSession(self._session))

    def after_commit(self, callback: AfterCommit) -> None:
        """Run ``callback()`` (an async callable) after a successful commit; drop it on rollback.

        Use it to release side effects such as bus publishes. Callbacks run in
        registration order, after the session is closed. If some fail, the others still
        run, each failure is logged and the first is raised; the data stays committed.
        """
        if self._session is None:
            raise RuntimeError(
                "after_commit needs an open unit of work; register callbacks inside "
                "`async with database.unit_of_work() as uow:`"
            )
        if self._read_only:
            raise RuntimeError("a read-only unit of work never commits; it takes no after_commit")
        self._after_commit.append(callback)

    async def __aenter__(self) -> UnitOfWork:
        if self._used:
            raise RuntimeError(
                "a UnitOfWork is single use; open a new one with Database.unit_of_work()"
            )
        self._used = True
        session = self._sessionmaker()
        session.info[TENANT_INFO_KEY] = self._tenant
        session.info[SYSTEM_INFO_KEY] = self._system
        self._session = session
        try:
            await self._begin(session)
        except BaseException:
            self._session = None
            await session.close()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        session = self._session
        if session is None:
            return
        callbacks, self._after_commit = self._after_commit, []
        try:
            if exc_type is None and not self._read_only:
                await session.commit()
            else:
                if self._read_only:
                    # Keep what was read usable after the block: a rollback expires the
                    # rows still in the session, detached rows keep their loaded values.
                    session.expunge_all()
                await session.rollback()
        finally:
            self._session = None
            await session.close()
        if exc_type is None and callbacks:
            await _run_after_commit(callbacks)

    async def _begin(self, session: AsyncSession) -> None:
        if self._dialect == "sqlite":
            mode = "DEFERRED" if self._read_only else "IMMEDIATE"
            await session.connection(execution_options={SQLITE_BEGIN_OPTION: mode})
            return
        if self._tenant is not None:
            await session.execute(_SET_TENANT, {"tenant_id": self._tenant.tenant_id})
        if self._system:
            await session.execute(_SET_BYPASS)


async def _run_after_commit(callbacks: list[AfterCommit]) -> None:
    first_failure: BaseException | None = None
    for callback in callbacks:
        try:
            await callback()
        except Exception as e:
            log.error(
                "after_commit_callback_failed",
                callback=getattr(callback, "__qualname__", repr(callback)),
                error=f"{type(e).__name__}: {e}",
            )
            first_failure = first_failure or e
    if first_failure is not None:
        raise first_failure
