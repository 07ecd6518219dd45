"""The lean read: one connection, no ORM session, for reads of a few prepared statements.

``Database.lean_read(tenant)`` is a read-only unit of work for a hot read that runs one or
two fixed SELECTs and copies values out (``GET /api/v1/signals``). It takes a connection
from the read pool and runs each ``ReadStatement`` on the driver's own connection:
SQLAlchemy compiles the statement once per dialect and steps aside. Per read, the ORM
session's begin, rollback, expunge and close, the Core connection around the pool's, and
the execution context per statement were about half of the listing's CPU time
(benchmarks/http.py); the lean read keeps the pool checkout and the return.

Security is the unit of work's. On PostgreSQL each statement runs as one call of a
temporary function of the connection (``tenant_functions``) that makes its transaction
read-only, sets ``app.tenant_id`` (and ``app.rls_bypass`` for ``system=True``)
transaction-locally, as ``UnitOfWork`` does, and then runs the statement, so the same RLS
policies apply; the call is its own implicit transaction, so the settings end with it. One
round trip per statement, where BEGIN with the setting, the statement and ROLLBACK took
three. On a connection that cannot create the function (no ``TEMPORARY`` privilege) the
read is one ``BEGIN READ ONLY`` transaction that starts by setting the tenant and ends in a
ROLLBACK: BEGIN and the setting go in one script when the tenant id is made of characters
that cannot leave its literal, otherwise the id is a bound parameter. asyncpg prepares each
statement once per connection and reuses it (its statement cache). On SQLite (no RLS) the
statements run on the read pool as the read-only unit of work's do: no BEGIN, each SELECT a
snapshot of its own.

Lean reads hold at most ``pool_size`` connections at once; one more waits for a read to
end. Beyond ``pool_size`` the pool would open an overflow connection and close it on its
return, a PostgreSQL backend started and ended per read under load (benchmarks/http.py at
16 connections: about 20 a second, and the listing's p99 with them).

A statement that fails (or is cancelled) discards its connection instead of pooling it:
the lean read does not know what state the driver was left in, and a fresh connection is
cheap next to a wrong one. An exception of the caller's inside the block ends the read
as a clean exit does.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from sqlalchemy import Select
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.util import greenlet_spawn

from chainflow.core.tenancy import TenantContext
from chainflow.storage.relational.tenant_functions import function_call

_BEGIN_SQL = "BEGIN READ ONLY"
_SET_TENANT_SQL = "SELECT set_config('app.tenant_id', $1, true)"
_SET_BYPASS_SQL = "SELECT set_config('app.rls_bypass', 'on', true)"
# A tenant id made of these characters only is written into the BEGIN's script as a
# literal: BEGIN and the setting then cost one round trip instead of two. Nothing in it
# can end the literal (no quote, no backslash); any other id is bound as a parameter.
_LITERAL_SAFE_TENANT = re.compile(r"[A-Za-z0-9_.:-]{1,128}")


@dataclass(frozen=True, slots=True)
class _DriverStatement:
    """A statement as its driver takes it: SQL text and its parameters in order.

    ``fixed`` holds the values SQLAlchemy bound itself (SQLite's ``OFFSET 0`` after a
    ``LIMIT``); the caller passes the others by name.
    """

    sql: str
    parameter_names: tuple[str, ...]
    fixed: Mapping[str, Any]

    def arguments(self, parameters: Mapping[str, Any]) -> tuple[Any, ...]:
        fixed = self.fixed
        return tuple(
            fixed[name] if name in fixed else parameters[name] for name in self.parameter_names
        )


class ReadStatement:
    """A Core SELECT compiled once per dialect to the SQL its driver runs.

    Its parameters are passed to the driver as they are and its rows come back as the
    driver returns them, so the statement must need no type conversion on the way in or
    out (strings, numbers; a JSON column read as text on SQLite and decoded by asyncpg on
    PostgreSQL). Compiling refuses a parameter that needs one; what a column needs is the
    caller's to test (compare the rows with a unit of work's).
    """

    def __init__(self, statement: Select[Any]) -> None:
        self._statement = statement
        self._compiled: dict[str, _DriverStatement] = {}

    def for_dialect(self, dialect: Dialect) -> _DriverStatement:
        """Return the statement compiled for ``dialect`` (compiled at the first call)."""
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            compiled = _compile(self._statement, dialect)
            self._compiled[dialect.name] = compiled
        return compiled


def _compile(statement: Select[Any], dialect: Dialect) -> _DriverStatement:
    compiled = statement.compile(dialect=dialect)
    if compiled.positiontup is None:
        raise TypeError(f"dialect {dialect.name!r} does not take positional parameters")
    converted = [
        name
        for name, bind in compiled.binds.items()
        if bind.type._cached_bind_processor(dialect) is not None
    ]
    if converted:
        raise TypeError(
            f"a ReadStatement passes parameters without type conversion; "
            f"{', '.join(converted)} would need it on {dialect.name}"
        )
    fixed = {
        name: bind.value
        for name, bind in compiled.binds.items()
        if not bind.required and bind.callable is None and name in compiled.positiontup
    }
    return _DriverStatement(compiled.string, tuple(compiled.positiontup), fixed)


class LeanReadSlots:
    """At most ``size`` lean reads at once on one engine (a semaphore per event loop)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._loop: asyncio.AbstractEventLoop | None = None
        self._semaphore = asyncio.Semaphore(size)

    def semaphore(self) -> asyncio.Semaphore:
        """Return the running loop's semaphore (a loop's own: tests run one loop each)."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop = loop
            self._semaphore = asyncio.Semaphore(self._size)
        return self._semaphore


class LeanRead:
    """A read-only unit of work on one pooled connection; see the module doc.

    Single use: ``async with database.lean_read(tenant) as read: rows = await
    read.fetch(STATEMENT, {...})``.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        tenant: TenantContext | None,
        system: bool,
        slots: LeanReadSlots,
    ) -> None:
        self._engine = engine
        self._slots = slots
        self._slot: asyncio.Semaphore | None = None
        self._dialect = engine.dialect
        self._postgresql = engine.dialect.name == "postgresql"
        self._tenant = tenant
        self._system = system
        self._connection: PoolProxiedConnection | None = None
        self._driver: Any = None
        self._connection_info: MutableMapping[str, Any] = {}
        self._in_transaction = False
        self._used = False
        self._broken = False

    @property
    def tenant(self) -> TenantContext | None:
        """Return the tenant this read acts for, or ``None``."""
        return self._tenant

    async def fetch(
        self, statement: ReadStatement, parameters: Mapping[str, Any]
    ) -> Sequence[Sequence[Any]]:
        """Run ``statement`` with ``parameters``; return its rows as the driver gives them."""
        driver = self._driver
        if driver is None:
            raise RuntimeError(
                "LeanRead.fetch is available only inside `async with database.lean_read() "
                "as read:`; the read is not open"
            )
        compiled = statement.for_dialect(self._dialect)
        arguments = compiled.arguments(parameters)
        try:
            if self._postgresql:
                return await self._fetch_postgresql(driver, compiled.sql, arguments)
            cursor = await driver.execute(compiled.sql, arguments)
            try:
                return list(await cursor.fetchall())
            finally:
                await cursor.close()
        except BaseException:
            self._broken = True
            raise

    async def _fetch_postgresql(
        self, driver: Any, sql: str, arguments: tuple[Any, ...]
    ) -> Sequence[Sequence[Any]]:
        """Run ``sql`` as its function's call (one round trip), else in the transaction."""
        if not self._in_transaction:
            call = await function_call(driver, self._connection_info, sql)
            if call is not None:
                tenant_id = None if self._tenant is None else self._tenant.tenant_id
                called: Sequence[Sequence[Any]] = await driver.fetch(
                    call, *arguments, tenant_id, self._system
                )
                return called
            await self._begin_postgresql(driver)
        rows: Sequence[Sequence[Any]] = await driver.fetch(sql, *arguments)
        return rows

    async def __aenter__(self) -> LeanRead:
        if self._used:
            raise RuntimeError("a LeanRead is single use; open a new one with Database.lean_read()")
        self._used = True
        slot = self._slots.semaphore()
        await slot.acquire()
        self._slot = slot
        # The pool's connection itself, not an ``AsyncConnection`` around it: the Core
        # connection's begin/close bookkeeping cost more than the checkout.
        try:
            connection = await self._engine.raw_connection()
        except BaseException:
            self._release_slot()
            raise
        self._connection = connection
        self._driver = connection.driver_connection
        self._connection_info = connection.info
        if self._postgresql and self._driver.is_in_transaction():
            # A transaction left open by an earlier user would keep this read's settings
            # past its end; the pool never hands one out, so this connection is suspect.
            self._broken = True
            await self._release()
            raise RuntimeError("the pool handed out a PostgreSQL connection inside a transaction")
        return self

    async def _begin_postgresql(self, driver: Any) -> None:
        """BEGIN READ ONLY and set the tenant (and the bypass) for this transaction only."""
        tenant_id = None if self._tenant is None else self._tenant.tenant_id
        if tenant_id is None or _LITERAL_SAFE_TENANT.fullmatch(tenant_id):
            # One simple-protocol script, one round trip.
            script = [_BEGIN_SQL]
            if tenant_id is not None:
                script.append(f"SELECT set_config('app.tenant_id', '{tenant_id}', true)")
            if self._system:
                script.append(_SET_BYPASS_SQL)
            self._in_transaction = True
            await driver.execute("; ".join(script))
            return
        self._in_transaction = True
        await driver.execute(_BEGIN_SQL)
        await driver.execute(_SET_TENANT_SQL, tenant_id)
        if self._system:
            await driver.execute(_SET_BYPASS_SQL)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._connection is None:
            return
        if self._in_transaction and not self._broken:
            try:
                await self._driver.execute("ROLLBACK")
            except BaseException:
                self._broken = True
                await self._release()
                raise
        await self._release()

    async def _release(self) -> None:
        """Return the connection to the pool, or discard it if its state is unknown."""
        connection, self._connection, self._driver = self._connection, None, None
        if connection is None:
            return
        try:
            if self._broken:
                try:
                    await greenlet_spawn(connection.invalidate)
                finally:
                    await greenlet_spawn(connection.close)
                return
            await greenlet_spawn(connection.close)
        finally:
            self._release_slot()

    def _release_slot(self) -> None:
        slot, self._slot = self._slot, None
        if slot is not None:
            slot.release()
